// Consolidate API Docs stage: gathers the documentation a workspace already has (the comment
// above each definition, each file's opening comment, Markdown headings) into one API document.
import { findDefinitions } from './glossary.js';

// Which lines are comments depends on the language: '#' starts a C preprocessor line.
const SLASH_COMMENT = /^\s*(\/\/+|\/\*+|\*+\/?)/;
const HASH_COMMENT = /^\s*#(?!!)/;
const HASH_LANGS = new Set(['py', 'sh', 'make', 'cmake', 'yaml', 'toml', 'docker', 'env']);

function isComment(lang, line) {
  return line.trim() !== '' && (HASH_LANGS.has(lang) ? HASH_COMMENT : SLASH_COMMENT).test(line);
}

function stripComment(line) {
  return line
    .replace(/^\s*(\/\/+!?|#+|\/\*+!?|\*\/|\*+(?!\/))\s?/, '')
    .replace(/\s*\*+\/\s*$/, '')
    .trimEnd();
}

function tidy(lines) {
  const out = lines.map(stripComment);
  while (out.length && out[0].trim() === '') out.shift();
  while (out.length && out[out.length - 1].trim() === '') out.pop();
  return out.join('\n');
}

/** The comment block that ends right above line index `i` (0-based), or ''. */
function commentAbove(lang, lines, i) {
  let j = i - 1;
  const block = [];
  while (j >= 0 && isComment(lang, lines[j])) {
    block.unshift(lines[j]);
    j -= 1;
  }
  return tidy(block);
}

/** A Python docstring that opens on the line after `i`, or ''. */
function docstringBelow(lines, i) {
  const first = lines[i + 1]?.trim() ?? '';
  const m = /^("""|''')(.*)$/.exec(first);
  if (!m) return '';
  const quote = m[1];
  if (m[2].endsWith(quote)) return m[2].slice(0, -3).trim();
  const body = [m[2]];
  for (let j = i + 2; j < lines.length && j < i + 60; j++) {
    const end = lines[j].indexOf(quote);
    if (end >= 0) {
      body.push(lines[j].slice(0, end));
      break;
    }
    body.push(lines[j]);
  }
  return body.map((l) => l.trim()).join('\n').trim();
}

/** The file's opening comment (after a shebang), or ''. */
function fileSummary(lang, lines) {
  let i = lines[0]?.startsWith('#!') ? 1 : 0;
  const block = [];
  while (i < lines.length && isComment(lang, lines[i])) {
    block.push(lines[i]);
    i += 1;
  }
  return tidy(block);
}

function signatureOf(line) {
  return line.trim().replace(/\s*\{\s*$/, '').replace(/\s*:\s*$/, '');
}

/**
 * Collects the documentation of a workspace: { guides: [{ path, headings: [{ level, text }] }],
 * modules: [{ path, summary, entries: [{ name, kind, line, signature, doc }] }] }, in path order.
 * A definition is an entry when it has a comment (or a docstring); a file is a module when it
 * has an opening comment or an entry.
 */
export function collectApiDocs(files) {
  const guides = [];
  const modules = [];
  for (const f of files) {
    if (f.text == null) continue;
    const lines = f.text.split('\n');
    if (f.lang === 'md') {
      const headings = [];
      let fenced = false;
      for (const line of lines) {
        if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
        const m = !fenced && /^(#{1,6})\s+(.+?)\s*#*\s*$/.exec(line);
        if (m) headings.push({ level: m[1].length, text: m[2] });
      }
      if (headings.length) guides.push({ path: f.path, headings });
      continue;
    }
    const defs = findDefinitions(f);
    if (!defs.length && ['json', 'text', 'other', 'yaml', 'toml', 'env'].includes(f.lang)) continue;
    const entries = [];
    for (const d of defs) {
      const doc = commentAbove(f.lang, lines, d.line - 1) || docstringBelow(lines, d.line - 1);
      if (doc) entries.push({ ...d, signature: signatureOf(lines[d.line - 1]), doc });
    }
    const summary = fileSummary(f.lang, lines);
    if (summary || entries.length) modules.push({ path: f.path, summary, entries });
  }
  return { guides, modules };
}

/** The collected documentation as one Markdown document. */
export function apiDocsMarkdown(docs, { title }) {
  const out = [`# API: ${title}`, ''];
  const count = docs.modules.reduce((n, m) => n + m.entries.length, 0);
  const n = (k, noun) => `${k} ${noun}${k === 1 ? '' : 's'}`;
  out.push(`${n(count, 'documented definition')} in ${n(docs.modules.length, 'file')}; ` +
    `${n(docs.guides.length, 'guide')}.`, '');
  if (docs.guides.length) {
    out.push('## Guides', '');
    for (const g of docs.guides) {
      out.push(`### ${g.path}`, '');
      for (const h of g.headings) out.push(`${'  '.repeat(h.level - 1)}- ${h.text}`);
      out.push('');
    }
  }
  if (docs.modules.length) {
    out.push('## Reference', '');
    for (const m of docs.modules) {
      out.push(`### ${m.path}`, '');
      if (m.summary) out.push(m.summary, '');
      for (const e of m.entries) {
        out.push(`#### \`${e.signature}\``, '', `${e.kind}, line ${e.line}.`, '', e.doc, '');
      }
    }
  }
  return out.join('\n');
}
