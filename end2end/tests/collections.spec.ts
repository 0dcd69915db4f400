// Gallery at scale and what people do with several images: infinite scroll
// (and the plain "More" link without JavaScript), ticking images to
// download as a ZIP or delete, collections and their share links, and
// publishing to the public gallery.
import { test, expect, hydrated } from "./fixtures";
import { uniqueEmail, signUp, signIn, confirmFromOutbox } from "./helpers";
import type { Page } from "@playwright/test";
import { readFileSync } from "fs";

async function member(page: Page, tag: string) {
  const email = uniqueEmail(tag);
  await signUp(page, "Lin Collector", email);
  await confirmFromOutbox(page, email);
  await signIn(page, email);
  await expect(page).toHaveURL(/\/studio$/);
}

/** Queues `jobs` generations of `count` images through the studio's server
 * function (as the studio form does) and waits until all images exist. */
async function generate(page: Page, prompt: string, jobs: number, count: number) {
  const origin = new URL(page.url()).origin;
  for (let i = 0; i < jobs; i++) {
    const r = await page.request.post("/api/generate", {
      headers: { Origin: origin, Accept: "application/json" },
      form: {
        form_key: `e2e-${Date.now()}-${i}-${Math.floor(Math.random() * 1e9)}`,
        model: "builtin",
        prompt: `${prompt} ${i}`,
        aspect_ratio: "1:1",
        count: String(count),
      },
    });
    expect(r.status(), await r.text()).toBe(200);
  }
  const total = jobs * count;
  await expect
    .poll(
      async () => {
        let seen = 0;
        let cursor = "";
        for (;;) {
          const r = await page.request.post("/api/gallery", {
            headers: { Origin: origin, Accept: "application/json" },
            form: { cursor },
          });
          const body = await r.json();
          seen += body.items.length;
          if (!body.next_cursor) return seen;
          cursor = body.next_cursor;
        }
      },
      { timeout: 60_000, message: `${total} images made` },
    )
    .toBe(total);
}

test.describe("gallery with many images", () => {
  test("scrolling loads the next pages; without JavaScript 'More' is a link", async ({ page, browser }) => {
    await member(page, "scroll");
    await generate(page, "scroll test", 7, 4);

    await page.goto("/gallery");
    await hydrated(page);
    const items = page.getByTestId("gallery-item");
    await expect(items).toHaveCount(24);
    await page.getByTestId("gallery-more").scrollIntoViewIfNeeded();
    await expect(items).toHaveCount(28);
    await expect(page.getByTestId("gallery-more")).toHaveCount(0);
    const ids = await items.evaluateAll((els) => els.map((e) => e.getAttribute("data-id")));
    expect(new Set(ids).size).toBe(28);
    // Favouriting an appended image changes that card only: the loaded pages stay.
    const last = items.nth(27);
    await last.getByTestId("favorite-toggle").click();
    await expect(last.getByTestId("favorite-toggle")).toHaveAttribute("aria-pressed", "true");
    await expect(items).toHaveCount(28);

    // The same list without JavaScript: page 1 links to page 2.
    const cookies = await page.context().cookies();
    const nojs = await browser.newContext({ javaScriptEnabled: false });
    await nojs.addCookies(cookies);
    const p = await nojs.newPage();
    await p.goto("/gallery");
    await expect(p.getByTestId("gallery-item")).toHaveCount(24);
    await p.getByTestId("gallery-more").click();
    await expect(p).toHaveURL(/cursor=/);
    await expect(p.getByTestId("gallery-item")).toHaveCount(4);
    await nojs.close();
  });

  test("ticked images download as one ZIP and are deleted after confirmation", async ({ page }) => {
    await member(page, "select");
    await generate(page, "select test", 1, 3);
    await page.goto("/gallery");
    await hydrated(page);
    const items = page.getByTestId("gallery-item");
    await expect(items).toHaveCount(3);
    await items.nth(0).getByTestId("select").check();
    await items.nth(1).getByTestId("select").check();

    const download = page.waitForEvent("download");
    await page.getByTestId("selection-download").click();
    const file = await download;
    expect(file.suggestedFilename()).toMatch(/^uni1-images-\d{8}-\d{6}\.zip$/);
    const path = await file.path();
    const bytes = readFileSync(path);
    expect(bytes.subarray(0, 4).toString("hex")).toBe("504b0304");

    await page.getByTestId("selection-delete").click();
    await expect(page).toHaveURL(/\/delete-images\?ids=/);
    await hydrated(page);
    await expect(page.getByText("This deletes 2 images")).toBeVisible();
    await page.getByTestId("delete-selected").click();
    await expect(page).toHaveURL(/\/gallery$/);
    await expect(page.getByTestId("gallery-item")).toHaveCount(1);
  });
});

test.describe("collections and the public gallery", () => {
  test("an image goes into a new collection, the collection is shared, and published images show in Explore", async ({ page, browser }) => {
    await member(page, "collect");
    // Unique: Explore is shared by every test run against this server.
    const boat = `a paper boat ${Date.now()}-${Math.floor(Math.random() * 1e6)}`;
    await generate(page, boat, 1, 1);
    await page.goto("/gallery");
    await page.getByTestId("gallery-item").first().locator("a").first().click();
    await hydrated(page);

    // Into a new collection from the image's page.
    await page.getByLabel("New collection").fill("Boats");
    await page.getByTestId("new-collection").click();
    await expect(page.getByTestId("in-collection")).toContainText("Boats");
    await page.getByTestId("in-collection").getByRole("link", { name: "Boats" }).click();
    await expect(page.getByTestId("collection-name")).toHaveText("Boats");
    await expect(page.getByTestId("collection-item")).toHaveCount(1);

    // Shared: a stranger without JavaScript sees the collection.
    await hydrated(page);
    await page.getByRole("button", { name: "Create link" }).click();
    const url = await page.getByTestId("share-url").textContent();
    const stranger = await browser.newContext({ javaScriptEnabled: false });
    const s = await stranger.newPage();
    await s.goto(new URL(url!).pathname);
    await expect(s.getByTestId("shared-collection")).toHaveText("Boats");
    await expect(s.getByTestId("shared-item")).toHaveCount(1);
    const img = s.getByTestId("shared-item").locator("img");
    await expect.poll(() => img.evaluate((el: HTMLImageElement) => el.complete && el.naturalWidth > 0), { message: "the image loads" }).toBe(true);

    // Not in Explore until published; then anyone sees it.
    await s.goto("/explore");
    await expect(s.getByTestId("explore-item").filter({ hasText: boat })).toHaveCount(0);
    await page.getByTestId("collection-item").locator("a").first().click();
    await hydrated(page);
    await page.getByTestId("publish-toggle").click();
    await expect(page.getByTestId("public-link")).toBeVisible();
    await s.goto("/explore");
    const mine = s.getByTestId("explore-item").filter({ hasText: boat });
    await expect(mine).toHaveCount(1);
    await mine.locator("a").click();
    await expect(s.getByTestId("public-image")).toContainText(boat);
    await stranger.close();
  });
});
