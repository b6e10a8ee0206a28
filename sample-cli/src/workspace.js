// Inventory of a workspace: the files every stage works on. Walks the tree once, in a stable
// order, so that every output of a run (glossary, API doc, audit) is deterministic.
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

// Directories that hold dependencies, history, caches or tool state, never the workspace's own
// code (.claude: Claude Code's own state, which it may touch while auditing).
export const SKIP_DIRS = new Set(['node_modules', '.git', '.hg', '.svn', 'coverage', '.cache', '.claude']);
// Caps: a run stays quick and bounded on any tree it is pointed at.
export const WORKSPACE_MAX_FILES = 5000;
export const WORKSPACE_MAX_TEXT_BYTES = 1 << 20;

const LANGS = {
  '.js': 'js', '.mjs': 'js', '.cjs': 'js', '.jsx': 'js',
  '.ts': 'ts', '.mts': 'ts', '.cts': 'ts', '.tsx': 'ts',
  '.c': 'c', '.h': 'c', '.cc': 'cpp', '.cpp': 'cpp', '.hpp': 'cpp',
  '.py': 'py', '.sh': 'sh', '.bash': 'sh', '.go': 'go', '.rs': 'rust',
  '.md': 'md', '.markdown': 'md', '.json': 'json', '.yaml': 'yaml', '.yml': 'yaml',
  '.toml': 'toml', '.cmake': 'cmake', '.txt': 'text', '.env': 'env',
};

/** Language tag of a file, from its name ('other' when unknown). */
export function languageOf(rel) {
  const base = path.posix.basename(rel);
  if (base === 'Makefile' || base === 'makefile') return 'make';
  if (base === 'Dockerfile') return 'docker';
  if (base === 'CMakeLists.txt') return 'cmake';
  if (base === '.env' || base.startsWith('.env.')) return 'env';
  return LANGS[path.posix.extname(base).toLowerCase()] ?? 'other';
}

function byPath(a, b) {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Walks `root` and returns { root, files, skipped, truncated }. Each file is
 * { path (relative, '/'-separated), size, sha256, lang, text (string or null when binary or
 * too large) }. Symbolic links are listed in `skipped`, never followed. `exclude` is a list of
 * absolute directories left out (the output directory when it lies inside the workspace).
 */
export function scanWorkspace(root, { exclude = [] } = {}) {
  const absRoot = path.resolve(root);
  const excluded = new Set(exclude.map((d) => path.resolve(d)));
  const files = [];
  const skipped = [];
  let truncated = false;

  const walk = (dir, rel) => {
    const names = readdirSync(dir).sort(byPath);
    for (const name of names) {
      if (files.length >= WORKSPACE_MAX_FILES) {
        truncated = true;
        return;
      }
      const abs = path.join(dir, name);
      const relPath = rel ? `${rel}/${name}` : name;
      const st = lstatSync(abs);
      if (st.isSymbolicLink()) {
        skipped.push({ path: relPath, why: 'symbolic link' });
      } else if (st.isDirectory()) {
        if (SKIP_DIRS.has(name) || excluded.has(abs)) continue;
        walk(abs, relPath);
      } else if (st.isFile()) {
        const data = readFileSync(abs);
        const binary = data.subarray(0, 8000).includes(0);
        files.push({
          path: relPath,
          size: st.size,
          mode: st.mode & 0o777,
          sha256: createHash('sha256').update(data).digest('hex'),
          lang: languageOf(relPath),
          text: !binary && data.length <= WORKSPACE_MAX_TEXT_BYTES ? data.toString('utf8') : null,
        });
      }
    }
  };
  walk(absRoot, '');
  return { root: absRoot, files, skipped, truncated };
}

/** Digest of a whole inventory: sha256 over "path\0sha256\n" lines, in path order. */
export function manifestDigest(files) {
  const h = createHash('sha256');
  for (const f of files) h.update(`${f.path}\0${f.sha256}\n`);
  return h.digest('hex');
}

/** Summary counts by language, sorted by language name. */
export function languageCounts(files) {
  const counts = new Map();
  for (const f of files) counts.set(f.lang, (counts.get(f.lang) ?? 0) + 1);
  return [...counts.entries()].sort((a, b) => byPath(a[0], b[0]));
}
