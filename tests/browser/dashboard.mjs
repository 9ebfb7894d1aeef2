// Enablement opens the program dashboard and the rubric page.
// Env: BASE_URL, TOKEN, SCREENSHOT_DIR.
import { BASE, launch, main, report, shot, signIn, unlabelledControls } from "./lib.mjs";

main(async () => {
  const browser = await launch();
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const out = { screenshots: [] };
  await signIn(page, process.env.TOKEN);
  out.landedOn = page.url();
  out.charts = await page.locator("svg[role=img]").evaluateAll((svgs) => svgs.map((s) => ({
    id: s.id,
    title: s.querySelector("title").textContent,
    box: (() => { const r = s.getBoundingClientRect(); return [Math.round(r.width), Math.round(r.height)]; })(),
    points: s.querySelectorAll("circle.dot").length,
    bars: Array.from(s.querySelectorAll("rect.bar")).map((b) => ({
      cls: b.getAttribute("class"),
      rate: b.getAttribute("data-rate"),
      share: b.getAttribute("data-share"),
      count: b.getAttribute("data-count"),
    })),
  })));
  out.notes = await page.locator(".chart .notice").allTextContents();
  // Axis labels as drawn on screen, in CSS pixels: readable without zooming.
  out.smallestLabelPx = await page.locator(".chart svg text").evaluateAll((texts) =>
    Math.min(...texts.map((t) => t.getBoundingClientRect().height).filter((h) => h > 0)));
  // Each chart's numbers are also a table, for screen readers and for copying.
  out.tables = await page.locator(".chart table").count();
  // AI–reviewer agreement: its table rows and any alerts at the top.
  out.agreementTitle = await page.locator("#agreement h2").textContent();
  out.agreementRows = await page.locator("#agreement > table tbody tr").evaluateAll((rows) =>
    rows.map((r) => Array.from(r.querySelectorAll("td")).map((td) => td.textContent)));
  out.alerts = await page.locator(".alert").allTextContents();
  out.unlabelled = await unlabelledControls(page);
  out.screenshots.push(await shot(page, "01-dashboard"));
  await page.goto(BASE + "/rubrics");
  out.rubricVersions = await page.locator("section[id^=rubric-] > p > strong").allTextContents();
  out.history = await page.locator("table.history tbody tr").count();
  out.unlabelledRubrics = await unlabelledControls(page);
  out.screenshots.push(await shot(page, "02-rubrics"));
  // Replay a stricter edit of the graded rubric against the past grades.
  out.replayLinks = await page.locator("a[id^=replay-]").count();
  await page.goto(BASE + "/rubrics/replay?rubric=" + process.env.REPLAY_RUBRIC);
  const text = await page.locator("#replay-text").inputValue();
  out.replayPrefilled = text.includes('id = "' + process.env.REPLAY_RUBRIC + '"');
  await page.locator("#replay-text").fill(
    text.replace(/^version = \d+/m, "version = 99").replace(/^score = \d+/m, "score = 99"));
  await page.getByRole("button", { name: "Replay" }).click();
  await page.waitForSelector("#replay-result", { timeout: 60000 });
  out.replayHeading = (await page.locator("#replay-result-h").textContent()).trim();
  out.replayTransitions = await page.locator("#replay-transitions tbody tr").evaluateAll((rows) =>
    rows.map((r) => Array.from(r.cells).map((c) => c.textContent.trim())));
  out.replayChanged = await page.locator("#replay-changed tbody tr").count();
  out.replayFirstAttempt = (await page.locator("#replay-first-attempt").textContent()).trim();
  out.replayCriteria = await page.locator("#replay-criteria tbody tr").count();
  out.unlabelledReplay = await unlabelledControls(page);
  out.screenshots.push(await shot(page, "03-replay"));
  await browser.close();
  report(out);
});
