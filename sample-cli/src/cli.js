// Command line of the demo: parses options, prints the header, chooses the audit backend, runs
// the workflow (workflow.js) and prints where everything went. Exit status 0 when every stage
// is done, 1 when one failed, 2 for a usage error.
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import boxen from 'boxen';
import chalk from 'chalk';
import ora from 'ora';
import { DEFAULT_MAX_TOKENS, DEFAULT_MODEL, DEFAULT_PROMPT, resolveBackend } from './claude.js';
import { severityCounts } from './audit.js';
import { openEventSink } from './events.js';
import { shown } from './paths.js';
import { StageTracker, buildWorkflow } from './workflow.js';

export const HEADER_TITLE = 'Root Workflow - Stage-wise demo';
// The bundle's root: the default workspace is the demo's own sources.
export const BUNDLE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// A pause after each step when a person is watching (a terminal); none in logs.
const DEFAULT_TTY_PACE_MS = 300;
const DEFAULT_TIMEOUT_S = 600;
const TTY_FALLBACK_COLUMNS = 80;
const TTY_FALLBACK_ROWS = 24;

const USAGE = `Usage: node sample-cli.js [run] [WORKSPACE] [options]

Runs the stage-wise workflow on WORKSPACE (default: the demo's own sources) and writes its
outputs (workspace.json, glossary.md, API.md, audit/, PRD.md) to the output directory.

Options:
  -w, --workspace DIR   workspace to work on (env SAMPLE_CLI_WORKSPACE)
  -o, --out DIR         output directory (env SAMPLE_CLI_OUT; default ./out)
  -p, --prompt TEXT     prompt for the audit (env CLAUDE_PROMPT)
      --backend NAME    auto | claude | sdk | offline (env SAMPLE_CLI_BACKEND; default auto:
                        claude (CLAUDE_BIN or PATH) with a key, else ANTHROPIC_API_KEY (SDK),
                        else offline)
      --model NAME      model for the SDK backend (env CLAUDE_MODEL; default ${DEFAULT_MODEL})
      --max-tokens N    answer cap for the SDK backend (default ${DEFAULT_MAX_TOKENS})
      --timeout SEC     limit for the audit and the upload (default ${DEFAULT_TIMEOUT_S})
      --pace MS         pause after each step (env SAMPLE_CLI_PACE; default ${DEFAULT_TTY_PACE_MS} on a
                        terminal, 0 otherwise)
      --renderer NAME   auto | default | simple | verbose (env SAMPLE_CLI_RENDERER)
      --upload-url URL  also PUT the PRD to this http(s) URL
  -h, --help            this text
      --version         the version

Environment: RUNWIRE_EVENTS_FD (stage events, one JSON line each), ANTHROPIC_API_KEY,
ANTHROPIC_BASE_URL.
`;

class UsageError extends Error {}

function intOption(value, name, min) {
  if (!/^\d+$/.test(String(value)) || Number(value) < min) throw new UsageError(`${name} wants an integer >= ${min}, got ${value}`);
  return Number(value);
}

/** Parses argv (without node and the script) and the environment into the run's options. */
export function parseOptions(argv, env = process.env, { isTTY = false } = {}) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      workspace: { type: 'string', short: 'w' },
      out: { type: 'string', short: 'o' },
      prompt: { type: 'string', short: 'p' },
      backend: { type: 'string' },
      model: { type: 'string' },
      'max-tokens': { type: 'string' },
      timeout: { type: 'string' },
      pace: { type: 'string' },
      renderer: { type: 'string' },
      'upload-url': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean' },
    },
  });
  const args = [...positionals];
  let command = 'run';
  if (args[0] === 'run' || args[0] === 'help') command = args.shift();
  if (values.help) command = 'help';
  if (values.version) command = 'version';
  if (args.length > 1) throw new UsageError(`unexpected arguments: ${args.slice(1).join(' ')}`);
  if (args.length && values.workspace) throw new UsageError('give the workspace once: as an argument or with --workspace');

  const backend = values.backend ?? env.SAMPLE_CLI_BACKEND ?? 'auto';
  if (!['auto', 'claude', 'sdk', 'offline'].includes(backend)) throw new UsageError(`unknown backend ${backend}`);
  let renderer = values.renderer ?? env.SAMPLE_CLI_RENDERER ?? 'auto';
  if (!['auto', 'default', 'simple', 'verbose'].includes(renderer)) throw new UsageError(`unknown renderer ${renderer}`);
  if (renderer === 'auto') renderer = isTTY && env.TERM !== 'dumb' ? 'default' : 'simple';
  const paceRaw = values.pace ?? env.SAMPLE_CLI_PACE;
  const pace = paceRaw !== undefined ? intOption(paceRaw, '--pace', 0) : renderer === 'default' ? DEFAULT_TTY_PACE_MS : 0;

  return {
    command,
    workspace: path.resolve(args[0] ?? values.workspace ?? env.SAMPLE_CLI_WORKSPACE ?? BUNDLE_ROOT),
    outDir: path.resolve(values.out ?? env.SAMPLE_CLI_OUT ?? 'out'),
    prompt: values.prompt ?? env.CLAUDE_PROMPT ?? DEFAULT_PROMPT,
    backend,
    model: values.model ?? env.CLAUDE_MODEL ?? DEFAULT_MODEL,
    maxTokens: intOption(values['max-tokens'] ?? DEFAULT_MAX_TOKENS, '--max-tokens', 1),
    timeoutMs: intOption(values.timeout ?? DEFAULT_TIMEOUT_S, '--timeout', 1) * 1000,
    pace,
    renderer,
    uploadUrl: values['upload-url'] ?? null,
  };
}

function workspaceName(dir) {
  try {
    const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8'));
    if (typeof pkg.name === 'string' && pkg.name) return pkg.name;
  } catch {
    // no package.json: the directory's name will do
  }
  return path.basename(dir);
}

function version() {
  return JSON.parse(readFileSync(path.join(BUNDLE_ROOT, 'package.json'), 'utf8')).version;
}

function summaryBox(ctx, tracker, elapsedMs) {
  const failed = tracker.firstFailure();
  const rows = [];
  const row = (k, v) => rows.push(`${chalk.dim(k.padEnd(10))} ${v}`);
  if (ctx.inventory) row('Workspace', `${ctx.name} (${ctx.inventory.files.length} files)`);
  if (ctx.glossary) row('Glossary', `${shown(path.join(ctx.outDir, 'glossary.md'))} (${ctx.glossary.length} identifiers)`);
  if (ctx.apiDocs) row('API docs', shown(path.join(ctx.outDir, 'API.md')));
  if (ctx.findings) {
    const c = severityCounts(ctx.findings);
    const counts = `${c.high} high, ${c.medium} medium, ${c.low} low`;
    row('Audit', `${ctx.backend.label}; static rules: ${c.high ? chalk.red(counts) : counts}`);
  }
  if (ctx.prdSha256) row('PRD', `${shown(ctx.prdPath)} sha256 ${ctx.prdSha256.slice(0, 16)}`);
  const seconds = (elapsedMs / 1000).toFixed(1);
  const head = failed
    ? chalk.red.bold(`Workflow failed at ${failed.name} after ${seconds}s`)
    : chalk.green.bold(`Workflow complete in ${seconds}s`);
  const body = [head, '', ...rows];
  if (failed?.reason) body.push('', chalk.red(failed.reason));
  return boxen(body.join('\n'), {
    padding: { left: 1, right: 1, top: 0, bottom: 0 },
    borderStyle: 'round',
    borderColor: failed ? 'red' : 'green',
  });
}

/** Runs the command line; resolves with the exit status. */
export async function main(argv = process.argv.slice(2), env = process.env) {
  const out = process.stdout;
  // A pty nobody has sized yet reports 0 columns; the renderers need a width to wrap at.
  if (out.isTTY && !out.columns) out.columns = TTY_FALLBACK_COLUMNS;
  if (out.isTTY && !out.rows) out.rows = TTY_FALLBACK_ROWS;
  let opts;
  try {
    opts = parseOptions(argv, env, { isTTY: Boolean(out.isTTY) });
  } catch (err) {
    process.stderr.write(`sample-cli: ${err.message}\n\n${USAGE}`);
    return 2;
  }
  if (opts.command === 'help') {
    out.write(USAGE);
    return 0;
  }
  if (opts.command === 'version') {
    out.write(`${version()}\n`);
    return 0;
  }
  if (!existsSync(opts.workspace) || !statSync(opts.workspace).isDirectory()) {
    process.stderr.write(`sample-cli: workspace ${opts.workspace} is not a directory\n`);
    return 2;
  }

  const started = Date.now();
  const events = openEventSink(env);
  const ctx = {
    opts,
    workspaceDir: opts.workspace,
    outDir: opts.outDir,
    name: workspaceName(opts.workspace),
    children: new Set(),
  };
  ctx.onChild = (child) => {
    ctx.children.add(child);
    child.on('close', () => ctx.children.delete(child));
  };

  out.write(`${boxen(chalk.bold(HEADER_TITLE), {
    padding: { left: 1, right: 1, top: 0, bottom: 0 },
    borderStyle: 'round',
    borderColor: 'cyan',
    width: 47,
  })}\n`);
  out.write(`${chalk.dim('workspace')} ${shown(opts.workspace)}  ${chalk.dim('out')} ${shown(opts.outDir)}\n\n`);

  // On a terminal a spinner runs while the backend is chosen; in logs only the result shows.
  const spinner = ora({ text: 'Choosing the audit backend', stream: out, isEnabled: opts.renderer === 'default' });
  if (opts.renderer === 'default') spinner.start();
  try {
    ctx.backend = resolveBackend(opts.backend, env);
  } catch (err) {
    spinner.stopAndPersist({ symbol: chalk.red('✖'), text: err.message });
    return 2;
  }
  const label = ctx.backend.kind === 'offline' ? chalk.yellow(`${ctx.backend.label} (OFFLINE)`) : chalk.green(ctx.backend.label);
  spinner.stopAndPersist({ symbol: chalk.green('✔'), text: `Audit backend: ${label} ${chalk.dim(`(${ctx.backend.why})`)}` });

  const tracker = new StageTracker(events);
  // Stopped from outside: the audit's child goes too, and viewers learn which stage was cut
  // short. On SIGINT listr2's own handler then ends the renderer and exits.
  const stopChildren = () => {
    for (const child of ctx.children) child.kill('SIGTERM');
  };
  const onTerm = () => {
    stopChildren();
    tracker.close('terminated by SIGTERM');
    process.exit(143);
  };
  const onInt = () => {
    stopChildren();
    tracker.close('interrupted by SIGINT');
    setImmediate(() => process.exit(130));
  };
  process.once('SIGTERM', onTerm);
  process.once('SIGINT', onInt);
  // The reader of our output went away (a closed pipe or pty): stop as SIGPIPE would, but
  // still tell the events reader which stage was cut short.
  const onOutputError = (err) => {
    stopChildren();
    tracker.close(`output closed: ${err.code ?? err.message}`);
    process.exit(141);
  };
  out.once('error', onOutputError);

  let failure = null;
  try {
    await buildWorkflow(ctx, { tracker, renderer: opts.renderer, pace: opts.pace }).run();
  } catch (err) {
    failure = err;
  } finally {
    process.removeListener('SIGTERM', onTerm);
    process.removeListener('SIGINT', onInt);
  }
  out.removeListener('error', onOutputError);
  out.on('error', () => process.exit(141));
  tracker.close(failure ? String(failure.message ?? failure).split('\n')[0] : 'not finished');
  if (failure && !tracker.firstFailure()) {
    // A failure outside any stage's work (the renderer, a bug): still say why.
    process.stderr.write(`sample-cli: ${failure.stack ?? failure}\n`);
  }
  out.write(`\n${summaryBox(ctx, tracker, Date.now() - started)}\n`);
  return failure ? 1 : 0;
}
