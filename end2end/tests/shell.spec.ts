import { test, expect, hydrated } from "./fixtures";

test("the landing page says what uni1 does", async ({ page }) => {
  const response = await page.goto("/");
  expect(response?.status()).toBe(200);
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("Turn words into images you own.");
  await expect(page).toHaveTitle("uni1");
  for (const name of ["Privacy", "Terms", "Cookie settings", "Contact"]) {
    await expect(page.getByRole("contentinfo").getByRole("link", { name })).toBeVisible();
  }
});

test("the page hydrates: the prompt idea button responds", async ({ page }) => {
  await page.goto("/");
  await hydrated(page);
  const idea = page.getByTestId("prompt-idea");
  const first = await idea.textContent();
  await page.getByTestId("next-idea").click();
  await expect(idea).not.toHaveText(first ?? "");
});

test.describe("the 404 page", () => {
  test.use({ expectedStatuses: [404] });

  test("unknown paths show it with status 404", async ({ page }) => {
  const response = await page.goto("/this/does/not/exist");
  expect(response?.status()).toBe(404);
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("This page does not exist");
  await page.getByRole("link", { name: "Back to the start" }).click();
  await expect(page).toHaveURL(/\/$/);
  });
});

test.describe("navigation", () => {
  // 401: the studio and gallery ask for the signed-in person, and nobody is.
  test.use({ expectedStatuses: [401] });

  test("reaches every section", async ({ page, isMobile }) => {
  await page.goto("/");
  await hydrated(page);
  for (const name of ["Studio", "Gallery", "Billing", "Settings"]) {
    if (isMobile) {
      await page.getByRole("button", { name: "Menu" }).click();
      await expect(page.locator("#mobile-menu")).toBeVisible();
    }
    await page.getByRole("navigation", { name: "Main" }).or(page.locator("#mobile-menu"))
      .getByRole("link", { name }).locator("visible=true").first().click();
    await expect(page.getByRole("heading", { level: 1 })).toHaveText(name);
  }
  });
});

test.describe("the contact form", () => {
  test.use({ expectedStatuses: [422] });

  test("sends a message through a server function", async ({ page }) => {
  await page.goto("/contact");
  await hydrated(page);
  await page.getByLabel("Your name").fill("Ada");
  await page.getByLabel("Your e-mail").fill("not-an-address");
  await page.getByLabel("Message").fill("Hello from the browser test.");
  await page.getByRole("button", { name: "Send message" }).click();
  await expect(page.locator("#field-email-error")).toContainText("like name@example.com");
  await page.getByLabel("Your e-mail").fill("ada@example.org");
  await page.getByRole("button", { name: "Send message" }).click();
  await expect(page.getByTestId("contact-sent")).toBeVisible();
  });
});

test.describe("without JavaScript", () => {
  test.use({ javaScriptEnabled: false });

  test("pages are complete server-rendered HTML", async ({ page }) => {
    await page.goto("/privacy");
    await expect(page.getByRole("heading", { level: 1 })).toHaveText("Privacy");
    await expect(page.getByTestId("policy-updated")).toContainText("Last updated:");
    await expect(page.getByText(/It is operated by/)).toBeVisible();
  });
});

test("anyone can report an account that may belong to a minor", async ({ page }) => {
  await page.goto("/");
  await page.getByRole("contentinfo").getByRole("link", { name: "Report underage use" }).click();
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("Report an underage account");
  await hydrated(page);
  await page.getByLabel("Which account?").fill("young-user@example.org");
  await page.getByLabel("Why do you think so?").fill("Their shared images say they are in year 8.");
  await page.getByRole("button", { name: "Send the report" }).click();
  await expect(page.getByTestId("report-sent")).toBeVisible();
});
