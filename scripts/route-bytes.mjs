// What each page makes a first-time visitor download before it is
// interactive: the stylesheet, the main JS and WASM, the JS snippets, and
// the split chunks the server names in preload links for that page (one
// lazy route per page, see uni1_app::lazy_pages). Sizes are of the .br
// files the server sends (scripts/precompress.mjs).
//
//   node scripts/route-bytes.mjs BASE_URL SITE_DIR ROUTE... [--budget KIB]
//
// Prints a Markdown table; with --budget, exits 1 when a route's initial
// brotli bytes exceed it.
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";

const args = process.argv.slice(2);
let budget = null;
const b = args.indexOf("--budget");
if (b >= 0) {
  budget = Number(args[b + 1]);
  args.splice(b, 2);
}
const [base, site, ...routes] = args;
if (!base || !site || routes.length === 0) {
  console.error("usage: route-bytes.mjs BASE_URL SITE_DIR ROUTE... [--budget KIB]");
  process.exit(2);
}

const size = (path) => (existsSync(path) ? statSync(path).size : 0);
// The .br file when there is one (what is sent), else the file itself.
const sent = (path) => size(path + ".br") || size(path);

function snippets(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return snippets(path);
    return name.endsWith(".js") ? [path] : [];
  });
}
const snippetFiles = snippets(join(site, "pkg", "snippets"));

const kib = (n) => (n / 1024).toFixed(1);
let over = false;
console.log("| route | main WASM | page chunks | JS + CSS | initial raw | initial brotli |");
console.log("|---|---|---|---|---|---|");
for (const route of routes) {
  const res = await fetch(base + route, { redirect: "manual" });
  const html = await res.text();
  const hrefs = new Set();
  for (const m of html.matchAll(/<link[^>]+href="([^"]*\/pkg\/[^"]+)"/g)) hrefs.add(m[1]);
  for (const m of html.matchAll(/<script[^>]+src="([^"]*\/pkg\/[^"]+)"/g)) hrefs.add(m[1]);
  let mainWasm = 0, chunks = 0, other = 0, raw = 0, nchunks = 0;
  for (const href of hrefs) {
    const path = join(site, new URL(href, base).pathname);
    const br = sent(path);
    raw += size(path);
    if (/\/pkg\/[^/]+\.wasm$/.test(href) && !/\/(split_|chunk_)/.test(href)) mainWasm += br;
    else if (href.endsWith(".wasm")) { chunks += br; nchunks += 1; }
    else other += br;
  }
  for (const path of snippetFiles) { other += sent(path); raw += size(path); }
  const total = mainWasm + chunks + other;
  if (budget !== null && total / 1024 > budget) over = true;
  console.log(`| \`${route}\` (${res.status}) | ${kib(mainWasm)} KiB | ${kib(chunks)} KiB (${nchunks}) | ${kib(other)} KiB | ${kib(raw)} KiB | ${kib(total)} KiB |`);
}
if (over) {
  console.error(`a route's initial download is over the ${budget} KiB budget`);
  process.exit(1);
}
