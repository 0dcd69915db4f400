// Browser tests against a running uni1 (scripts/test.sh starts one and sets
// UNI1_E2E_BASE_URL). Uses the system Chromium; never downloads a browser.
import { defineConfig, devices } from "@playwright/test";

const chromium = {
  executablePath: process.env.UNI1_CHROMIUM ?? "/usr/bin/chromium",
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
};

export default defineConfig({
  testDir: "./tests",
  outputDir: "./test-results",
  fullyParallel: true,
  workers: 2,
  retries: 0,
  reporter: [["list"]],
  // Two workers on two cores next to the server and its worker: the
  // longest tests take 25-30 s on a loaded machine, so 30 s was no margin.
  timeout: 60_000,
  use: {
    baseURL: process.env.UNI1_E2E_BASE_URL ?? "http://127.0.0.1:3000",
    trace: "off",
  },
  projects: [
    { name: "desktop", use: { ...devices["Desktop Chrome"], launchOptions: chromium } },
    { name: "mobile", use: { ...devices["Pixel 7"], launchOptions: chromium } },
  ],
});
