import { test, expect, hydrated } from "./fixtures";
import { uniqueEmail, signUp, signIn, confirmFromOutbox } from "./helpers";

test.describe("gallery", () => {
  test("a generated image appears, opens its details, and its settings can be reused", async ({ page }) => {
    const email = uniqueEmail("gallery");
    await signUp(page, "Ada Gallery", email);
    await confirmFromOutbox(page, email);
    await signIn(page, email);
    await expect(page).toHaveURL(/\/studio$/);
    await hydrated(page);
    await page.getByLabel("Prompt", { exact: true }).fill("a red kite over the sea");
    await page.getByRole("button", { name: "Generate" }).click();
    await expect(page.getByTestId("job").first()).toHaveAttribute("data-status", "succeeded", { timeout: 30_000 });

    await page.goto("/gallery");
    await hydrated(page);
    const item = page.getByTestId("gallery-item").first();
    await expect(item).toContainText("a red kite over the sea");
    const thumb = item.locator("img");
    await expect(thumb).toBeVisible();
    expect(await thumb.evaluate((el: HTMLImageElement) => el.complete && el.naturalWidth > 0)).toBe(true);

    await page.getByLabel("Search prompts").fill("kite");
    await page.getByRole("button", { name: "Search" }).click();
    await expect(page.getByTestId("gallery-item")).toHaveCount(1);

    await page.getByTestId("gallery-item").first().getByRole("link", { name: "a red kite over the sea" }).last().click();
    await expect(page.getByTestId("image-settings")).toContainText("a red kite over the sea");
    await page.getByTestId("reuse").click();
    await expect(page).toHaveURL(/\/studio\?/);
    await hydrated(page);
    await expect(page.getByLabel("Prompt", { exact: true })).toHaveValue("a red kite over the sea");
  });
});
