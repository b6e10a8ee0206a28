// build.mjs: builds the page into static files (docs/browser.md, "Build").
//   node build.mjs [--outdir DIR] [--dev]
// DIR defaults to the repository's build/web, where a runwire-control built in build/ looks
// (cmake/web.cmake passes ${CMAKE_BINARY_DIR}/web).
// esbuild bundles src/main.js (with xterm.js, its CSS and app.css) into app.js + app.css;
// the Firebase SDK lands in a chunk of its own, loaded only when control asks for sign-in.
// index.html and favicon.svg are copied. Output is deterministic for the same sources.
import { build } from 'esbuild';
import { copyFileSync, existsSync, mkdirSync, rmSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const dev = args.includes('--dev');
const oi = args.indexOf('--outdir');
const outdir = resolve(oi >= 0 ? args[oi + 1] : join(here, '..', '..', 'build', 'web'));

// Only ever clear a directory that holds an earlier build (or nothing).
if (existsSync(outdir) && readdirSync(outdir).length && !existsSync(join(outdir, 'index.html'))) {
  console.error(`web: ${outdir} is not empty and holds no earlier build: not clearing it`);
  process.exit(1);
}
rmSync(outdir, { recursive: true, force: true });
mkdirSync(outdir, { recursive: true });

const result = await build({
  absWorkingDir: here,
  entryPoints: { app: 'src/main.js' },
  outdir,
  bundle: true,
  format: 'esm',
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
  target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
  minify: !dev,
  sourcemap: 'linked',
  legalComments: 'linked',
  logLevel: 'warning',
  metafile: true,
  define: { 'process.env.NODE_ENV': dev ? '"development"' : '"production"' },
});
for (const f of ['index.html', 'favicon.svg']) copyFileSync(join(here, 'src', f), join(outdir, f));

let total = 0;
const walk = (d) => {
  for (const name of readdirSync(d)) {
    const p = join(d, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (!name.endsWith('.map')) total += statSync(p).size;
  }
};
walk(outdir);
const warnings = result.warnings.length ? `, ${result.warnings.length} warnings` : '';
console.log(`web: built ${outdir} (${(total / 1024).toFixed(0)} KiB without source maps${warnings})`);
