// Account steps shared by the browser tests.
import { expect, hydrated } from "./fixtures";
import type { Page } from "@playwright/test";

export const PASSWORD = "correct horse battery staple";

export function uniqueEmail(tag: string) {
  return `${tag}-${Date.now()}-${Math.floor(Math.random() * 1e6)}@example.org`;
}

export async function signUp(page: Page, name: string, email: string, js = true) {
  await page.goto("/sign-up");
  if (js) await hydrated(page);
  await page.getByLabel("Your name").fill(name);
  await page.getByLabel("E-mail").fill(email);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByLabel("I am 18 years old or older.").check();
  await page.getByLabel(/I accept the/).check();
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page.getByTestId("sign-up-done")).toBeVisible();
}

export async function signIn(page: Page, email: string) {
  await page.goto("/sign-in");
  await hydrated(page);
  await page.getByLabel("E-mail").fill(email);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
}

/** Opens the newest confirmation link for `email` from the dev outbox and confirms. */
export async function confirmFromOutbox(page: Page, email: string) {
  await page.goto("/dev/outbox");
  const mail = page.locator("article", { hasText: `to ${email}` }).filter({ hasText: "Confirm your e-mail address" });
  const text = await mail.locator("pre").textContent();
  const link = new URL(/http:\/\/[^\s]+\/confirm-email\?token=[A-Za-z0-9_-]+/.exec(text ?? "")![0]);
  await page.goto(link.pathname + link.search);
  await hydrated(page);
  await page.getByRole("button", { name: "Confirm my address" }).click();
  await expect(page.getByTestId("email-confirmed")).toBeVisible();
}
