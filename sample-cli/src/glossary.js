// Glossary stage: the identifiers a workspace defines (functions, classes, constants, types,
// macros), where each is defined and how often the rest of the code uses it.

const IDENT = /[A-Za-z_$][A-Za-z0-9_$]*/g;

// One line, one definition: [kind, pattern whose group 1 is the name], tried in order.
const DEFINITIONS = {
  js: [
    ['class', /^\s*(?:export\s+)?(?:default\s+)?class\s+([A-Za-z_$][\w$]*)/],
    ['function', /^\s*(?:export\s+)?(?:default\s+)?(?:async\s+)?function\s*\*?\s*([A-Za-z_$][\w$]*)/],
    ['function', /^\s*(?:export\s+)?(?:const|let|var)\s+([A-Za-z_$][\w$]*)\s*=\s*(?:async\s+)?(?:function\b|\([^)]*\)\s*=>|[A-Za-z_$][\w$]*\s*=>)/],
    ['constant', /^\s*(?:export\s+)?const\s+([A-Z][A-Z0-9_]+)\s*=/],
    ['variable', /^(?:export\s+)?(?:const|let|var)\s+([A-Za-z_$][\w$]*)\s*=/],
  ],
  ts: [
    ['interface', /^\s*(?:export\s+)?interface\s+([A-Za-z_$][\w$]*)/],
    ['type', /^\s*(?:export\s+)?type\s+([A-Za-z_$][\w$]*)\s*=/],
  ],
  c: [
    ['macro', /^\s*#\s*define\s+([A-Za-z_]\w*)/],
    ['struct', /^\s*(?:typedef\s+)?struct\s+([A-Za-z_]\w*)\s*\{/],
    ['enum', /^\s*(?:typedef\s+)?enum\s+([A-Za-z_]\w*)\s*\{/],
    ['type', /^\s*typedef\s+[^;(]*?\b([A-Za-z_]\w*)\s*;/],
    // A declaration or definition starts in column 0: type words, then the name and '('.
    ['function', /^(?!return\b|else\b|if\b|while\b|for\b|switch\b|case\b|goto\b)(?:[A-Za-z_]\w*[\s*]+)+\**([A-Za-z_]\w*)\s*\(/],
  ],
  py: [
    ['class', /^\s*class\s+([A-Za-z_]\w*)/],
    ['function', /^\s*(?:async\s+)?def\s+([A-Za-z_]\w*)/],
    ['constant', /^([A-Z][A-Z0-9_]+)\s*=/],
  ],
  sh: [
    ['function', /^\s*(?:function\s+)?([A-Za-z_][\w-]*)\s*\(\)\s*\{?/],
    ['variable', /^(?:export\s+|readonly\s+)?([A-Z][A-Z0-9_]+)=/],
  ],
  go: [
    ['function', /^func\s+(?:\([^)]*\)\s*)?([A-Za-z_]\w*)/],
    ['type', /^type\s+([A-Za-z_]\w*)/],
  ],
  rust: [
    ['function', /^\s*(?:pub(?:\([^)]*\))?\s+)?(?:async\s+)?fn\s+([A-Za-z_]\w*)/],
    ['type', /^\s*(?:pub(?:\([^)]*\))?\s+)?(?:struct|enum|trait|type)\s+([A-Za-z_]\w*)/],
  ],
};
DEFINITIONS.ts = [...DEFINITIONS.ts, ...DEFINITIONS.js];
DEFINITIONS.cpp = DEFINITIONS.c;

// Words that look like identifiers but are the languages' own.
const KEYWORDS = new Set(
  ('if else for while do switch case default break continue return function class const let var ' +
    'new this typeof instanceof void delete in of async await yield import export from static ' +
    'struct enum typedef union int char long short unsigned signed float double sizeof main ' +
    'def self None True False and or not pass lambda with as elif try except finally raise')
    .split(' '),
);

/** Definitions found in one source file: [{ name, kind, line }], in line order. */
export function findDefinitions(file) {
  const rules = DEFINITIONS[file.lang];
  if (!rules || file.text == null) return [];
  const out = [];
  const lines = file.text.split('\n');
  let inBlockComment = false;
  lines.forEach((line, i) => {
    if (inBlockComment) {
      if (line.includes('*/')) inBlockComment = false;
      return;
    }
    if (/^\s*\/\*/.test(line) && !line.includes('*/')) {
      inBlockComment = true;
      return;
    }
    if (/^\s*(\/\/|\*|#(?!\s*define))/.test(line)) return;
    for (const [kind, re] of rules) {
      const m = re.exec(line);
      if (m && m[1].length >= 2 && !KEYWORDS.has(m[1])) {
        out.push({ name: m[1], kind, line: i + 1 });
        break;
      }
    }
  });
  return out;
}

/** Occurrences of each identifier across all text files (a Map name -> count). */
export function countIdentifiers(files) {
  const counts = new Map();
  for (const f of files) {
    if (f.text == null || !DEFINITIONS[f.lang]) continue;
    for (const m of f.text.matchAll(IDENT)) counts.set(m[0], (counts.get(m[0]) ?? 0) + 1);
  }
  return counts;
}

function compareNames(a, b) {
  const la = a.toLowerCase();
  const lb = b.toLowerCase();
  if (la !== lb) return la < lb ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Builds the glossary of a workspace: [{ name, kind, definedIn: ['path:line'], uses, files }],
 * sorted by name. `uses` counts occurrences other than the definitions themselves.
 */
export function buildGlossary(files) {
  const entries = new Map();
  const usedIn = new Map();
  for (const f of files) {
    for (const d of findDefinitions(f)) {
      const e = entries.get(d.name) ?? { name: d.name, kind: d.kind, definedIn: [], uses: 0, files: 0 };
      e.definedIn.push(`${f.path}:${d.line}`);
      entries.set(d.name, e);
    }
  }
  const counts = countIdentifiers(files);
  for (const f of files) {
    if (f.text == null || !DEFINITIONS[f.lang]) continue;
    const seen = new Set(f.text.match(IDENT) ?? []);
    for (const name of seen) if (entries.has(name)) usedIn.set(name, (usedIn.get(name) ?? 0) + 1);
  }
  for (const e of entries.values()) {
    e.uses = Math.max(0, (counts.get(e.name) ?? 0) - e.definedIn.length);
    e.files = usedIn.get(e.name) ?? 0;
  }
  return [...entries.values()].sort((a, b) => compareNames(a.name, b.name));
}

/** The glossary as Markdown: one table row per identifier. */
export function glossaryMarkdown(glossary, { title }) {
  const rows = glossary.map(
    (e) => `| \`${e.name}\` | ${e.kind} | ${e.definedIn.join(', ')} | ${e.uses} | ${e.files} |`,
  );
  return [
    `# Glossary: ${title}`,
    '',
    `${glossary.length} identifiers defined in the workspace.`,
    '',
    '| identifier | kind | defined in | uses | files |',
    '| --- | --- | --- | --- | --- |',
    ...rows,
    '',
  ].join('\n');
}
