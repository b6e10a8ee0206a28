// Offline security audit: static rules run over the workspace's files. It is the audit stage's
// answer when neither Claude Code nor the Anthropic API is at hand, and the baseline of findings
// that the other two are given as context. Findings come out in a stable order.
import path from 'node:path';

export const SEVERITIES = ['high', 'medium', 'low'];
// A line that carries this marker is not reported (for code that must name what it detects).
export const ALLOW_MARKER = 'audit:allow';

const CODE = new Set(['js', 'ts', 'py', 'c', 'cpp', 'go', 'rust', 'sh', 'make', 'docker', 'cmake']);
const SHELLISH = new Set(['sh', 'make', 'docker', 'json', 'yaml', 'js', 'ts', 'py', 'cmake']);

// Line rules: the pattern is tried on every line of every file whose language is in `langs`
// (all text files when `langs` is null). `secret` findings never print the matched value.
export const LINE_RULES = [
  { id: 'secret.aws-access-key', severity: 'high', secret: true, langs: null,
    re: /\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/, message: 'AWS access key id committed',
    fix: 'Revoke the AWS key in IAM, remove it from the tree and its history, load it from the environment.' },
  { id: 'secret.aws-secret-key', severity: 'high', secret: true, langs: null,
    re: /aws_?secret_?access_?key\s*["']?\s*[:=]\s*["']?[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+])/i,
    message: 'AWS secret access key committed',
    fix: 'Rotate the AWS secret access key and keep it in a secret manager, never in the tree.' },
  { id: 'secret.private-key', severity: 'high', secret: true, langs: null,
    re: /-----BEGIN (?:(?:RSA|EC|DSA|OPENSSH|ENCRYPTED|PGP) )?PRIVATE KEY(?: BLOCK)?-----/,
    message: 'private key block committed',
    fix: 'Treat the private key as compromised: replace it, remove the file, add the path to .gitignore.' },
  { id: 'secret.anthropic-key', severity: 'high', secret: true, langs: null,
    re: /\bsk-ant-[A-Za-z0-9_-]{20,}/, message: 'Anthropic API key committed',
    fix: 'Revoke the Anthropic key in the console and read ANTHROPIC_API_KEY from the environment.' },
  { id: 'secret.github-token', severity: 'high', secret: true, langs: null,
    re: /\b(?:ghp|gho|ghs|ghu|ghr)_[A-Za-z0-9]{36}\b/, message: 'GitHub token committed',
    fix: 'Revoke the GitHub token and use a short-lived token from the CI environment.' },
  { id: 'secret.slack-token', severity: 'high', secret: true, langs: null,
    re: /\bxox[abprs]-[A-Za-z0-9-]{10,}/, message: 'Slack token committed',
    fix: 'Revoke the Slack token and load it from the environment.' },
  { id: 'secret.password-literal', severity: 'medium', secret: true, langs: CODE,
    re: /\b(?:password|passwd|secret|api_?key|auth_?token)\s*["']?\s*[:=]\s*["'][^"'\s$]{8,}["']/i,
    message: 'credential-like literal in code',
    fix: 'Move credential literals out of the code into configuration read at run time.' },
  { id: 'code.eval', severity: 'high', langs: new Set(['js', 'ts', 'py']),
    re: /(?:^|[^\w.$])eval\s*\(/, message: 'eval of dynamic code',
    fix: 'Replace eval with a parser for the data actually expected (JSON.parse, a lookup table).' },
  { id: 'code.new-function', severity: 'medium', langs: new Set(['js', 'ts']),
    re: /\bnew\s+Function\s*\(/, message: 'new Function builds code from strings',
    fix: 'Replace new Function with ordinary functions chosen from a table.' },
  { id: 'code.exec-concat', severity: 'high', langs: new Set(['js', 'ts']),
    re: /\b(?:exec|execSync)\s*\(\s*(?:`[^`]*\$\{|["'][^"']*["']\s*\+|[A-Za-z_$][\w$.]*\s*\+)/,
    message: 'shell command built by string concatenation (command injection)',
    fix: 'Use execFile/spawn with an argument array instead of a shell command built from strings.' },
  { id: 'code.shell-true', severity: 'medium', langs: new Set(['js', 'ts', 'py']),
    re: /\bshell\s*[:=]\s*(?:true|True)\b/, message: 'subprocess run through a shell',
    fix: 'Run subprocesses without a shell and pass arguments as a list.' },
  { id: 'code.os-system', severity: 'high', langs: new Set(['py', 'c', 'cpp']),
    re: /(?:\bos\.system|(?:^|[^\w.])system|\bpopen)\s*\(/, message: 'command run through the shell',
    fix: 'Replace system / os.system with an exec-style call that takes an argument vector.' },
  { id: 'code.unsafe-deserialize', severity: 'medium', langs: new Set(['py']),
    re: /\bpickle\.loads?\s*\(|\byaml\.load\s*\((?![^)]*SafeLoader)/,
    message: 'unsafe deserialisation', fix: 'Use yaml.safe_load / json instead of pickle or yaml.load.' },
  { id: 'code.c-unbounded-copy', severity: 'medium', langs: new Set(['c', 'cpp']),
    re: /(?:^|[^\w.>])(?:gets|strcpy|strcat|sprintf|vsprintf)\s*\(/,
    message: 'unbounded string copy', fix: 'Use bounded copies (snprintf, strlcpy-style helpers) with a named cap.' },
  { id: 'net.tls-disabled', severity: 'high', langs: null,
    re: /rejectUnauthorized\s*:\s*false|NODE_TLS_REJECT_UNAUTHORIZED\s*=\s*["']?0|\bverify\s*=\s*False\b|CURLOPT_SSL_VERIFY(?:PEER|HOST)\s*,\s*0|\bcurl\b[^\n|]*\s(?:-k|--insecure)\b/,
    message: 'TLS certificate verification disabled',
    fix: 'Keep TLS verification on; trust a private CA through its bundle instead.' },
  { id: 'shell.rm-rf', severity: 'high', langs: SHELLISH,
    // A variable guarded with ${VAR:?} (the shell stops when it is empty) is accepted.
    re: /\brm\s+-(?:[a-zA-Z]*r[a-zA-Z]*f|[a-zA-Z]*f[a-zA-Z]*r)[a-zA-Z]*\s+(?:"?\$(?!\{\w+:\?)\{?\w|\/(?=[\s*"']|$)|~|\*)/,
    message: 'recursive forced delete of a variable or root path',
    fix: 'Guard recursive deletes: check the variable is set and inside the project (${VAR:?}), never /.' },
  { id: 'shell.curl-pipe-sh', severity: 'high', langs: SHELLISH,
    re: /\b(?:curl|wget)\b[^|\n]*\|\s*(?:sudo\s+)?(?:ba|z)?sh\b/,
    message: 'remote script piped into a shell',
    fix: 'Download, verify a checksum, then run; or install from a package manager.' },
  { id: 'shell.chmod-777', severity: 'medium', langs: SHELLISH,
    re: /\bchmod\s+(?:-R\s+)?0?777\b/, message: 'world-writable permissions',
    fix: 'Grant the least permissions needed (0755 for programs, 0644 for data).' },
];

// File rules: about a file's presence or a manifest's content rather than one line.
export const FILE_RULES = {
  'file.dotenv': { severity: 'high', message: 'environment file committed',
    fix: 'Remove committed .env files, add them to .gitignore, commit an .env.example instead.' },
  'file.private-key-name': { severity: 'high', message: 'SSH private key file committed',
    fix: 'Remove the key file, replace the key, add it to .gitignore.' },
  'supply.missing-lockfile': { severity: 'medium', message: 'dependencies declared without a lockfile',
    fix: 'Commit a lockfile (npm install, then package-lock.json) and install with npm ci.' },
  'supply.install-script': { severity: 'medium', message: 'install-time script runs on npm install',
    fix: 'Drop install scripts or document them; install with --ignore-scripts where possible.' },
  'supply.unpinned-dependency': { severity: 'medium', message: 'dependency with no version range',
    fix: 'Pin every dependency to a semver range and commit the lockfile.' },
};

const LOCKFILES = ['package-lock.json', 'npm-shrinkwrap.json', 'yarn.lock', 'pnpm-lock.yaml', 'bun.lockb'];

function redact(value) {
  return `${value.slice(0, 4)}… (${value.length} chars, redacted)`;
}

function excerpt(line) {
  const t = line.trim();
  return t.length > 120 ? `${t.slice(0, 117)}...` : t;
}

function lineOf(text, needle) {
  const i = text.indexOf(needle);
  return i < 0 ? 1 : text.slice(0, i).split('\n').length;
}

function packageFindings(file, paths, add) {
  let pkg;
  try {
    pkg = JSON.parse(file.text);
  } catch {
    return;
  }
  if (pkg === null || typeof pkg !== 'object') return;
  const dir = path.posix.dirname(file.path);
  const deps = { ...(pkg.dependencies ?? {}), ...(pkg.devDependencies ?? {}), ...(pkg.optionalDependencies ?? {}) };
  const names = Object.keys(deps).sort();
  const hasLock = LOCKFILES.some((l) => paths.has(dir === '.' ? l : `${dir}/${l}`));
  if (names.length && !hasLock) {
    add('supply.missing-lockfile', file.path, 1, `${names.length} dependencies, no ${LOCKFILES[0]}`);
  }
  for (const hook of ['preinstall', 'install', 'postinstall']) {
    const cmd = pkg.scripts?.[hook];
    if (typeof cmd === 'string') add('supply.install-script', file.path, lineOf(file.text, `"${hook}"`), `${hook}: ${excerpt(cmd)}`);
  }
  for (const name of names) {
    const range = String(deps[name]).trim();
    if (range === '' || range === '*' || range === 'latest' || range === 'x') {
      add('supply.unpinned-dependency', file.path, lineOf(file.text, `"${name}"`), `${name}: "${range}"`);
    }
  }
}

/**
 * Runs every rule over the workspace inventory (see workspace.js) and returns the findings:
 * [{ rule, severity, path, line, message, evidence, fix }], sorted by severity, path, line, rule.
 */
export function auditWorkspace(files) {
  const findings = [];
  const paths = new Set(files.map((f) => f.path));
  const add = (rule, file, line, evidence, def = FILE_RULES[rule]) => {
    findings.push({ rule, severity: def.severity, path: file, line, message: def.message, evidence, fix: def.fix });
  };

  for (const f of files) {
    const base = path.posix.basename(f.path);
    if ((base === '.env' || base.startsWith('.env.')) && !/\.(example|sample|template|dist)$/.test(base)) {
      add('file.dotenv', f.path, 1, base);
    }
    if (/^id_(?:rsa|dsa|ecdsa|ed25519)$/.test(base)) add('file.private-key-name', f.path, 1, base);
    if (f.text == null) continue;
    if (base === 'package.json') packageFindings(f, paths, add);
    const lines = f.text.split('\n');
    lines.forEach((line, i) => {
      if (line.includes(ALLOW_MARKER)) return;
      for (const rule of LINE_RULES) {
        if (rule.langs && !rule.langs.has(f.lang)) continue;
        const m = rule.re.exec(line);
        if (m) add(rule.id, f.path, i + 1, rule.secret ? redact(m[0]) : excerpt(line), rule);
      }
    });
  }

  const rank = (s) => SEVERITIES.indexOf(s);
  const cmp = (a, b) => (a < b ? -1 : a > b ? 1 : 0);
  return findings.sort((a, b) => rank(a.severity) - rank(b.severity) || cmp(a.path, b.path) ||
    a.line - b.line || cmp(a.rule, b.rule));
}

/** Counts of findings per severity: { high, medium, low }. */
export function severityCounts(findings) {
  const counts = Object.fromEntries(SEVERITIES.map((s) => [s, 0]));
  for (const f of findings) counts[f.severity] += 1;
  return counts;
}

/** The remediation plan: one step per rule that fired, in the findings' order. */
export function remediationPlan(findings) {
  const seen = new Map();
  for (const f of findings) {
    if (!seen.has(f.rule)) seen.set(f.rule, { rule: f.rule, fix: f.fix, where: [] });
    seen.get(f.rule).where.push(`${f.path}:${f.line}`);
  }
  return [...seen.values()];
}

/** The offline audit report as text lines (what the stage streams and the PRD embeds). */
export function offlineReport(findings, { workspace, fileCount, prompt, why }) {
  const c = severityCounts(findings);
  const lines = [
    `OFFLINE AUDIT: static rules only, no AI model consulted (${why})`,
    `Workspace: ${workspace} (${fileCount} files)`,
    `Prompt: ${prompt}`,
    '',
  ];
  if (!findings.length) lines.push('No findings.');
  for (const f of findings) {
    lines.push(`[${f.severity.toUpperCase()}] ${f.rule} ${f.path}:${f.line} ${f.message}: ${f.evidence}`);
  }
  lines.push('', `Summary: ${c.high} high, ${c.medium} medium, ${c.low} low`);
  const plan = remediationPlan(findings);
  if (plan.length) {
    lines.push('', 'Plan:');
    plan.forEach((p, i) => lines.push(`${i + 1}. ${p.fix} (${p.where.length}x: ${p.where.slice(0, 3).join(', ')}${p.where.length > 3 ? ', ...' : ''})`));
  }
  return lines;
}
