import { test, expect, hydrated } from "./fixtures";
import { uniqueEmail, signUp, signIn, confirmFromOutbox } from "./helpers";
import type { Page } from "@playwright/test";

/** A confirmed, signed-in account (sign-up, the outbox link, sign-in). */
async function member(page: Page) {
  const email = uniqueEmail("studio");
  await signUp(page, "Grace Hopper", email);
  await confirmFromOutbox(page, email);
  await signIn(page, email);
  await expect(page).toHaveURL(/\/studio$/);
}

test.describe("studio", () => {
  test("generate with Ctrl+Enter, watch it run, see and download the image", async ({ page }) => {
    await member(page);
    await hydrated(page);
    await expect(page.getByTestId("cost")).toContainText("Cost: 1 credits · You have 50");
    await page.getByLabel("Images").selectOption("2");
    await expect(page.getByTestId("cost")).toContainText("Cost: 2 credits");
    const prompt = page.getByLabel("Prompt", { exact: true });
    await prompt.fill("a lighthouse on a cliff at dusk");
    await expect(page.getByTestId("prompt-count")).toHaveText("31 / 2000");
    await prompt.press("Control+Enter");

    const job = page.getByTestId("job").first();
    await expect(job).toContainText("a lighthouse on a cliff at dusk");
    // Live progress: the card turns to done without a reload.
    await expect(job).toHaveAttribute("data-status", "succeeded", { timeout: 30_000 });
    await expect(job.getByTestId("job-status")).toContainText("Done");
    const images = job.getByTestId("job-image");
    await expect(images).toHaveCount(2);
    const img = images.first().locator("img");
    await expect(img).toBeVisible();
    await expect.poll(() => img.evaluate((el: HTMLImageElement) => el.complete && el.naturalWidth > 0), { message: "the image loads" }).toBe(true);
    await expect(images.first()).toContainText("90 days left");

    const download = page.waitForEvent("download");
    await images.first().getByTestId("download-png").click();
    const file = await download;
    expect(file.suggestedFilename()).toMatch(/^uni1-\d{8}-\d{6}-1\.png$/);

    // After a reload the history is still there and the balance shows the charge.
    await page.reload();
    await hydrated(page);
    await expect(page.getByTestId("job").first()).toHaveAttribute("data-status", "succeeded");
    await expect(page.getByTestId("cost")).toContainText("You have 48");
  });

  test("a reference image is uploaded, used, and the job still completes", async ({ page }) => {
    await member(page);
    await hydrated(page);
    await page.getByText("More settings").click();
    // A 1×1 PNG: checked, re-encoded and stored encrypted by the server.
    const png = Buffer.from(
      "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==",
      "base64",
    );
    await page.getByLabel("Reference image (optional)").setInputFiles({ name: "ref.png", mimeType: "image/png", buffer: png });
    await expect(page.getByTestId("reference-note")).toContainText("Reference image ready (1×1)");
    await page.getByLabel("Prompt", { exact: true }).fill("in the style of the reference");
    await page.getByRole("button", { name: "Generate" }).click();
    await expect(page.getByTestId("job").first()).toHaveAttribute("data-status", "succeeded", { timeout: 30_000 });
  });

  test("a reference image that is no longer wanted is removed at once", async ({ page }) => {
    await member(page);
    await hydrated(page);
    await page.getByText("More settings").click();
    const png = Buffer.from(
      "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==",
      "base64",
    );
    const field = page.getByLabel("Reference image (optional)");
    await field.setInputFiles({ name: "ref.png", mimeType: "image/png", buffer: png });
    await expect(page.getByTestId("reference-note")).toContainText("Reference image ready");
    await page.getByTestId("remove-reference").click();
    await expect(page.getByTestId("reference-note")).toHaveText("Removed: the image is deleted.");
    await expect(page.getByTestId("remove-reference")).toHaveCount(0);
    expect(await field.evaluate((el: HTMLInputElement) => el.files?.length ?? 0)).toBe(0);
  });

  test("the form queues a job without JavaScript", async ({ browser }) => {
    const context = await browser.newContext({ javaScriptEnabled: true });
    const page = await context.newPage();
    await member(page);
    const cookies = await context.cookies();
    const nojs = await browser.newContext({ javaScriptEnabled: false });
    await nojs.addCookies(cookies);
    const p = await nojs.newPage();
    await p.goto("/studio");
    await p.getByLabel("Prompt", { exact: true }).fill("a quiet forest at night");
    await p.getByRole("button", { name: "Generate" }).click();
    await expect(p.getByTestId("job").first()).toContainText("a quiet forest at night");
    await nojs.close();
    await context.close();
  });
});
