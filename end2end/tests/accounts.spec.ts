import { test, expect, hydrated } from "./fixtures";
import { PASSWORD, uniqueEmail, signUp, signIn } from "./helpers";

test.describe("accounts", () => {
  // 422: refused form input; 401: the security page asked for while signed out.
  test.use({ expectedStatuses: [422, 401] });

  test("sign up, sign in, confirm the address from the outbox, see the session, sign out", async ({ page }) => {
    const email = uniqueEmail("ada");
    await signUp(page, "Ada Lovelace", email);
    await signIn(page, email);
    await expect(page).toHaveURL(/\/studio$/);
    await expect(page.getByTestId("signed-in-as")).toHaveText("Ada Lovelace");
    await expect(page.getByText("Confirm your e-mail address with the link we sent you.")).toBeVisible();

    // Development mode: the mail is readable at /dev/outbox.
    await page.goto("/dev/outbox");
    const mail = page.locator("article", { hasText: `to ${email}` }).filter({ hasText: "Confirm your e-mail address" });
    const text = await mail.locator("pre").textContent();
    const link = /http:\/\/[^\s]+\/confirm-email\?token=[A-Za-z0-9_-]+/.exec(text ?? "")?.[0];
    expect(link, "a confirmation link in the mail").toBeTruthy();
    await page.goto(new URL(link!).pathname + new URL(link!).search);
    await hydrated(page);
    await page.getByRole("button", { name: "Confirm my address" }).click();
    await expect(page.getByTestId("email-confirmed")).toBeVisible();

    await page.goto("/settings/security");
    await expect(page.getByRole("heading", { name: "Signed-in devices" })).toBeVisible();
    await expect(page.getByTestId("active-sessions").getByText("This device")).toBeVisible();
    await expect(page.getByTestId("history")).toContainText("Signed in");
    await expect(page.getByTestId("history")).toContainText("Address confirmed");
    await expect(page.getByText("Confirm your e-mail address with the link")).toHaveCount(0);

    await hydrated(page);
    await page.getByRole("button", { name: "Sign out" }).first().click();
    await expect(page.getByRole("link", { name: "Sign in" })).toBeVisible();
    await page.goto("/settings/security");
    await expect(page.getByText("to see your sessions")).toBeVisible();
  });

  test("the sign-up form explains what is missing", async ({ page }) => {
    await page.goto("/sign-up");
    await hydrated(page);
    await page.getByLabel("Your name").fill("Kim");
    await page.getByLabel("E-mail").fill(uniqueEmail("kim"));
    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByLabel(/I accept the/).check();
    await page.getByRole("button", { name: "Create account" }).click();
    await expect(page.locator("#field-adult-error")).toContainText("only for adults");
    await page.getByLabel("Password").fill("password1");
    await page.getByLabel("I am 18 years old or older.").check();
    await page.getByRole("button", { name: "Create account" }).click();
    await expect(page.locator("#field-password-error")).toContainText("common");
  });

  test("a wrong password gets a plain answer", async ({ page }) => {
    await signIn(page, uniqueEmail("nobody"));
    await expect(page.getByTestId("form-error")).toHaveText("The e-mail address or password is not right.");
  });
});

test.describe("accounts without JavaScript", () => {
  test.use({ javaScriptEnabled: false });

  test("signing up and in work as plain forms", async ({ page }) => {
    const email = uniqueEmail("nojs");
    await signUp(page, "No Script", email, false);
    await expect(page).toHaveURL(/\/sign-up\?done=1$/);

    await page.goto("/sign-in?next=/settings/security");
    await page.getByLabel("E-mail").fill(email);
    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect(page).toHaveURL(/\/settings\/security$/);
    await expect(page.getByTestId("active-sessions").getByText("This device")).toBeVisible();
  });
});

test.describe("sign in with a provider", () => {
  test("Google, through the provider's own login form, then the 18+ attestation", async ({ page }) => {
    const email = uniqueEmail("g");
    await page.goto("/sign-in");
    await hydrated(page);
    await page.getByRole("link", { name: "Continue with Google" }).click();
    // The local OpenID provider's login page.
    await page.getByLabel("Email").fill(email);
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect(page.getByRole("heading", { name: "Finish creating your account" })).toBeVisible();
    await expect(page.getByText(email)).toBeVisible();
    await hydrated(page);
    await page.getByLabel("I am 18 years old or older.").check();
    await page.getByLabel(/I accept the/).check();
    await page.getByRole("button", { name: "Create my account" }).click();
    await expect(page).toHaveURL(/\/studio$/);
    await expect(page.getByTestId("signed-in-as")).toHaveText(/^Test g-/);
    await page.goto("/settings/security");
    await expect(page.getByTestId("sign-in-methods")).toContainText("Google");
    await expect(page.getByRole("link", { name: "Link GitHub" })).toBeVisible();
  });
});
