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

/** True when the environment gives Claude a credential (an API key or an auth token). */
export function hasAnthropicKey(env = process.env) {
  return Boolean(env.ANTHROPIC_API_KEY || env.ANTHROPIC_AUTH_TOKEN);
}

/**
 * Chooses the backend: `choice` is 'auto', 'claude', 'sdk' or 'offline'. Claude Code is
 * `CLAUDE_BIN` or `claude` on the PATH, and runs only with a key (ANTHROPIC_API_KEY or
 * ANTHROPIC_AUTH_TOKEN): without one it could only ask for a login. Returns
 * { kind, label, why, bin? }; throws when a backend asked for by name is not available.
 */
export function resolveBackend(choice, env = process.env) {
  const wantsCli = choice === 'auto' || choice === 'claude';
  const bin = wantsCli ? (env.CLAUDE_BIN || findOnPath('claude', env.PATH)) : null;
  const key = hasAnthropicKey(env);
  if (bin && key) return { kind: 'claude', label: 'Claude Code CLI', why: `${bin} --permission-mode plan`, bin };
  if (choice === 'claude') {
    throw new Error(bin ? '--backend claude: no ANTHROPIC_API_KEY (or ANTHROPIC_AUTH_TOKEN) for it'
      : '--backend claude: no claude binary on PATH (or CLAUDE_BIN)');
  }
  if ((choice === 'auto' || choice === 'sdk') && env.ANTHROPIC_API_KEY) {
    const base = env.ANTHROPIC_BASE_URL || 'https://api.anthropic.com';
    return { kind: 'sdk', label: 'Anthropic SDK', why: `Messages API at ${base}` };
  }
  if (choice === 'sdk') throw new Error('--backend sdk: ANTHROPIC_API_KEY is not set');
  const why = choice === 'offline' ? 'offline backend chosen'
    : bin ? 'no ANTHROPIC_API_KEY configured for Claude Code' : 'no claude binary on PATH and no ANTHROPIC_API_KEY';
  return { kind: 'offline', label: 'offline audit', why };
}

/** The arguments of a plan-mode run whose answer streams as JSON lines (text as it arrives). */
export function claudeArgs(prompt) {
  return ['--permission-mode', 'plan', '-p', prompt,
    '--output-format', 'stream-json', '--verbose', '--include-partial-messages'];
}

/**
 * Turns one line of `claude --output-format stream-json` into what a person reads: the text of
 * each text_delta as it streams, a line per tool the model calls, and the error of a failed
 * result. Returns { text, error } (either may be empty). A line that is not JSON is text as it
 * is (an older CLI, or a wrapper that prints plain output).
 */
export function streamJsonLine(line) {
  let ev;
  try {
    ev = JSON.parse(line);
  } catch {
    return { text: `${line}\n`, error: '' };
  }
  const e = ev?.type === 'stream_event' ? ev.event : null;
  if (e?.type === 'content_block_delta' && e.delta?.type === 'text_delta') return { text: e.delta.text, error: '' };
  if (e?.type === 'content_block_start' && e.content_block?.type === 'tool_use') {
    return { text: `\n[${e.content_block.name}]\n`, error: '' };
  }
  if (e?.type === 'message_stop') return { text: '\n', error: '' };
  if (ev?.type === 'result' && ev.is_error) return { text: '', error: String(ev.result ?? ev.subtype ?? 'error') };
  return { text: '', error: '' };
}

/**
 * Runs `claude --permission-mode plan -p PROMPT` (stream-json, see claudeArgs) in `cwd`, passing
 * the answer's text to `onText` piece by piece as the model writes it (`onSpawn` is handed the
 * child, so that a signal can end it too). Resolves with the whole text; rejects when it exits
 * non-zero, reports an error result, is killed, or outlives `timeoutMs`.
 */
export function runClaudeCli({ bin, prompt, cwd, onText, timeoutMs, env = process.env, onSpawn }) {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, claudeArgs(prompt), {
      cwd, env, stdio: ['ignore', 'pipe', 'pipe'],
    });
    onSpawn?.(child);
    let out = '';
    let partial = '';
    let failure = '';
    let errTail = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
    }, timeoutMs);
    const take = (line) => {
      if (!line) return;
      const { text, error } = streamJsonLine(line);
      if (error) failure = error;
      if (text) {
        out += text;
        onText(text);
      }
    };
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop();
      for (const line of lines) take(line);
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
      take(partial);
      const last = (failure || errTail.trim().split('\n').pop()) ?? '';
      if (timedOut) reject(new Error(`claude did not finish within ${timeoutMs / 1000} s`));
      else if (code !== 0) reject(new Error(`claude exited with ${signal ?? `status ${code}`}${last ? `: ${last}` : ''}`));
      else if (failure) reject(new Error(`claude: ${failure}`));
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
