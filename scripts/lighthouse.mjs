// Lighthouse (mobile, default throttling) on every page the performance
// issue names, against a running uni1 (scripts/lighthouse.sh starts one).
// Signs in an account made with `uni1 admin create-user`, makes one image
// with the built-in model, publishes it and shares it, then audits:
// `/`, `/sign-in`, `/explore`, `/privacy`, `/p/{id}`, `/s/{token}`, and
// `/studio` and `/gallery` signed in (the session cookie as a header).
//
//   node scripts/lighthouse.mjs BASE_URL EMAIL PASSWORD [OUT_DIR]
//
// Prints a Markdown table of the four category scores and LCP/TBT/CLS;
// exits 1 when a score is under 95 (SEO is not counted on `noindex` pages).
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const [base, email, password, outDir = "target/lighthouse"] = process.argv.slice(2);
if (!base || !email || !password) {
  console.error("usage: lighthouse.mjs BASE_URL EMAIL PASSWORD [OUT_DIR]");
  process.exit(2);
}
mkdirSync(outDir, { recursive: true });
let cookie = "";

async function call(endpoint, form) {
  const res = await fetch(`${base}/api/${endpoint}`, {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      accept: "application/json",
      origin: base,
      ...(cookie ? { cookie } : {}),
    },
    body: new URLSearchParams(form),
    redirect: "manual",
  });
  const set = res.headers.getSetCookie?.() ?? [];
  for (const c of set) {
    const pair = c.split(";")[0];
    if (!pair.endsWith("=")) cookie = pair;
  }
  const text = await res.text();
  if (!res.ok) throw new Error(`${endpoint}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

await call("sign_in", { email, password });
if (!cookie) throw new Error("signing in set no cookie");
const job = await call("generate", {
  form_key: `lighthouse-${Date.now()}`,
  model: "builtin",
  prompt: "a lighthouse on a cliff at dusk, waves, warm light",
  aspect_ratio: "1:1",
  count: "1",
});
let image = null;
for (let i = 0; i < 120 && !image; i++) {
  const page = await call("gallery", {});
  image = page.items[0]?.id ?? null;
  if (!image) await new Promise((r) => setTimeout(r, 500));
}
if (!image) throw new Error(`job ${job.id} made no image in 60 s`);
await call("publish", { id: image, published: "on" });
const share = await call("share-create", { image, expires_in_days: "" });
const token = new URL(share.url).pathname.split("/").pop();

const pages = [
  ["/", false, true],
  ["/sign-in", false, true],
  ["/explore", false, true],
  ["/privacy", false, true],
  [`/p/${image}`, false, true],
  [`/s/${token}`, false, false],
  ["/studio", true, false],
  ["/gallery", true, false],
];
const flags = "--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking --disable-component-update --disable-sync";
let failed = false;
console.log("| page | performance | accessibility | best practices | SEO | LCP | TBT | CLS |");
console.log("|---|---|---|---|---|---|---|---|");
for (const [path, signedIn, seoCounts] of pages) {
  const name = path.replace(/[^a-z0-9]+/gi, "_") || "root";
  const out = join(outDir, `${name}.json`);
  const args = [
    "lighthouse", base + path, "--quiet", "--output=json", `--output-path=${out}`,
    `--chrome-flags=${flags}`,
  ];
  if (signedIn) args.push(`--extra-headers=${JSON.stringify({ Cookie: cookie })}`);
  execFileSync("npx", args, {
    stdio: ["ignore", "ignore", "inherit"],
    env: { ...process.env, CHROME_PATH: process.env.CHROME_PATH ?? "/usr/bin/chromium" },
  });
  const r = JSON.parse(readFileSync(out, "utf8"));
  const score = (c) => Math.round((r.categories[c]?.score ?? 0) * 100);
  const [perf, a11y, bp, seo] = ["performance", "accessibility", "best-practices", "seo"].map(score);
  const shown = path.replace(image, "{id}").replace(token, "{token}");
  const counted = [perf, a11y, bp, ...(seoCounts ? [seo] : [])];
  if (counted.some((s) => s < 95)) failed = true;
  const metric = (id) => r.audits[id]?.displayValue ?? "-";
  console.log(`| \`${shown}\`${signedIn ? " (signed in)" : ""} | ${perf} | ${a11y} | ${bp} | ${seoCounts ? seo : `${seo} (noindex)`} | ${metric("largest-contentful-paint")} | ${metric("total-blocking-time")} | ${metric("cumulative-layout-shift")} |`);
}
process.exit(failed ? 1 : 0);
