// The work of each stage, apart from how it is shown: every function takes the run's context,
// reads the workspace or earlier outputs, writes its own outputs under ctx.outDir, and returns
// a one-line summary. workflow.js puts them in order and reports them.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { apiDocsMarkdown, collectApiDocs } from './apidocs.js';
import { auditWorkspace, offlineReport, remediationPlan, severityCounts } from './audit.js';
import { runAnthropicSdk, runClaudeCli, workspaceDigest } from './claude.js';
import { buildGlossary, glossaryMarkdown } from './glossary.js';
import { shown } from './paths.js';
import { languageCounts, manifestDigest, scanWorkspace } from './workspace.js';

function writeOut(ctx, rel, content) {
  const abs = path.join(ctx.outDir, rel);
  mkdirSync(path.dirname(abs), { recursive: true });
  writeFileSync(abs, content);
  return abs;
}

function writeJson(ctx, rel, value) {
  return writeOut(ctx, rel, `${JSON.stringify(value, null, 2)}\n`);
}

/** "1 guide", "2 guides". */
export function count(n, noun) {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

function sha256(data) {
  return createHash('sha256').update(data).digest('hex');
}

function scan(ctx) {
  return scanWorkspace(ctx.workspaceDir, { exclude: [ctx.outDir] });
}

/** Prepare Workspace: inventory the files, create the output directory. */
export function prepareWorkspace(ctx) {
  mkdirSync(ctx.outDir, { recursive: true });
  ctx.inventory = scan(ctx);
  if (!ctx.inventory.files.length) throw new Error(`workspace ${ctx.workspaceDir} has no files`);
  ctx.digest = manifestDigest(ctx.inventory.files);
  const langs = languageCounts(ctx.inventory.files);
  writeJson(ctx, 'workspace.json', {
    name: ctx.name,
    digest: ctx.digest,
    truncated: ctx.inventory.truncated,
    files: ctx.inventory.files.map(({ path: p, size, sha256: h, lang }) => ({ path: p, size, sha256: h, lang })),
    skipped: ctx.inventory.skipped,
  });
  const bytes = ctx.inventory.files.reduce((n, f) => n + f.size, 0);
  return `${count(ctx.inventory.files.length, 'file')}, ${count(bytes, 'byte')}: ` + langs.map(([l, n]) => `${l} ${n}`).join(', ');
}

/** Generate Glossaries: identifiers defined in the workspace and their uses. */
export function generateGlossaries(ctx) {
  ctx.glossary = buildGlossary(ctx.inventory.files);
  writeJson(ctx, 'glossary.json', ctx.glossary);
  writeOut(ctx, 'glossary.md', glossaryMarkdown(ctx.glossary, { title: ctx.name }));
  const top = [...ctx.glossary].sort((a, b) => b.uses - a.uses || (a.name < b.name ? -1 : 1)).slice(0, 3);
  return count(ctx.glossary.length, 'identifier') + (top.length ? `; most used: ${top.map((e) => `${e.name} (${e.uses})`).join(', ')}` : '');
}

/** Consolidate API Docs: doc comments and guide headings into one document. */
export function consolidateApiDocs(ctx) {
  ctx.apiDocs = collectApiDocs(ctx.inventory.files);
  writeJson(ctx, 'api.json', ctx.apiDocs);
  writeOut(ctx, 'API.md', apiDocsMarkdown(ctx.apiDocs, { title: ctx.name }));
  const entries = ctx.apiDocs.modules.reduce((n, m) => n + m.entries.length, 0);
  return `${count(entries, 'documented definition')} in ${count(ctx.apiDocs.modules.length, 'file')}, ${count(ctx.apiDocs.guides.length, 'guide')}`;
}

/** Preparing branch: pin the audited tree (its manifest) and run the static rules on it. */
export function prepareBranch(ctx) {
  ctx.branch = `audit/${ctx.digest.slice(0, 12)}`;
  writeJson(ctx, 'audit/branch.json', {
    branch: ctx.branch,
    base: ctx.digest,
    files: ctx.inventory.files.map((f) => ({ path: f.path, sha256: f.sha256 })),
  });
  ctx.findings = auditWorkspace(ctx.inventory.files);
  writeJson(ctx, 'audit/findings.json', ctx.findings);
  const c = severityCounts(ctx.findings);
  return `branch ${ctx.branch} at ${ctx.inventory.files.length} files; static rules: ${c.high} high, ${c.medium} medium, ${c.low} low`;
}

/**
 * Implementing code: the audit itself, by the chosen backend; `onText` receives its output as
 * it streams. The full text lands in audit/report.md.
 */
export async function runAudit(ctx, onText, { lineDelayMs = 0 } = {}) {
  const { backend, opts } = ctx;
  let text;
  if (backend.kind === 'claude') {
    // The events descriptor is this program's to write: claude does not inherit it (node
    // spawns with only the stdio given) and is not told its number.
    const { RUNWIRE_EVENTS_FD: _eventsFd, ...env } = process.env;
    text = await runClaudeCli({
      bin: backend.bin, prompt: opts.prompt, cwd: ctx.workspaceDir, onText, timeoutMs: opts.timeoutMs,
      env, onSpawn: ctx.onChild,
    });
  } else if (backend.kind === 'sdk') {
    const context = workspaceDigest({ name: ctx.name, files: ctx.inventory.files, findings: ctx.findings });
    const answer = await runAnthropicSdk({
      prompt: opts.prompt, context, model: opts.model, maxTokens: opts.maxTokens, onText, timeoutMs: opts.timeoutMs,
    });
    ctx.sdkAnswer = { model: answer.model, usage: answer.usage, stopReason: answer.stopReason };
    text = answer.text;
  } else {
    const lines = offlineReport(ctx.findings, {
      workspace: ctx.name, fileCount: ctx.inventory.files.length, prompt: opts.prompt, why: backend.why,
    });
    for (const line of lines) {
      onText(`${line}\n`);
      if (lineDelayMs) await new Promise((r) => setTimeout(r, lineDelayMs));
    }
    text = `${lines.join('\n')}\n`;
  }
  if (!text.trim()) throw new Error(`${backend.label} returned no output`);
  ctx.auditText = text;
  writeOut(ctx, 'audit/report.md', `# Audit report (${backend.label})\n\n${text.trimEnd()}\n`);
  const c = severityCounts(ctx.findings);
  return backend.kind === 'offline'
    ? `offline audit: ${ctx.findings.length} findings (${c.high} high, ${c.medium} medium, ${c.low} low)`
    : `${backend.label}: ${text.split('\n').length} lines of review`;
}

/** Running tests: the workspace is as it was (plan mode changes nothing) and the outputs hold. */
export function runChecks(ctx) {
  const checks = [];
  const after = scan(ctx);
  const before = new Map(ctx.inventory.files.map((f) => [f.path, f.sha256]));
  const now = new Map(after.files.map((f) => [f.path, f.sha256]));
  const changed = [...new Set([...before.keys(), ...now.keys()])].filter((p) => before.get(p) !== now.get(p)).sort();
  if (changed.length) {
    throw new Error(`workspace changed during the audit: ${changed.slice(0, 5).join(', ')}${changed.length > 5 ? ', ...' : ''}`);
  }
  checks.push('workspace unchanged');

  const glossary = JSON.parse(readFileSync(path.join(ctx.outDir, 'glossary.json'), 'utf8'));
  if (glossary.length !== ctx.glossary.length) throw new Error('glossary.json does not match the glossary built');
  const missing = glossary.flatMap((e) => e.definedIn).map((d) => d.replace(/:\d+$/, '')).filter((p) => !now.has(p));
  if (missing.length) throw new Error(`glossary names files that are not in the workspace: ${missing[0]}`);
  checks.push('glossary consistent');

  const api = JSON.parse(readFileSync(path.join(ctx.outDir, 'api.json'), 'utf8'));
  if (api.modules.length !== ctx.apiDocs.modules.length) throw new Error('api.json does not match the API docs built');
  checks.push('API docs consistent');

  const findings = JSON.parse(readFileSync(path.join(ctx.outDir, 'audit/findings.json'), 'utf8'));
  if (findings.length !== ctx.findings.length) throw new Error('audit/findings.json does not match the findings');
  if (!readFileSync(path.join(ctx.outDir, 'audit/report.md'), 'utf8').trim()) throw new Error('audit/report.md is empty');
  checks.push('audit report written');
  ctx.checks = checks;
  return `${checks.length} checks passed: ${checks.join(', ')}`;
}

/** Assembling PRD: the product requirements for the fixes, from everything the run learnt. */
export function assemblePrd(ctx) {
  const c = severityCounts(ctx.findings);
  const plan = remediationPlan(ctx.findings);
  const entries = ctx.apiDocs.modules.reduce((n, m) => n + m.entries.length, 0);
  const top = [...ctx.glossary].sort((a, b) => b.uses - a.uses || (a.name < b.name ? -1 : 1)).slice(0, 10);
  const lines = [
    `# PRD: security hardening of ${ctx.name}`,
    '',
    `Workspace manifest ${ctx.digest.slice(0, 12)} (${ctx.inventory.files.length} files), branch \`${ctx.branch}\`.`,
    `Audit by: ${ctx.backend.label} (${ctx.backend.why}).`,
    '',
    '## Problem',
    '',
    ctx.findings.length
      ? `The static rules found ${ctx.findings.length} problems: ${c.high} high, ${c.medium} medium, ${c.low} low.`
      : 'The static rules found no problems.',
    '',
    '## Findings',
    '',
  ];
  if (ctx.findings.length) {
    lines.push('| severity | rule | where | what |', '| --- | --- | --- | --- |');
    for (const f of ctx.findings) lines.push(`| ${f.severity} | ${f.rule} | ${f.path}:${f.line} | ${f.message} |`);
  } else {
    lines.push('None.');
  }
  lines.push('', '## Requirements', '');
  if (plan.length) plan.forEach((p, i) => lines.push(`${i + 1}. ${p.fix} Where: ${p.where.join(', ')}.`));
  else lines.push('1. Keep the workspace free of findings: run this audit in CI.');
  lines.push(
    '', '## Acceptance', '',
    '- Re-running the audit on the changed workspace reports no high findings.',
    '- Every remaining finding has a reason recorded next to it (`audit:allow`).',
    '', `## Review (${ctx.backend.label})`, '', '```text', ctx.auditText.trimEnd(), '```',
    '', '## Workspace facts', '',
    `- Glossary: ${ctx.glossary.length} identifiers` + (top.length ? `; most used: ${top.map((e) => `\`${e.name}\``).join(', ')}` : ''),
    `- API docs: ${count(entries, 'documented definition')}, ${count(ctx.apiDocs.guides.length, 'guide')} (API.md)`,
    `- Checks: ${ctx.checks.join(', ')}`,
    '',
  );
  ctx.prd = lines.join('\n');
  ctx.prdPath = writeOut(ctx, 'PRD.md', ctx.prd);
  return `PRD.md: ${lines.length} lines, ${plan.length} requirements`;
}

/**
 * Uploading PRD: publish it under its content hash in the output directory and, with
 * --upload-url, PUT it there (any 2xx answer is success).
 */
export async function uploadPrd(ctx) {
  const digest = sha256(ctx.prd);
  ctx.prdSha256 = digest;
  writeOut(ctx, 'PRD.md.sha256', `${digest}  PRD.md\n`);
  ctx.published = writeOut(ctx, `published/PRD-${digest.slice(0, 12)}.md`, ctx.prd);
  if (!ctx.opts.uploadUrl) return `published ${shown(ctx.published)} (sha256 ${digest.slice(0, 12)})`;
  const url = new URL(ctx.opts.uploadUrl);
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error(`--upload-url must be http(s): ${url.protocol}`);
  const res = await fetch(url, {
    method: 'PUT',
    headers: { 'content-type': 'text/markdown; charset=utf-8', 'x-content-sha256': digest },
    body: ctx.prd,
    signal: AbortSignal.timeout(ctx.opts.timeoutMs),
  });
  if (!res.ok) throw new Error(`upload to ${url.origin} answered ${res.status} ${res.statusText}`);
  return `uploaded to ${url.origin}${url.pathname} (HTTP ${res.status}, sha256 ${digest.slice(0, 12)})`;
}
