// A reviewer works a borderline grade: the queue (oldest first, with why),
// the review page (transcript follows the audio, words seek, evidence lights
// up, keyboard shortcuts), an override with a required reason; the rep's
// result page before and after shows the certification and rights change.
// Env: BASE_URL, REP_TOKEN, REVIEWER_TOKEN, SUBMISSION, CRITERION_LABEL, SCREENSHOT_DIR.
import { BASE, launch, main, report, shot, signIn, tabStops, unlabelledControls } from "./lib.mjs";

// A criterion's label as a literal inside a RegExp.
const escaped = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

// The History card: each line's action and its sentence, in page order.
const trail = (page) => page.locator("#trail li").evaluateAll((lis) =>
  lis.map((li) => ({ action: li.dataset.action, text: li.textContent.replace(/\s+/g, " ").trim() })));

async function repView(browser, name, out) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  await signIn(page, process.env.REP_TOKEN);
  await page.goto(BASE + "/submissions/" + process.env.SUBMISSION);
  const seen = {
    unlabelled: await unlabelledControls(page),
    retake: (await page.locator("#retake").textContent().catch(() => "")).replace(/\s+/g, " ").trim(),
    certification: (await page.locator("#certification").textContent().catch(() => "")).trim(),
    rights: await page.locator("#rights tbody tr").evaluateAll((rows) =>
      rows.map((r) => ({ name: r.cells[0].textContent.trim(), active: r.cells[1].textContent.trim() === "active" }))),
    reviewNote: (await page.locator("#review-note").textContent().catch(() => "")).trim(),
    finalDecision: (await page.locator("#final-decision-label").textContent({ timeout: 1000 }).catch(() => "")).trim(),
    trail: await trail(page),
  };
  out.screenshots.push(await shot(page, name));
  await ctx.close();
  return seen;
}

main(async () => {
  const browser = await launch();
  const out = { screenshots: [] };
  out.before = await repView(browser, "01-rep-before-review", out);

  const ctx = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
  const page = await ctx.newPage();
  await signIn(page, process.env.REVIEWER_TOKEN);
  out.landedOn = page.url();
  out.queue = await page.locator("#queue tbody tr").evaluateAll((rows) =>
    rows.map((r) => ({
      href: r.querySelector("a").getAttribute("href"),
      waiting: r.cells[0].textContent.trim(),
      why: Array.from(r.querySelectorAll(".why li")).map((li) => li.textContent.trim()),
    })));
  out.unlabelledQueue = await unlabelledControls(page);
  out.screenshots.push(await shot(page, "02-queue"));

  // "n" opens the first (oldest) item.
  await page.keyboard.press("n");
  await page.waitForURL(/\/review\/[0-9a-f-]+$/);
  out.openedByKey = page.url();
  if (!page.url().endsWith(process.env.SUBMISSION)) await page.goto(BASE + "/review/" + process.env.SUBMISSION);
  out.unlabelled = await unlabelledControls(page);
  // At 1280 px the scores table fits its card, and the page does not scroll sideways.
  out.criteriaOverflow = await page.evaluate(() => {
    const card = document.querySelector("#criteria").closest(".card");
    const table = document.querySelector("#criteria");
    return table.getBoundingClientRect().right > card.getBoundingClientRect().right + 1
      || document.documentElement.scrollWidth > document.documentElement.clientWidth;
  });
  // Every control of the review form is reachable with Tab alone.
  out.tabStops = await tabStops(page, 80);
  out.why = await page.locator("#why li").allTextContents();
  out.words = await page.locator(".transcript .w").count();
  await page.waitForFunction(() => document.querySelector("#player").readyState >= 1, null, { timeout: 30000 });

  // Clicking a word seeks there and plays; the spoken word is highlighted.
  const word = page.locator(".transcript .w").nth(Math.min(8, out.words - 1));
  const wordStart = parseFloat(await word.getAttribute("data-s"));
  await word.click();
  await page.waitForFunction((t) => document.querySelector("#player").currentTime >= t - 0.05, wordStart, { timeout: 10000 });
  out.wordStart = wordStart;
  await page.waitForSelector(".transcript .w.current", { timeout: 10000 });
  out.highlightedWhilePlaying = (await page.locator(".transcript .w.current").textContent()).trim();
  // Keyboard: "k" pauses, and again plays.
  await page.locator("main").focus();
  await page.keyboard.press("k");
  out.pausedByKey = await page.evaluate(() => document.querySelector("#player").paused);
  await page.keyboard.press("k");
  out.playingByKey = await page.evaluate(() => !document.querySelector("#player").paused);
  await page.keyboard.press("k");

  // Evidence for one criterion lights up in the transcript.
  const toggle = page.locator("[data-show-evidence]").first();
  out.evidenceCriterion = await toggle.getAttribute("data-show-evidence");
  await toggle.click();
  out.evidenceWords = await page.locator(".transcript .w.ev-on").count();
  out.evidencePressed = await toggle.getAttribute("aria-pressed");
  out.screenshots.push(await shot(page, "03-review-page"));

  // The reason is required: the form does not go without it.
  await page.getByLabel("Pass", { exact: true }).check();
  await page.getByRole("button", { name: "Record decision" }).click();
  out.blockedWithoutReason = await page.evaluate(() => document.querySelector("#reason").validity.valueMissing);
  out.stillOnReview = page.url().endsWith(process.env.SUBMISSION);

  // Override one criterion and the decision, with a reason.
  await page.getByLabel(new RegExp("Your verdict for " + escaped(process.env.CRITERION_LABEL), "i")).selectOption("met");
  await page.getByLabel(/Reason/).fill("Value is stated with a number at the start; the transcriber misheard it.");
  await page.getByRole("button", { name: "Record decision" }).click();
  await page.waitForSelector("#decided", { timeout: 15000 });
  out.decided = (await page.locator("#decided").textContent()).replace(/\s+/g, " ").trim();
  out.screenshots.push(await shot(page, "04-decided"));
  await page.goto(BASE + "/review/" + process.env.SUBMISSION);
  out.reviewerTrail = await trail(page);
  await page.goto(BASE + "/review");
  out.queueAfter = await page.locator("#queue tbody tr").count();
  await ctx.close();

  out.after = await repView(browser, "05-rep-after-review", out);
  await browser.close();
  report(out);
});
