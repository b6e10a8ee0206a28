// The workflow in stages, rendered with listr2: the four stages of the demo, the audit's five
// steps under the last one, and a stage event (events.js) for every change of state.
import { Listr } from 'listr2';
import {
  assemblePrd, consolidateApiDocs, generateGlossaries, prepareBranch, prepareWorkspace, runAudit,
  runChecks, uploadPrd,
} from './stages.js';

export const STAGE_PREPARE = 'Prepare Workspace';
export const STAGE_GLOSSARY = 'Generate Glossaries';
export const STAGE_API_DOCS = 'Consolidate API Docs';
export const STAGE_AUDIT = 'AI-SECURITY-AUDIT (Claude Code/SDK)';
export const STAGES = [STAGE_PREPARE, STAGE_GLOSSARY, STAGE_API_DOCS, STAGE_AUDIT];
export const AUDIT_STEPS = ['Preparing branch', 'Implementing code', 'Running tests', 'Assembling PRD', 'Uploading PRD'];
// How many lines of a streaming review stay on screen under its step: the whole workflow then
// fits a 24-row terminal.
const STREAM_LINES_SHOWN = 6;
// A streamed line longer than this is shown in pieces rather than held back.
const STREAM_MAX_LINE = 160;

/** Knows every stage's state so that each change is reported once and none is left open. */
export class StageTracker {
  constructor(events) {
    this.events = events;
    this.stages = [];
    this.byName = new Map();
    this.failures = [];
  }

  declare(name, parent) {
    const s = { name, parent, state: 'pending' };
    this.stages.push(s);
    this.byName.set(name, s);
  }

  set(name, state, extra = {}) {
    const s = this.byName.get(name);
    s.state = state;
    if (state === 'failed') {
      s.reason = extra.reason;
      this.failures.push(s);
    }
    this.events.emit(name, state, { ...(s.parent ? { parent: s.parent } : {}), ...extra });
  }

  state(name) {
    return this.byName.get(name).state;
  }

  /** Ends the run's bookkeeping: running stages fail with `reason`, pending ones are skipped. */
  close(reason) {
    for (const s of [...this.stages].reverse()) {
      if (s.state === 'running') this.set(s.name, 'failed', { reason });
    }
    for (const s of this.stages) if (s.state === 'pending') this.set(s.name, 'skipped');
  }

  /** The stage or step that failed first (a step before the stage it belongs to), or null. */
  firstFailure() {
    return this.failures[0] ?? null;
  }
}

/** Splits streamed text into lines for the task output; `flush` emits what is left. */
export function lineSplitter(onLine) {
  let pending = '';
  return {
    push(chunk) {
      pending += chunk.replace(/\r\n?/g, '\n');
      let nl;
      while ((nl = pending.indexOf('\n')) >= 0) {
        onLine(pending.slice(0, nl));
        pending = pending.slice(nl + 1);
      }
      while (pending.length > STREAM_MAX_LINE) {
        onLine(pending.slice(0, STREAM_MAX_LINE));
        pending = pending.slice(STREAM_MAX_LINE);
      }
    },
    flush() {
      if (pending) onLine(pending);
      pending = '';
    },
  };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const firstLine = (err) => String(err?.message ?? err).split('\n')[0];

/**
 * A listr2 task for one stage or step: reports running, then done with the work's one-line
 * summary (also shown under the title) or failed with the error's message. A step that fails
 * fails its `parent` stage too.
 */
function stageTask(tracker, name, work, { pace, parent, rendererOptions, onDone } = {}) {
  return {
    title: name,
    rendererOptions: { persistentOutput: true, ...rendererOptions },
    task: async (ctx, task) => {
      tracker.set(name, 'running');
      let message;
      try {
        message = await work(ctx, task);
      } catch (err) {
        tracker.set(name, 'failed', { reason: firstLine(err) });
        if (parent) tracker.set(parent, 'failed', { reason: `${name}: ${firstLine(err)}` });
        throw err;
      }
      if (message) task.output = message;
      if (pace) await sleep(pace);
      tracker.set(name, 'done', message ? { message } : {});
      onDone?.(ctx);
    },
  };
}

/**
 * Builds the workflow for `ctx` (see cli.js). `renderer` is a listr2 renderer name; `pace` a
 * pause in ms after each step so that people can follow it (0 for none).
 */
export function buildWorkflow(ctx, { tracker, renderer, pace }) {
  for (const name of STAGES) {
    tracker.declare(name);
    if (name === STAGE_AUDIT) for (const step of AUDIT_STEPS) tracker.declare(step, STAGE_AUDIT);
  }

  // The audit streams: each line of the backend's output becomes the step's output as it comes.
  const audit = async (c, task) => {
    const lines = lineSplitter((line) => {
      if (line.trim()) task.output = line;
    });
    try {
      return await runAudit(c, (text) => lines.push(text), { lineDelayMs: pace ? Math.min(60, pace / 5) : 0 });
    } finally {
      lines.flush();
    }
  };
  const stepWork = [prepareBranch, audit, runChecks, assemblePrd, uploadPrd];
  const steps = AUDIT_STEPS.map((name, i) => stageTask(tracker, name, stepWork[i], {
    pace,
    parent: STAGE_AUDIT,
    rendererOptions: stepWork[i] === audit ? { outputBar: STREAM_LINES_SHOWN } : {},
    onDone: i === AUDIT_STEPS.length - 1
      ? (c) => tracker.set(STAGE_AUDIT, 'done', { message: `PRD sha256 ${c.prdSha256}` })
      : undefined,
  }));

  const tasks = [
    stageTask(tracker, STAGE_PREPARE, prepareWorkspace, { pace }),
    stageTask(tracker, STAGE_GLOSSARY, generateGlossaries, { pace }),
    stageTask(tracker, STAGE_API_DOCS, consolidateApiDocs, { pace }),
    {
      title: STAGE_AUDIT,
      task: (c, task) => {
        tracker.set(STAGE_AUDIT, 'running', { backend: c.backend.kind });
        return task.newListr(steps, { concurrent: false, exitOnError: true });
      },
    },
  ];

  const rendererOptions = renderer === 'default'
    ? { collapseSubtasks: false, formatOutput: 'truncate' }
    : {};
  return new Listr(tasks, {
    ctx,
    concurrent: false,
    exitOnError: true,
    renderer,
    rendererOptions,
    fallbackRenderer: 'simple',
  });
}
