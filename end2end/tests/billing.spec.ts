// Buying credits: pricing -> the payment provider's checkout (the project's
// Stripe fake, started by scripts/test.sh) -> back on the site, which waits
// for the signed webhook -> the billing page with the new balance, and the
// receipt in the outbox.
import { test, expect, hydrated } from "./fixtures";
import { uniqueEmail, signUp, signIn, confirmFromOutbox } from "./helpers";

test("a pack bought through the checkout adds its credits once, with a receipt", async ({ page }) => {
  const email = uniqueEmail("buyer");
  await signUp(page, "Bea Buyer", email);
  await confirmFromOutbox(page, email);
  await signIn(page, email);
  await expect(page).toHaveURL(/\/studio$/);

  await page.goto("/billing");
  await hydrated(page);
  const before = Number(await page.getByTestId("available").textContent());

  await page.goto("/pricing");
  await hydrated(page);
  const starter = page.locator('[data-pack="starter"]');
  await expect(starter).toContainText("100 credits");
  await starter.getByRole("button", { name: /Buy for/ }).click();

  // The provider's page (another origin).
  await expect(page.getByRole("heading", { name: /Test checkout/ })).toBeVisible();
  await page.getByRole("button", { name: /^Pay / }).click();

  await expect(page).toHaveURL(/\/billing\/return\?order=/);
  await expect(page.getByTestId("order-paid")).toBeVisible({ timeout: 20_000 });

  await page.goto("/billing");
  await hydrated(page);
  await expect(page.getByTestId("available")).toHaveText(String(before + 100));
  await expect(page.getByTestId("orders")).toContainText("Starter");
  await expect(page.getByTestId("history")).toContainText("Purchase: Starter");

  // The provider's portal (payment methods, invoices), and back.
  await page.getByRole("button", { name: "Payment methods and invoices" }).click();
  await expect(page.getByRole("heading", { name: /Test customer portal/ })).toBeVisible();
  await expect(page.locator("li").first()).toContainText("5.00 USD");
  await page.getByRole("link", { name: "Return to the site" }).click();
  await expect(page).toHaveURL(/\/billing$/);

  await page.goto("/dev/outbox");
  const receipt = page.locator("article", { hasText: `to ${email}` }).filter({ hasText: "Your receipt: Starter" });
  await expect(receipt.first()).toContainText("100 credits");
});

test("a plan bought through the checkout shows on the billing page with its expiring credits", async ({ page }) => {
  const email = uniqueEmail("subscriber");
  await signUp(page, "Sam Subscriber", email);
  await confirmFromOutbox(page, email);
  await signIn(page, email);
  await expect(page).toHaveURL(/\/studio$/);

  await page.goto("/pricing");
  await hydrated(page);
  const monthly = page.locator('[data-plan="monthly"]');
  await expect(monthly).toContainText("300 credits every month");
  await monthly.getByRole("button", { name: /Subscribe for/ }).click();

  await expect(page.getByRole("heading", { name: /Test checkout/ })).toBeVisible();
  await page.getByRole("button", { name: /^Pay / }).click();
  await expect(page).toHaveURL(/\/billing\/return\?order=/);
  // Paid only once the plan's first invoice has granted its credits.
  await expect(page.getByTestId("order-paid")).toBeVisible({ timeout: 20_000 });

  await page.goto("/billing");
  await hydrated(page);
  await expect(page.getByTestId("plan-state")).toContainText("Your plan: Monthly");
  await expect(page.getByTestId("plan-state")).toContainText("Renews on");
  await expect(page.getByTestId("expiring")).toContainText("300 of them are plan credits");
  await expect(page.getByRole("link", { name: "Invoice" })).toBeVisible();
  await expect(page.getByRole("button", { name: /Manage subscription/ })).toBeVisible();
});
