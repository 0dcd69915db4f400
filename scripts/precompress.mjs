// Writes NAME.br and NAME.gz next to every text or WASM file of the built
// site, so the server sends them as they are (tower-http ServeDir
// `precompressed_br`/`precompressed_gzip`) instead of compressing on the fly
// at a fast level. Node's own zlib: nothing to install.
//
//   node scripts/precompress.mjs DIR [--fast]
//
// --fast: brotli quality 5 and gzip level 6, for debug builds (their WASM is
// tens of megabytes); otherwise the maximum (brotli 11, gzip 9).
// Compressed files whose source is gone (an older build's hashed names) are
// removed; a file is skipped when compressing it saves nothing.
import { readdirSync, readFileSync, writeFileSync, existsSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { brotliCompressSync, gzipSync, constants } from "node:zlib";

const [dir, flag] = process.argv.slice(2);
if (!dir || !existsSync(dir)) {
  console.error(`precompress: no such folder: ${dir ?? "(none given)"}`);
  process.exit(2);
}
const fast = flag === "--fast";
const worth = /\.(js|mjs|wasm|css|json|svg|html|txt)$/;

let files = 0;
let raw = 0;
let br = 0;
function walk(folder) {
  for (const name of readdirSync(folder)) {
    const path = join(folder, name);
    if (statSync(path).isDirectory()) {
      walk(path);
      continue;
    }
    if (/\.(br|gz)$/.test(name)) {
      if (!existsSync(path.slice(0, -3))) rmSync(path);
      continue;
    }
    if (!worth.test(name)) continue;
    const body = readFileSync(path);
    const brotli = brotliCompressSync(body, {
      params: {
        [constants.BROTLI_PARAM_QUALITY]: fast ? 5 : 11,
        [constants.BROTLI_PARAM_SIZE_HINT]: body.length,
        [constants.BROTLI_PARAM_MODE]: name.endsWith(".wasm")
          ? constants.BROTLI_MODE_GENERIC
          : constants.BROTLI_MODE_TEXT,
      },
    });
    const gzip = gzipSync(body, { level: fast ? 6 : 9 });
    for (const [ext, out] of [[".br", brotli], [".gz", gzip]]) {
      if (out.length < body.length) writeFileSync(path + ext, out);
      else if (existsSync(path + ext)) rmSync(path + ext);
    }
    files += 1;
    raw += body.length;
    br += Math.min(brotli.length, body.length);
  }
}
walk(dir);
const kib = (n) => (n / 1024).toFixed(1);
console.log(`precompressed ${files} files in ${dir}: ${kib(raw)} KiB, ${kib(br)} KiB with brotli`);
