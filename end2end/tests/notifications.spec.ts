// Settings -> Notifications in a browser: turn on the mail for
// generations that finish while you are away, start one without the studio
// open (nobody watching), get the mail, follow its unsubscribe link to the
// confirmation page, press the button, and see the switch off again.
import { test, expect, hydrated } from "./fixtures";
import { uniqueEmail, signUp, signIn, confirmFromOutbox, PASSWORD } from "./helpers";

test("a generation mail while away, and its one-click unsubscribe page", async ({ page }) => {
  const email = uniqueEmail("notify");
  await signUp(page, "Nora Notify", email);
  await confirmFromOutbox(page, email);
  // Signed in straight to the settings: the studio (whose progress stream
  // marks the person as watching for 30 s) is never opened.
  await page.goto("/sign-in?next=/settings");
  await hydrated(page);
  await page.getByLabel("E-mail").fill(email);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL((url) => url.pathname === "/settings");
  await expect(page.getByTestId("signed-in-as")).toBeVisible();

  await page.goto("/settings");
  await hydrated(page);
  await page.getByRole("link", { name: /Notifications/ }).click();
  await expect(page).toHaveURL(/\/settings\/notifications$/);
  await hydrated(page);
  await expect(page.getByTestId("transactional")).toContainText("cannot be turned off");
  const done = page.locator('[data-mail="generation_done"]');
  await expect(done).toHaveAttribute("data-on", "false");
  await page.getByTestId("toggle-generation_done").click();
  await expect(done).toHaveAttribute("data-on", "true");
  await expect(done.getByRole("button")).toHaveText("Turn off");

  // Start a generation with no studio open: nobody follows it.
  const origin = new URL(page.url()).origin;
  const r = await page.request.post("/api/generate", {
    headers: { origin, accept: "application/json" },
    form: {
      form_key: `key-notify-${Date.now()}-1`,
      model: "builtin",
      prompt: "a lighthouse at dusk",
      aspect_ratio: "1:1",
      count: "1",
    },
  });
  expect(r.status()).toBe(200);

  let text = "";
  await expect(async () => {
    await page.goto("/dev/outbox");
    const mail = page.locator("article", { hasText: `to ${email}` }).filter({ hasText: "Your image is ready" });
    await expect(mail).toHaveCount(1);
    text = (await mail.locator("pre").textContent()) ?? "";
  }).toPass({ timeout: 45_000 });
  const link = new URL(/http:\/\/[^\s]+\/unsubscribe\/[A-Za-z0-9._-]+/.exec(text)![0]);

  // The link asks first; the button unsubscribes.
  await page.goto(link.pathname);
  await expect(page.getByTestId("unsubscribe")).toContainText("Stop getting mails when a generation finishes");
  await page.getByTestId("unsubscribe-confirm").click();
  await expect(page.getByTestId("unsubscribed")).toBeVisible();

  await page.goto("/settings/notifications");
  await hydrated(page);
  await expect(page.locator('[data-mail="generation_done"]')).toHaveAttribute("data-on", "false");
});

test("marketing consent is recorded with its time", async ({ page }) => {
  const email = uniqueEmail("news");
  await signUp(page, "Ned News", email);
  await confirmFromOutbox(page, email);
  await signIn(page, email);
  await expect(page).toHaveURL(/\/studio$/);
  await page.goto("/settings/notifications");
  await hydrated(page);
  const news = page.locator('[data-mail="marketing"]');
  await expect(news).toContainText("Off (the default)");
  await page.getByTestId("toggle-marketing").click();
  await expect(news).toHaveAttribute("data-on", "true");
  await expect(news).toContainText(/On since \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC on this page/);
});
