// A `page` that fails the test on any console error or uncaught exception,
// and a helper that waits until the WASM has hydrated the page.
//
// Chromium logs every 4xx/5xx response as a console error. A test that
// provokes one on purpose lists its status in `expectedStatuses`; any other
// error still fails the test.
import { test as base, expect, Page } from "@playwright/test";

// `consent`: the cookie choice the visitor has already made ("1.pa" with
// p and a 0 or 1 for preferences and analytics), so the first-visit banner
// does not cover the page; `null` for a visitor who has not chosen yet
// (the consent tests).
type Options = { expectedStatuses: number[]; consent: string | null };

export const test = base.extend<Options & { page: Page }>({
  expectedStatuses: [[], { option: true }],
  consent: ["1.00", { option: true }],
  page: async ({ page, expectedStatuses, consent, baseURL }, use) => {
    if (consent !== null) {
      const id = crypto.randomUUID().replace(/-/g, "");
      await page.context().addCookies([{ name: "uni1_consent", value: `${consent}.${id}`, url: baseURL! }]);
    }
    // Each test is its own visitor: the test server trusts X-Forwarded-For,
    // so per-address rate limits (10 sign-ups an hour) apply per test, as
    // they would to different people, instead of to the whole suite.
    const octet = () => Math.floor(Math.random() * 254) + 1;
    await page.setExtraHTTPHeaders({ "x-forwarded-for": `10.${octet()}.${octet()}.${octet()}` });
    const problems: string[] = [];
    page.on("console", (msg) => {
      if (msg.type() !== "error") return;
      const status = /the server responded with a status of (\d+)/.exec(msg.text());
      if (status && expectedStatuses.includes(Number(status[1]))) return;
      problems.push(`console: ${msg.text()}`);
    });
    page.on("pageerror", (err) => problems.push(`exception: ${err.message}`));
    await use(page);
    expect(problems, "no console errors or exceptions").toEqual([]);
  },
});

/** Resolves once the WASM has hydrated the page (the app marks <html>). */
export async function hydrated(page: Page) {
  await page.locator("html[data-hydrated]").waitFor({ state: "attached" });
}

export { expect };
