// The privacy center in a browser: ask for a copy of your data, get the
// mail, download the ZIP and open it with Python's zipfile (every JSON file
// parses); then ask for the account's deletion, see the date on every page,
// and take it back.
import { execFileSync } from "node:child_process";
import { test, expect, hydrated } from "./fixtures";
import { uniqueEmail, signUp, signIn, confirmFromOutbox, PASSWORD } from "./helpers";

test("export: mail, download, and the ZIP opens with its JSON", async ({ page }, info) => {
  const email = uniqueEmail("export");
  await signUp(page, "Eve Export", email);
  await confirmFromOutbox(page, email);
  await signIn(page, email);
  await expect(page).toHaveURL(/\/studio$/);

  await page.goto("/settings/privacy");
  await hydrated(page);
  await expect(page.getByTestId("stored")).toContainText("Devices signed in");
  await page.getByTestId("request-export").click();
  await expect(page.getByTestId("exports").locator("li").first()).toBeVisible();

  // The background pass builds it (every 10 s) and mails the person.
  await expect(async () => {
    await page.goto("/dev/outbox");
    await expect(page.locator("article", { hasText: `to ${email}` }).filter({ hasText: "Your uni1 data export is ready" })).toHaveCount(1);
  }).toPass({ timeout: 40_000 });

  await page.goto("/settings/privacy");
  await hydrated(page);
  const [download] = await Promise.all([page.waitForEvent("download"), page.getByTestId("download-export").click()]);
  expect(download.suggestedFilename()).toMatch(/^uni1-export-\d{8}-\d{6}\.zip$/);
  const file = info.outputPath("export.zip");
  await download.saveAs(file);
  const out = execFileSync("python3", [
    "-c",
    "import json, sys, zipfile\n" +
      "z = zipfile.ZipFile(sys.argv[1])\n" +
      "assert z.testzip() is None\n" +
      "for n in z.namelist():\n" +
      "    if n.endswith('.json'): json.loads(z.read(n))\n" +
      "m = json.loads(z.read('manifest.json'))\n" +
      "print(m['schema'])\n" +
      "print(json.loads(z.read('account.json'))['email'])\n",
    file,
  ]).toString();
  expect(out).toContain("uni1-export/1");
  expect(out).toContain(email);
});

test.describe("account deletion", () => {
  // The first try leaves the box unticked on purpose: a 422 with its message.
  test.use({ expectedStatuses: [422] });

  test("deletion: asked with the password, shown with its date, and taken back", async ({ page }) => {
    const email = uniqueEmail("leaver");
    await signUp(page, "Lee Leaver", email);
    await confirmFromOutbox(page, email);
    await signIn(page, email);
    await expect(page).toHaveURL(/\/studio$/);

    await page.goto("/settings/privacy");
    await hydrated(page);
    await page.getByText("Delete my account", { exact: true }).first().click();
    // Without the box ticked: a clear error, nothing scheduled.
    await page.getByLabel("Your password").fill(PASSWORD);
    await page.getByTestId("delete-account").click();
    await expect(page.getByText("Tick the box to confirm")).toBeVisible();
    await page.getByLabel("I understand that my account").check();
    await page.getByTestId("delete-account").click();
    await expect(page.getByTestId("deletion-scheduled")).toContainText("Your account will be deleted on");

    // Every page says so until it is taken back.
    await page.goto("/gallery");
    await hydrated(page);
    await expect(page.getByTestId("deletion-banner")).toBeVisible();
    await page.getByTestId("deletion-banner").getByRole("link", { name: "Keep my account" }).click();
    await expect(page).toHaveURL(/\/settings\/privacy$/);
    await hydrated(page);
    await page.getByTestId("cancel-deletion").click();
    await expect(page.getByTestId("deletion-scheduled")).toHaveCount(0);
    await expect(page.getByTestId("requests")).toContainText("Account deletion");
    await expect(page.getByTestId("requests")).toContainText("Canceled");
    await page.goto("/gallery");
    await expect(page.getByTestId("deletion-banner")).toHaveCount(0);
  });
});

test.describe("profile picture", () => {
  // The text file is refused with a 422 and its message.
  test.use({ expectedStatuses: [422] });

  test("picture: a wrong file is refused, a picture is shown in the menu, then removed", async ({ page }) => {
    const email = uniqueEmail("picture");
    await signUp(page, "Pia Picture", email);
    await confirmFromOutbox(page, email);
    await signIn(page, email);
    await expect(page).toHaveURL(/\/studio$/);

    await page.goto("/settings/privacy");
    await hydrated(page);
    await expect(page.getByTestId("no-picture")).toBeVisible();
    await page.getByLabel("Upload a picture").setInputFiles({ name: "notes.txt", mimeType: "text/plain", buffer: Buffer.from("not an image") });
    await expect(page.getByTestId("picture-note")).toContainText("not a PNG, JPEG or WebP image");

    // A 2×1 PNG: cropped to a square, re-encoded, stored encrypted.
    const png = Buffer.from(
      "iVBORw0KGgoAAAANSUhEUgAAAAIAAAABCAIAAAB7QOjdAAAADUlEQVR4nGP4zwAE/wEHAAH/4iOeWQAAAABJRU5ErkJggg==",
      "base64",
    );
    await page.getByLabel("Upload a picture").setInputFiles({ name: "me.png", mimeType: "image/png", buffer: png });
    await expect(page.getByTestId("picture")).toBeVisible();
    await expect(page.getByTestId("menu-picture")).toBeVisible();
    const src = await page.getByTestId("picture").getAttribute("src");
    expect(src).toMatch(/^\/settings\/profile\/picture\/[0-9a-f-]{36}\.webp$/);
    const image = await page.request.get(src!);
    expect(image.status()).toBe(200);
    expect(image.headers()["content-type"]).toBe("image/webp");

    await page.getByTestId("remove-picture").click();
    await expect(page.getByTestId("no-picture")).toBeVisible();
    await expect(page.getByTestId("menu-picture")).toHaveCount(0);
  });
});
