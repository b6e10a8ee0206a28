// How paths are shown to people: relative to the current directory when they lie under it.
import path from 'node:path';

/** `p` relative to the current directory when inside it, else `p` as given. */
export function shown(p) {
  const rel = path.relative(process.cwd(), p);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : p;
}
