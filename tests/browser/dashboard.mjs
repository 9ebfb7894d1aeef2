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
  out.unlabelled = await unlabelledControls(page);
  out.screenshots.push(await shot(page, "01-dashboard"));
  await page.goto(BASE + "/rubrics");
  out.rubricVersions = await page.locator("section[id^=rubric-] > p > strong").allTextContents();
  out.history = await page.locator("table.history tbody tr").count();
  out.unlabelledRubrics = await unlabelledControls(page);
  out.screenshots.push(await shot(page, "02-rubrics"));
  await browser.close();
  report(out);
});
