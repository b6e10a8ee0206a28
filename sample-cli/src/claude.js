// The audit's AI backends, in order of preference: the Claude Code CLI in plan mode (it reads
// the workspace itself, changes nothing), the Anthropic Messages API through the SDK (given a
// digest of the workspace), or none (the offline audit of audit.js).
import { spawn } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import path from 'node:path';
import { LINE_RULES } from './audit.js';

export const DEFAULT_MODEL = 'claude-sonnet-4-6';
export const DEFAULT_MAX_TOKENS = 2048;
export const DEFAULT_PROMPT =
  'Audit this workspace for security problems: committed secrets, dangerous calls (eval, shell ' +
  'commands built from strings, unguarded recursive deletes), supply-chain risks (missing ' +
  'lockfile, install scripts). List the findings by severity and propose a plan of fixes.';
// The digest sent to the API: enough to judge a small project, small enough to stay cheap.
export const SDK_CONTEXT_MAX_BYTES = 48 * 1024;
const SDK_CONTEXT_MAX_FILE_BYTES = 8 * 1024;
const STDERR_TAIL_BYTES = 2048;

/** The absolute path of an executable `name` on `pathEnv` (a PATH string), or null. */
export function findOnPath(name, pathEnv = process.env.PATH ?? '') {
  for (const dir of pathEnv.split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      if (!statSync(candidate).isFile()) continue;
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here; keep looking
    }
  }
  return null;
}

/**
 * Chooses the backend: `choice` is 'auto', 'claude', 'sdk' or 'offline'. Returns
 * { kind, label, why, bin? }; throws when a backend asked for by name is not available.
 */
export function resolveBackend(choice, env = process.env) {
  const bin = choice === 'auto' || choice === 'claude' ? findOnPath('claude', env.PATH) : null;
  const key = env.ANTHROPIC_API_KEY;
  if (bin) return { kind: 'claude', label: 'Claude Code CLI', why: `${bin} --permission-mode plan`, bin };
  if (choice === 'claude') throw new Error('--backend claude: no claude binary on PATH');
  if ((choice === 'auto' || choice === 'sdk') && key) {
    const base = env.ANTHROPIC_BASE_URL || 'https://api.anthropic.com';
    return { kind: 'sdk', label: 'Anthropic SDK', why: `Messages API at ${base}` };
  }
  if (choice === 'sdk') throw new Error('--backend sdk: ANTHROPIC_API_KEY is not set');
  const why = choice === 'offline' ? 'offline backend chosen' : 'no claude binary on PATH and no ANTHROPIC_API_KEY';
  return { kind: 'offline', label: 'offline audit', why };
}

/**
 * Runs `claude --permission-mode plan -p PROMPT` in `cwd`, passing each chunk of its output to
 * `onText` as it arrives (`onSpawn` is handed the child, so that a signal can end it too).
 * Resolves with the whole stdout; rejects when it exits non-zero, is killed, or outlives
 * `timeoutMs`.
 */
export function runClaudeCli({ bin, prompt, cwd, onText, timeoutMs, env = process.env, onSpawn }) {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, ['--permission-mode', 'plan', '-p', prompt], {
      cwd, env, stdio: ['ignore', 'pipe', 'pipe'],
    });
    onSpawn?.(child);
    let out = '';
    let errTail = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
    }, timeoutMs);
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      out += chunk;
      onText(chunk);
    });
    child.stderr.on('data', (chunk) => {
      errTail = (errTail + chunk).slice(-STDERR_TAIL_BYTES);
      onText(chunk);
    });
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot start ${bin}: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const last = errTail.trim().split('\n').pop() ?? '';
      if (timedOut) reject(new Error(`claude did not finish within ${timeoutMs / 1000} s`));
      else if (code !== 0) reject(new Error(`claude exited with ${signal ?? `status ${code}`}${last ? `: ${last}` : ''}`));
      else resolve(out);
    });
  });
}

/** `text` with every secret the audit rules know replaced, so that none leaves the machine. */
export function redactSecrets(text) {
  let out = text;
  for (const rule of LINE_RULES) {
    if (rule.secret) out = out.replace(new RegExp(rule.re.source, `${rule.re.flags}g`), '[REDACTED]');
  }
  return out;
}

/**
 * The workspace digest given to the API with the prompt: the file list, the static findings,
 * then file contents in path order (manifests and READMEs first) up to SDK_CONTEXT_MAX_BYTES.
 */
export function workspaceDigest({ name, files, findings }) {
  const parts = [`Workspace "${name}": ${files.length} files.`, '', 'Files:'];
  for (const f of files.slice(0, 300)) parts.push(`- ${f.path} (${f.size} bytes, ${f.lang})`);
  parts.push('', 'Static findings:');
  if (!findings.length) parts.push('- none');
  for (const f of findings.slice(0, 100)) parts.push(`- [${f.severity}] ${f.rule} ${f.path}:${f.line} ${f.message}`);
  let used = Buffer.byteLength(parts.join('\n'));
  const first = (f) => (/(^|\/)(package\.json|README\.md)$/.test(f.path) ? 0 : 1);
  const texts = files.filter((f) => f.text != null).sort((a, b) => first(a) - first(b));
  for (const f of texts) {
    const body = redactSecrets(f.text.slice(0, SDK_CONTEXT_MAX_FILE_BYTES));
    const block = `\n--- ${f.path}${f.text.length > body.length ? ' (truncated)' : ''}\n${body}`;
    if (used + Buffer.byteLength(block) > SDK_CONTEXT_MAX_BYTES) break;
    parts.push(block);
    used += Buffer.byteLength(block);
  }
  return parts.join('\n');
}

/** One line on what the API answered: "401 authentication_error: invalid x-api-key". */
export function apiErrorReason(err) {
  const detail = err?.error?.error;
  if (err?.status && detail?.type) return `${err.status} ${detail.type}: ${detail.message ?? ''}`.trim();
  if (err?.status) return `HTTP ${err.status}: ${err.message}`;
  return `Anthropic API: ${err?.message ?? err}`;
}

/**
 * Streams one answer from the Messages API (`ANTHROPIC_BASE_URL` honoured), passing text deltas
 * to `onText`. Resolves with { text, model, usage, stopReason }.
 */
export async function runAnthropicSdk({ prompt, context, model, maxTokens, onText, timeoutMs, env = process.env }) {
  const { default: Anthropic } = await import('@anthropic-ai/sdk');
  const client = new Anthropic({
    apiKey: env.ANTHROPIC_API_KEY,
    baseURL: env.ANTHROPIC_BASE_URL || undefined,
    maxRetries: 1,
    timeout: timeoutMs,
  });
  const stream = client.messages.stream({
    model,
    max_tokens: maxTokens,
    system: 'You are a security reviewer. Answer in plain text suited to a terminal: short lines, ' +
      'no tables. Base every finding on the workspace digest you are given.',
    messages: [{ role: 'user', content: `${prompt}\n\n${context}` }],
  });
  stream.on('text', (delta) => onText(delta));
  let message;
  try {
    message = await stream.finalMessage();
  } catch (err) {
    throw new Error(apiErrorReason(err));
  }
  const text = message.content.filter((b) => b.type === 'text').map((b) => b.text).join('');
  return { text, model: message.model, usage: message.usage, stopReason: message.stop_reason };
}
