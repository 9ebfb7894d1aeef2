// Shared helpers for the browser scripts that tests/web_browser.rs runs.
// Each script reads its inputs from the environment, drives Debian's headless
// Chromium through playwright-core, saves screenshots into SCREENSHOT_DIR, and
// prints one JSON object of what it saw on its last stdout line; the Rust test
// asserts on that against the database.
import { chromium } from "playwright-core";
import path from "node:path";

export const BASE = process.env.BASE_URL;
export const SHOTS = process.env.SCREENSHOT_DIR;

export async function launch(extraArgs = []) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    // --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
    args: ["--no-sandbox", "--autoplay-policy=no-user-gesture-required", ...extraArgs],
  });
}

export async function shot(page, name) {
  const file = path.join(SHOTS, name + ".png");
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

// Signs in through the form, by its label, as a person would.
export async function signIn(page, token) {
  await page.goto(BASE + "/");
  await page.getByLabel("Access token").fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForLoadState("domcontentloaded");
}

// Every form control has an accessible name (label, aria-label or labelled-by).
export async function unlabelledControls(page) {
  return page.evaluate(() => {
    const bad = [];
    for (const el of document.querySelectorAll("input:not([type=hidden]), select, textarea, button, audio[controls]")) {
      const byLabel = el.labels && el.labels.length > 0;
      const aria = el.getAttribute("aria-label") || el.getAttribute("aria-labelledby");
      const text = (el.textContent || "").trim();
      const wrapped = el.closest("label");
      if (!byLabel && !aria && !(el.tagName === "BUTTON" && text) && !wrapped) bad.push(el.outerHTML.slice(0, 120));
    }
    return bad;
  });
}

// Tabs through the page and returns what got focus, to prove keyboard reach.
export async function tabStops(page, count) {
  const seen = [];
  for (let i = 0; i < count; i++) {
    await page.keyboard.press("Tab");
    seen.push(await page.evaluate(() => {
      const el = document.activeElement;
      return el ? (el.id || el.getAttribute("name") || el.textContent.trim().slice(0, 40) || el.tagName) : null;
    }));
  }
  return seen;
}

export function report(result) {
  console.log(JSON.stringify(result));
}

export async function main(run) {
  try {
    await run();
  } catch (err) {
    console.error(err && err.stack ? err.stack : String(err));
    process.exit(1);
  }
}
