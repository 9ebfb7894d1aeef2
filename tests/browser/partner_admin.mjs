// A partner admin opens their firm's page: roster with statuses, coverage
// chart, tier forecast, a rep's latest result; another firm's page and
// grades read as missing, and recordings are not theirs to play.
// Env: BASE_URL, TOKEN, OWN_SUBMISSION, OTHER_SUBMISSION, SCREENSHOT_DIR.
import { BASE, launch, main, report, shot, signIn, unlabelledControls } from "./lib.mjs";

main(async () => {
  const browser = await launch();
  // 1280 px: a laptop; the page must fit without sideways scrolling.
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const out = { screenshots: [] };
  await signIn(page, process.env.TOKEN);
  out.landedOn = page.url();
  out.heading = (await page.locator("h1").textContent()).trim();
  out.nav = await page.locator("header nav a").allTextContents();
  out.tier = (await page.locator("#firm-tier").textContent()).trim();
  out.forecast = (await page.locator("#forecast").textContent()).trim();
  out.roster = await page.locator("#roster tbody tr").evaluateAll((rows) => rows.map((r) => ({
    id: r.id,
    status: r.dataset.status,
    text: r.querySelector(".badge").textContent.trim(),
    link: r.querySelector("a") ? r.querySelector("a").getAttribute("href") : null,
  })));
  out.coverageBars = await page.locator("#svg-firm-coverage rect.bar").evaluateAll((bars) =>
    bars.map((b) => b.getAttribute("data-share")));
  out.overflows = await page.evaluate(() =>
    document.documentElement.scrollWidth > document.documentElement.clientWidth);
  out.unlabelled = await unlabelledControls(page);
  out.screenshots.push(await shot(page, "01-firm"));

  // The latest result of one of their reps, by the roster's link.
  await page.locator("#rep-alice a").click();
  await page.waitForLoadState("domcontentloaded");
  out.resultUrl = page.url();
  out.resultHeading = (await page.locator("h1").textContent()).trim();
  out.criteria = await page.locator("#criteria tbody tr").count();
  out.players = await page.locator("audio").count();
  out.screenshots.push(await shot(page, "02-result"));

  const status = async (path) => (await page.goto(BASE + path)).status();
  out.otherFirm = await status("/firms/globex");
  out.ownFirmByPath = await status("/firms/acme");
  out.otherSubmission = await status("/submissions/" + process.env.OTHER_SUBMISSION);
  out.ownAudio = await status("/submissions/" + process.env.OWN_SUBMISSION + "/audio");
  out.reviewQueue = await status("/review");
  out.dashboard = await status("/program");
  await browser.close();
  report(out);
});
