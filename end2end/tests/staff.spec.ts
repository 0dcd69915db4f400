// Staff pages in a browser: an account made admin from the command line,
// with two-factor on, records an incident, sees the 72-hour clock on every
// staff page, notifies the affected people and sees the clock stop; the
// audit log lists what was done. Someone who is not staff gets a 404.
import AxeBuilder from "@axe-core/playwright";
import type { Page } from "@playwright/test";
import { createHmac } from "node:crypto";
import { execFileSync } from "node:child_process";
import { test, expect, hydrated } from "./fixtures";
import { uniqueEmail, signUp, signIn, confirmFromOutbox, PASSWORD } from "./helpers";

/** RFC 6238 TOTP (SHA-1, 6 digits, 30 s) for a base32 secret. */
function totp(secret: string): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const c of secret.replace(/=+$/, "").toUpperCase()) bits += alphabet.indexOf(c).toString(2).padStart(5, "0");
  const key = Buffer.from(bits.match(/.{8}/g)!.map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 1000 / 30)));
  const mac = createHmac("sha1", key).update(counter).digest();
  const offset = mac[mac.length - 1] & 0xf;
  const code = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return code.toString().padStart(6, "0");
}

/** `uni1 admin set-role` against the test server's database. */
function setRole(email: string, role: string) {
  const bin = process.env.UNI1_E2E_BIN;
  const data = process.env.UNI1_E2E_DATA_DIR;
  if (!bin || !data) throw new Error("UNI1_E2E_BIN and UNI1_E2E_DATA_DIR are set by scripts/test.sh");
  execFileSync(bin, ["admin", "set-role", "--email", email, "--role", role], { env: { ...process.env, UNI1_DATA_DIR: data } });
}

/** axe-core (WCAG 2.1 A and AA) on the current page: no violations. */
async function noAxeViolations(page: Page) {
  // After a client-side navigation (a search form) the router sets the new
  // title a moment later: check the page, not the transition.
  await expect(page).toHaveTitle(/\S/);
  const result = await new AxeBuilder({ page }).withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]).analyze();
  const found = result.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
  expect(found, `accessibility violations on ${page.url()}`).toEqual([]);
}

/** A new admin with two-factor on, signed in. */
async function newAdmin(page: Page, name: string) {
  const email = uniqueEmail("staff");
  await signUp(page, name, email);
  await confirmFromOutbox(page, email);
  setRole(email, "admin");
  await signIn(page, email);
  await expect(page).toHaveURL(/\/studio$/);
  await page.goto("/settings/security");
  await hydrated(page);
  await page.getByRole("button", { name: "Set up two-factor authentication" }).click();
  const secret = (await page.getByTestId("totp-secret").textContent())!.trim();
  await page.getByLabel("The 6-digit code your app shows").fill(totp(secret));
  await page.getByRole("button", { name: "Turn on" }).click();
  await expect(page.getByTestId("recovery-codes")).toBeVisible();
  return email;
}

test.describe("staff", () => {
  test.use({ expectedStatuses: [403, 404] });
  test.describe.configure({ timeout: 120_000 });

  test("an incident: record, the clock, notify, the audit log", async ({ page }) => {
    const email = uniqueEmail("staff");
    await signUp(page, "Sam Staff", email);
    await confirmFromOutbox(page, email);
    await signIn(page, email);
    await expect(page).toHaveURL(/\/studio$/);
    // Not staff yet: the staff pages do not exist for this account.
    const response = await page.goto("/admin");
    expect(response!.status()).toBe(404);

    // A role change ends the person's sessions: sign in again.
    setRole(email, "admin");
    await signIn(page, email);
    await expect(page).toHaveURL(/\/studio$/);
    await page.goto("/admin");
    await hydrated(page);
    await expect(page.getByTestId("staff-refused")).toContainText("two-factor");
    await page.goto("/settings/security");
    await hydrated(page);
    await page.getByRole("button", { name: "Set up two-factor authentication" }).click();
    const secret = (await page.getByTestId("totp-secret").textContent())!.trim();
    await page.getByLabel("The 6-digit code your app shows").fill(totp(secret));
    await page.getByRole("button", { name: "Turn on" }).click();
    await expect(page.getByTestId("recovery-codes")).toBeVisible();

    await page.goto("/admin/incidents");
    await hydrated(page);
    // Other tests may record incidents on the same server at the same time:
    // this one is found by its own title.
    const title = `Leaked log file ${Date.now()}-${Math.floor(Math.random() * 1e6)}`;
    const form = page.getByTestId("record-incident");
    await form.getByLabel("Title").fill(title);
    await form.getByLabel("What happened").fill("A log file with e-mail addresses was public for an hour.");
    await form.getByLabel("What we are doing").fill("We removed it and changed the log settings.");
    await form.getByLabel("What people should do").fill("Nothing; be wary of phishing mails.");
    await form.getByLabel("Categories of personal data").fill("e-mail addresses");
    const discovered = new Date(Date.now() - 3600_000).toISOString().slice(0, 16);
    await form.getByLabel("Discovered at (UTC)").fill(discovered);
    await form.getByLabel("These addresses, one per line:").check();
    await form.getByLabel("Affected addresses").fill(email);
    await form.getByRole("button", { name: "Record the incident" }).click();

    const incident = page.getByTestId("incident").filter({ hasText: title });
    await expect(incident).toHaveCount(1);
    await expect(incident.getByTestId("affected")).toContainText("1 (1 listed addresses)");
    // The clock is on every staff page.
    await page.goto("/admin/audit");
    await hydrated(page);
    const clock = page.getByTestId("incident-clock").locator("li").filter({ hasText: title });
    await expect(clock.getByTestId("clock-remaining")).toHaveText(/^(70|71) h \d+ min left$/);
    await page.goto("/admin/incidents");
    await hydrated(page);
    await incident.getByTestId("notify").click();
    await expect(incident.getByTestId("notification")).toContainText("1 told");
    await expect(page.getByTestId("incident-clock").locator("li").filter({ hasText: title })).toHaveCount(0);

    // The person's notice is in the mail queue.
    await page.goto("/dev/outbox");
    await expect(page.locator("article", { hasText: `to ${email}` }).filter({ hasText: "security incident" })).toHaveCount(1);

    await page.goto("/admin/audit?action=incident.");
    await hydrated(page);
    const log = page.getByTestId("audit-log");
    await expect(log).toContainText("incident.record");
    await expect(log).toContainText("incident.notify");
  });

  test("people: search, a person's page, disabling with a reason; every staff page passes axe", async ({ page, browser }) => {
    await newAdmin(page, "Pat People");
    // Someone to look for, signed in in a browser of their own.
    const email = uniqueEmail("person");
    const theirs = await browser.newContext();
    const them = await theirs.newPage();
    await signUp(them, "Quinn Person", email);
    await confirmFromOutbox(them, email);
    await signIn(them, email);
    await expect(them).toHaveURL(/\/studio$/);

    await page.goto("/admin/users");
    await hydrated(page);
    const search = page.getByTestId("people-search");
    await search.getByLabel("E-mail or name").fill(email.toUpperCase());
    await search.getByRole("button", { name: "Search" }).click();
    await expect(page).toHaveURL(/q=/);
    const row = page.getByTestId("person-row");
    await expect(row).toHaveCount(1);
    await expect(row).toContainText("Quinn Person");
    await noAxeViolations(page);
    await row.getByRole("link", { name: email }).click();
    await expect(page.getByTestId("person")).toContainText(email);
    await expect(page.getByRole("table", { name: "Sessions" })).toContainText("live");
    await noAxeViolations(page);

    const disable = page.getByTestId("disable-form");
    await disable.getByLabel("Reason (goes into the audit log)").fill("Sharing the account");
    await disable.getByRole("button", { name: /Disable the account/ }).click();
    await expect(page.getByTestId("disabled-reason")).toContainText("Sharing the account");
    // Their session is over, and signing in says why.
    await them.goto("/studio");
    await expect(them.getByTestId("signed-in-as")).toHaveCount(0);
    await them.goto("/sign-in");
    await hydrated(them);
    await them.getByLabel("E-mail").fill(email);
    await them.getByLabel("Password").fill(PASSWORD);
    await them.getByRole("button", { name: "Sign in" }).click();
    await expect(them.getByRole("alert").filter({ hasText: "disabled" })).toContainText("Sharing the account");
    await theirs.close();

    // The other staff pages render and pass axe.
    for (const path of ["/admin/privacy", "/admin/payments", "/admin/moderation", "/admin/health", "/admin/audit?action=user."]) {
      await page.goto(path);
      await hydrated(page);
      await expect(page.getByRole("heading", { level: 1 })).toBeVisible();
      await noAxeViolations(page);
    }
    await expect(page.getByTestId("audit-log")).toContainText("user.disable");
  });

  test("the dashboard draws its charts; an announcement is previewed and tested", async ({ page }) => {
    const email = await newAdmin(page, "Dana Dashboard");
    await page.goto("/admin");
    await hydrated(page);
    const dashboard = page.getByTestId("dashboard");
    await expect(dashboard.locator('svg[role="img"]').first()).toBeVisible();
    await expect(dashboard.getByRole("img", { name: "Sign-ups per day" })).toBeVisible();
    await expect(page.getByTestId("today")).toContainText("Sign-ups");
    await noAxeViolations(page);

    await page.goto("/admin/announcements");
    await hydrated(page);
    const subject = `Maintenance ${Date.now()}`;
    const compose = page.getByTestId("compose");
    await compose.getByLabel("Subject").fill(subject);
    await compose.getByLabel("Text").fill("We update the servers on Sunday.\n\nThe studio pauses for ten minutes.");
    await compose.getByRole("button", { name: "Preview" }).click();
    const preview = page.getByTestId("preview");
    await expect(preview.getByTestId("preview-subject")).toHaveText(subject);
    await expect(preview.getByTestId("preview-text")).toContainText("The studio pauses for ten minutes.");
    await noAxeViolations(page);
    await preview.getByRole("button", { name: "Send a test to myself" }).click();
    await expect(preview).toContainText(`A test is queued to ${email}.`);
    await page.goto("/dev/outbox");
    await expect(page.locator("article", { hasText: `to ${email}` }).filter({ hasText: subject })).toHaveCount(1);
  });

  test("a pack refunded from its order page; a refused prompt decided in the moderation queue", async ({ page, browser }) => {
    // A buyer, in a browser of their own: a pack, and a prompt the site
    // refuses (scripts/test.sh blocks "uni1forbidden").
    const buyer = uniqueEmail("refund");
    const theirs = await browser.newContext();
    const them = await theirs.newPage();
    await signUp(them, "Rae Refund", buyer);
    await confirmFromOutbox(them, buyer);
    await signIn(them, buyer);
    await expect(them).toHaveURL(/\/studio$/);
    await hydrated(them);
    const marker = `lighthouse ${Date.now()}`;
    await them.getByLabel("Prompt", { exact: true }).fill(`a uni1forbidden ${marker}`);
    await them.getByRole("button", { name: "Generate" }).click();
    await expect(them.getByTestId("job").first().getByTestId("job-status")).toHaveText("Refused");
    await them.goto("/pricing");
    await hydrated(them);
    await them.locator('[data-pack="starter"]').getByRole("button", { name: /Buy for/ }).click();
    await expect(them.getByRole("heading", { name: /Test checkout/ })).toBeVisible();
    await them.getByRole("button", { name: /^Pay / }).click();
    await expect(them.getByTestId("order-paid")).toBeVisible({ timeout: 20_000 });
    await them.goto("/billing");
    await hydrated(them);
    const paid = Number(await them.getByTestId("available").textContent());

    await newAdmin(page, "Riley Refunds");
    await page.goto(`/admin/payments?email=${encodeURIComponent(buyer)}`);
    await hydrated(page);
    const orders = page.getByRole("region", { name: "Orders" });
    await expect(orders).toContainText("Starter");
    await orders.getByRole("link").first().click();
    await expect(page).toHaveURL(/\/admin\/payments\/orders\//);
    await hydrated(page);
    await expect(page.getByTestId("order")).toContainText(buyer);
    await noAxeViolations(page);
    const refund = page.getByTestId("refund-form");
    await refund.getByLabel("Amount (empty: all that is left)").fill("2.50");
    await refund.getByLabel("Reason (goes into the audit log)").fill("Asked by mail");
    await refund.getByRole("button", { name: "Refund" }).click();
    await expect(page.getByRole("status").filter({ hasText: "Refunded $2.50" })).toBeVisible();
    // The credits come back with Stripe's refund event.
    await expect(async () => {
      await page.reload();
      await expect(page.getByTestId("order")).toContainText("$2.50, 50 credits taken back", { timeout: 1000 });
    }).toPass({ timeout: 20_000 });
    await expect(page.getByRole("region", { name: "The provider's events about it" })).toContainText("charge.refunded");
    await them.reload();
    await hydrated(them);
    await expect(them.getByTestId("available")).toHaveText(String(paid - 50));
    await theirs.close();

    await page.goto("/admin/moderation");
    await hydrated(page);
    const flag = page.getByTestId("flag").filter({ hasText: marker });
    await expect(flag).toHaveCount(1);
    await noAxeViolations(page);
    const decide = flag.getByTestId("decide");
    await decide.getByLabel("Decision").selectOption("dismiss");
    await decide.getByLabel("Reason (recorded)").fill("A test prompt");
    await decide.getByRole("button", { name: "Decide" }).click();
    await expect(page.getByTestId("flag").filter({ hasText: marker })).toHaveCount(0);
    await page.goto("/admin/audit");
    await hydrated(page);
    await expect(page.getByTestId("audit-log")).toContainText("order.refund");
  });
});
