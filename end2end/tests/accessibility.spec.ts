// axe-core on every page people reach: 0 violations (WCAG 2.1 A and AA
// rules, the best-practice set left out). Each page is checked after it has
// hydrated, in the desktop and the phone project.
import AxeBuilder from "@axe-core/playwright";
import type { Page } from "@playwright/test";
import { test, expect, hydrated } from "./fixtures";
import { uniqueEmail, signUp, signIn, confirmFromOutbox } from "./helpers";

// `hydrates: false` for the server's plain HTML pages (no WASM on them).
async function noViolations(page: Page, path: string, hydrates = true) {
  await page.goto(path);
  if (hydrates) await hydrated(page);
  else await page.waitForLoadState("load");
  const result = await new AxeBuilder({ page }).withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]).analyze();
  const found = result.violations.map(
    (v) => `${path}: ${v.id} (${v.impact}): ${v.help}\n    ${v.nodes.map((n) => n.target.join(" ")).slice(0, 3).join("\n    ")}`,
  );
  expect(found, `accessibility violations on ${path}`).toEqual([]);
}

test.describe("accessibility", () => {
  // 401: the private pages asked for while signed out.
  test.use({ expectedStatuses: [401] });
  // Each test walks a dozen pages (load, hydrate, axe): 30 s was the whole
  // budget and a loaded two-core machine ran out on the last page.
  test.describe.configure({ timeout: 120_000 });

  test("public pages have no axe violations", async ({ page }) => {
    for (const path of ["/", "/sign-in", "/sign-up", "/privacy", "/terms", "/cookies", "/contact", "/report-underage", "/explore", "/reset-password", "/settings", "/pricing", "/privacy-choices"]) {
      await noViolations(page, path);
    }
    // The developer API's guide: plain HTML from the server.
    await noViolations(page, "/docs/api", false);
  });

  test("signed-in pages have no axe violations", async ({ page }) => {
    const email = uniqueEmail("a11y");
    await signUp(page, "Ada Access", email);
    await confirmFromOutbox(page, email);
    await signIn(page, email);
    await expect(page).toHaveURL(/\/studio$/);
    await hydrated(page);
    await page.getByLabel("Prompt", { exact: true }).fill("a quiet harbour at dawn");
    await page.getByRole("button", { name: "Generate" }).click();
    await expect(page.getByTestId("job").first()).toHaveAttribute("data-status", "succeeded", { timeout: 30_000 });
    for (const path of ["/studio", "/gallery", "/collections", "/settings", "/settings/security", "/settings/sharing", "/settings/privacy", "/settings/notifications", "/billing"]) {
      await noViolations(page, path);
    }
    await page.goto("/gallery");
    const details = page.getByTestId("gallery-item").first().getByRole("link", { name: "a quiet harbour at dawn" }).last();
    const href = await details.getAttribute("href");
    await noViolations(page, href!);

    // The public pages of that image: a share link, and the public gallery.
    await page.getByRole("button", { name: "Create link" }).click();
    const shared = await page.getByTestId("share-url").textContent();
    await page.getByTestId("publish-toggle").click();
    await expect(page.getByTestId("public-link")).toBeVisible();
    const id = href!.split("/").pop();
    await noViolations(page, new URL(shared!).pathname);
    await noViolations(page, `/p/${id}`);
  });
});
