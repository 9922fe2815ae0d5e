// Builds the front-end assets the binary serves and writes them, minified and gzipped, to
// src/http/assets/ (committed: `cargo build` needs no Node). Run `npm ci && npm run build`
// in web/ after changing anything here or a package version; `npm run check` (in .ci/run)
// fails when the committed files are not what these sources build.
//
// - GraphiQL, React and the Explorer plugin: their published UMD builds, copied as they are.
// - graphiql/setup.js (tabs, headers, fetcher) and console/main.js (+ graphql-ws): bundled
//   and minified by esbuild; console/style.css minified.
// - graphiql/index.html and console/index.html: asset URLs get `?v=<hash of the asset>`, so
//   the assets can be cached for a year and a new binary still loads its own.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { constants, gunzipSync, gzipSync } from 'node:zlib';
import * as esbuild from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, '..', 'src', 'http', 'assets');
const mod = (p) => readFileSync(join(here, 'node_modules', p));

async function bundle(entry, options = {}) {
  const result = await esbuild.build({
    entryPoints: [join(here, entry)],
    bundle: true,
    minify: true,
    write: false,
    format: 'iife',
    target: ['es2020'],
    legalComments: 'none',
    ...options,
  });
  return Buffer.from(result.outputFiles[0].contents);
}

const assets = {
  'graphiql.min.js': mod('graphiql/graphiql.min.js'),
  'graphiql.min.css': mod('graphiql/graphiql.min.css'),
  'react.production.min.js': mod('react/umd/react.production.min.js'),
  'react-dom.production.min.js': mod('react-dom/umd/react-dom.production.min.js'),
  'plugin-explorer.umd.js': mod('@graphiql/plugin-explorer/dist/index.umd.js'),
  'plugin-explorer.css': mod('@graphiql/plugin-explorer/dist/style.css'),
  'graphiql-setup.js': await bundle('graphiql/setup.js'),
  'console.js': await bundle('console/main.js'),
  'console.css': await bundle('console/style.css', { loader: { '.css': 'css' }, format: undefined }),
};

// The same hash the server sends as ETag (first 16 hex digits of the SHA-256 of the gzip).
const gz = (bytes) => gzipSync(bytes, { level: constants.Z_BEST_COMPRESSION });
const hash = (bytes) => createHash('sha256').update(bytes).digest('hex').slice(0, 16);
const written = {};
for (const [name, bytes] of Object.entries(assets)) written[name] = gz(bytes);
for (const page of ['graphiql', 'console']) {
  const html = readFileSync(join(here, page, 'index.html'), 'utf8').replace(
    /\?v=\{([^}]+)\}/g,
    (_, name) => {
      if (!written[name]) throw new Error(`${page}/index.html names an unknown asset ${name}`);
      return `?v=${hash(written[name])}`;
    },
  );
  written[`${page}.html`] = gz(Buffer.from(html));
}

// `--check`: build in memory and compare with what is committed (unzipped, with the pages'
// `?v=` hashes left out, as another zlib may compress the same bytes differently).
if (process.argv.includes('--check')) {
  const plain = (name, bytes) => {
    const text = gunzipSync(bytes);
    return name.endsWith('.html') ? Buffer.from(text.toString().replace(/\?v=[0-9a-f]{16}/g, '?v=')) : text;
  };
  const stale = [];
  const committed = readdirSync(out).filter((f) => f.endsWith('.gz')).map((f) => f.slice(0, -3));
  for (const name of new Set([...committed, ...Object.keys(written)])) {
    if (!written[name] || !committed.includes(name)) stale.push(name);
    else if (!plain(name, readFileSync(join(out, `${name}.gz`))).equals(plain(name, written[name]))) stale.push(name);
  }
  if (stale.length) {
    console.error(`src/http/assets is not what web/ builds: ${stale.join(', ')} (run npm run build in web/)`);
    process.exit(1);
  }
  console.log('src/http/assets matches web/');
  process.exit(0);
}

mkdirSync(out, { recursive: true });
for (const f of readdirSync(out)) if (f.endsWith('.gz')) rmSync(join(out, f));
let total = 0;
for (const [name, bytes] of Object.entries(written)) {
  writeFileSync(join(out, `${name}.gz`), bytes);
  total += bytes.length;
  console.log(`${name}.gz ${bytes.length} bytes`);
}
console.log(`total ${total} bytes`);
