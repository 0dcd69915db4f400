// Cookie consent (CK-1) in a browser: the first-visit banner's three
// buttons, the preference center without JavaScript, cookies present or
// absent per choice, and every cookie a session ends up with listed on the
// cookies page.
import AxeBuilder from "@axe-core/playwright";
import { execFileSync } from "node:child_process";
import type { BrowserContext, Page } from "@playwright/test";
import { test, expect, hydrated } from "./fixtures";
import { uniqueEmail, signUp, signIn, confirmFromOutbox } from "./helpers";

test.use({ consent: null });

const bare = (name: string) => name.replace(/^__Host-/, "");

async function cookieNames(context: BrowserContext) {
  return (await context.cookies()).map((c) => bare(c.name)).sort();
}

async function consentValue(context: BrowserContext) {
  return (await context.cookies()).find((c) => bare(c.name) === "uni1_consent")?.value;
}

async function listedCookies(page: Page) {
  await page.goto("/cookies");
  return page.getByTestId("cookie-table").locator("tbody tr td:first-child").allTextContents();
}

test("the banner: nothing set before a choice, three equal buttons, reject all", async ({ page, context }) => {
  await page.goto("/");
  await hydrated(page);
  const banner = page.getByTestId("consent-banner");
  await expect(banner).toBeVisible();
  expect(await cookieNames(context), "only essential cookies, and none yet").toEqual([]);
  const sizes = await Promise.all(
    ["consent-accept", "consent-reject", "consent-choose"].map(async (id) => (await page.getByTestId(id).boundingBox())!.height),
  );
  expect(new Set(sizes).size, `equal weight: ${sizes}`).toBe(1);
  const axe = await new AxeBuilder({ page }).include("[data-testid=consent-banner]").withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]).analyze();
  expect(axe.violations.map((v) => v.id)).toEqual([]);

  await page.getByTestId("consent-reject").click();
  await expect(page).toHaveURL(/\/$/);
  await expect(banner).toHaveCount(0);
  expect(await cookieNames(context)).toEqual(["uni1_consent"]);
  expect(await consentValue(context)).toMatch(/^1\.00\.[0-9a-f]{32}$/);
  // The page still works after the choice (the banner sits outside the app).
  await hydrated(page);
});

test("accept all, then every cookie of a whole session is on the cookies page", async ({ page, context }) => {
  await page.goto("/explore");
  await page.getByTestId("consent-accept").click();
  await expect(page).toHaveURL(/\/explore$/);
  expect(await consentValue(context)).toMatch(/^1\.11\./);
  // A navigation inside the app (no page load) is counted too.
  await hydrated(page);
  await page.getByRole("contentinfo").getByRole("link", { name: "Terms" }).click();
  await expect(page).toHaveURL(/\/terms$/);
  await expect(async () => {
    const out = execFileSync(process.env.UNI1_E2E_BIN!, ["admin", "analytics", "--days", "1", "--json"], {
      env: { ...process.env, UNI1_DATA_DIR: process.env.UNI1_E2E_DATA_DIR },
    }).toString();
    const pages = JSON.parse(out).top_pages.map((p: { key: string }) => p.key);
    expect(pages).toContain("/terms");
  }).toPass({ timeout: 10_000 });

  const email = uniqueEmail("cookies");
  await signUp(page, "Cora Cookie", email);
  await confirmFromOutbox(page, email);
  await signIn(page, email);
  await expect(page).toHaveURL(/\/studio$/);
  await hydrated(page);
  await page.getByLabel("Aspect ratio").selectOption("16:9");
  await page.getByLabel("Prompt", { exact: true }).fill("a lantern in the fog");
  await page.getByRole("button", { name: "Generate" }).click();
  await expect(page.getByTestId("job").first()).toHaveAttribute("data-status", "succeeded", { timeout: 30_000 });
  const names = await cookieNames(context);
  expect(names).toContain("uni1_studio");
  const listed = await listedCookies(page);
  for (const name of names) expect(listed, `${name} is listed`).toContain(name);

  // The studio starts with the remembered aspect ratio.
  await page.goto("/studio");
  await hydrated(page);
  await expect(page.getByLabel("Aspect ratio")).toHaveValue("16:9");
});

test("the preference center works without JavaScript", async ({ browser, baseURL }) => {
  const context = await browser.newContext({ javaScriptEnabled: false, baseURL });
  const page = await context.newPage();
  await page.goto("/pricing");
  await page.getByTestId("consent-choose").click();
  await expect(page).toHaveURL(/\/cookies#choices$/);
  await expect(page.getByTestId("consent-banner")).toHaveCount(0);
  await expect(page.getByTestId("consent-status")).toContainText("not made a choice");
  await page.getByLabel(/^Analytics/).check();
  await page.getByTestId("consent-save").click();
  await expect(page).toHaveURL(/\/cookies$/);
  await expect(page.getByTestId("consent-status")).toContainText("saved");
  await expect(page.getByLabel(/^Analytics/)).toBeChecked();
  await expect(page.getByLabel(/^Preferences/)).not.toBeChecked();
  expect(await consentValue(context)).toMatch(/^1\.01\./);
  await page.goto("/pricing");
  await expect(page.getByTestId("consent-banner")).toHaveCount(0);
  await context.close();
});
