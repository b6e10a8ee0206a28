'use strict';
// dockerfiles.js: what the issue asks of images/*/Dockerfile beyond dockerfilelint's rules:
// every base image pinned by digest (FROM image@sha256:<64 hex>, also through an ARG's
// default; a FROM that names an earlier stage is fine), and the final stage sets a USER that
// is not root (the pods also set runAsUser 10001). Usage: node dockerfiles.js Dockerfile...

const fs = require('fs');

function check(text) {
  const errors = [];
  // Join continuation lines, drop comments.
  const lines = text.replace(/\\\r?\n/g, ' ').split(/\r?\n/).map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const stages = [];
  let user = null;
  let sawFrom = false;
  const argDefaults = {};
  for (const l of lines) {
    const [instr, ...rest] = l.split(/\s+/);
    const INSTR = instr.toUpperCase();
    if (INSTR === 'ARG' && !sawFrom) {
      const m = rest.join(' ').match(/^(\w+)=("?)(.*)\2$/);
      if (m) argDefaults[m[1]] = m[3];
    } else if (INSTR === 'FROM') {
      sawFrom = true;
      const args = rest.filter((a) => !a.startsWith('--'));
      const image = (args[0] || '').replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a, b) => argDefaults[a || b] ?? '');
      const as = args[1] && args[1].toLowerCase() === 'as' ? args[2] : null;
      if (!stages.includes(image) && !/@sha256:[0-9a-f]{64}$/.test(image) && image !== 'scratch')
        errors.push(`FROM ${image}: base images must be pinned by digest (@sha256:...)`);
      if (as) stages.push(as);
      user = null; // USER does not carry across stages
    } else if (INSTR === 'USER') {
      user = rest[0] || '';
    }
  }
  if (!sawFrom) errors.push('no FROM');
  const uid = user && user.split(':')[0];
  if (!uid) errors.push('the final stage must set USER (non-root)');
  else if (uid === '0' || uid === 'root') errors.push(`USER ${user} is root`);
  return errors;
}

module.exports = { check };

if (require.main === module) {
  let bad = 0;
  for (const f of process.argv.slice(2)) {
    const errors = check(fs.readFileSync(f, 'utf8'));
    for (const e of errors) console.error(`deploy-check: ${f}: ${e}`);
    if (errors.length) bad++;
  }
  if (bad) process.exit(1);
  console.log(`deploy-check: ${process.argv.length - 2} Dockerfile(s): bases by digest, non-root USER`);
}
