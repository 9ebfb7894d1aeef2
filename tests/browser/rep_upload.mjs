// A rep signs in, opens a rubric's page, uploads a recording (with progress),
// waits on the live status until graded, and reads the result; then records a
// second pitch through the microphone (Chromium's fake device, fed a speech
// file) and submits it. Env: BASE_URL, TOKEN, RUBRIC, AUDIO_FILE, MIC_WAV,
// SCREENSHOT_DIR.
import { BASE, launch, main, report, shot, signIn, tabStops, unlabelledControls } from "./lib.mjs";

main(async () => {
  const browser = await launch([
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--use-file-for-fake-audio-capture=" + process.env.MIC_WAV,
  ]);
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const out = { screenshots: [] };

  // Sign-in: a bad token is refused, then the real one lands on the rep's page.
  await page.goto(BASE + "/");
  out.screenshots.push(await shot(page, "01-sign-in"));
  await page.getByLabel("Access token").fill("not-a-real-token");
  await page.getByRole("button", { name: "Sign in" }).click();
  out.badTokenError = (await page.locator("[role=alert]").textContent()).trim();
  await signIn(page, process.env.TOKEN);
  out.homeUrl = page.url();
  const cookies = await page.context().cookies();
  const session = cookies.find((c) => c.name === "pitchgrade_session");
  out.cookie = session ? { httpOnly: session.httpOnly, sameSite: session.sameSite } : null;
  out.cookieVisibleToScript = await page.evaluate(() => document.cookie.includes("pitchgrade_session"));

  // The record/upload page shows the scenario and is reachable by keyboard.
  // By its exact accessible name: the MSP variant's title starts the same way.
  await page.getByRole("link", { name: "Ledgerly Close: first-call sales pitch", exact: true }).click();
  await page.waitForSelector("#scenario-buyer");
  out.buyer = (await page.locator("#scenario-buyer").textContent()).trim();
  out.objections = await page.locator("#scenario-objections li").allTextContents();
  out.unlabelledOnRecordPage = await unlabelledControls(page);
  out.tabStops = await tabStops(page, 12);
  out.screenshots.push(await shot(page, "02-record-page"));

  // Upload a file; watch the progress bar move. On loopback the upload ends
  // before the bar can be seen and the page moves on to the result, so the
  // link is slowed to a phone's upload speed, as a rep on mobile data has it.
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Network.enable");
  await cdp.send("Network.emulateNetworkConditions", {
    offline: false, latency: 40, downloadThroughput: -1, uploadThroughput: 48 * 1024,
  });
  await page.getByLabel("Recording file").setInputFiles(process.env.AUDIO_FILE);
  const progressSeen = page.waitForFunction(() => {
    const bar = document.querySelector("#upload-progress");
    return bar && !document.querySelector("#progress-box").hidden && bar.value > 0;
  }, null, { timeout: 60000 });
  await page.getByRole("button", { name: "Upload and grade" }).click();
  await progressSeen;
  out.progressShown = true;
  await cdp.send("Network.emulateNetworkConditions", {
    offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1,
  });
  await page.waitForURL(/\/submissions\/[0-9a-f-]+$/, { timeout: 60000 });
  out.resultUrl = page.url();
  out.statusWhilePending = await page.locator("#live-status").textContent().catch(() => null);
  out.screenshots.push(await shot(page, "03-waiting"));
  await page.waitForSelector("#decision-label", { timeout: 600000 });
  out.decisionLabel = (await page.locator("#decision-label").textContent()).trim();
  out.score = (await page.locator("#score").textContent()).trim();
  out.criteriaRows = await page.locator("#criteria tbody tr").count();
  out.verdicts = await page.locator("#criteria tbody tr .badge").allTextContents();
  out.tips = await page.locator("#tips li").count();
  out.transcriptWords = await page.locator("#transcript .w").count();
  out.unlabelledOnResult = await unlabelledControls(page);
  out.screenshots.push(await shot(page, "04-result"));

  // An evidence quote seeks the player to its moment.
  const evidence = page.locator("button.evidence").first();
  out.evidenceButtons = await page.locator("button.evidence").count();
  if (out.evidenceButtons > 0) {
    const target = parseFloat(await evidence.getAttribute("data-seek"));
    await page.waitForFunction(() => document.querySelector("#player").readyState >= 1, null, { timeout: 30000 });
    await evidence.click();
    await page.waitForFunction((t) => {
      const a = document.querySelector("#player");
      return Math.abs(a.currentTime - t) < 1.0 || (a.currentTime > t && a.currentTime < t + 3);
    }, target, { timeout: 15000 });
    out.seekTarget = target;
    out.playerTimeAfterClick = await page.evaluate(() => document.querySelector("#player").currentTime);
    out.screenshots.push(await shot(page, "05-evidence-seek"));
  }

  // Record in the browser: MediaRecorder with the picked type, timer running.
  await page.goto(BASE + "/rep/new/" + process.env.RUBRIC);
  out.recordFormat = (await page.locator("#rec-format").textContent()).trim();
  await page.getByRole("button", { name: "Start recording" }).click();
  await page.waitForFunction(() => document.querySelector("#rec-timer").textContent >= "0:03", null, { timeout: 20000 });
  out.timerWhileRecording = (await page.locator("#rec-timer").textContent()).trim();
  out.screenshots.push(await shot(page, "06-recording"));
  await page.waitForTimeout(Number(process.env.RECORD_SECONDS || 8) * 1000 - 3000);
  await page.getByRole("button", { name: "Stop" }).click();
  await page.waitForSelector("#rec-preview:not([hidden])");
  out.recordedType = await page.evaluate(() => document.querySelector("#rec-preview").src.startsWith("blob:"));
  await page.getByRole("button", { name: "Submit this recording" }).click();
  await page.waitForURL(/\/submissions\/[0-9a-f-]+$/, { timeout: 60000 });
  out.recordedUrl = page.url();
  await page.waitForSelector("#decision-label, #failure", { timeout: 600000 });
  out.recordedOutcome = (await page.locator("#decision-label, #failure").first().textContent()).trim();
  out.screenshots.push(await shot(page, "07-recorded-result"));

  // The rep's list shows both pitches.
  await page.goto(BASE + "/rep");
  out.listedPitches = await page.locator("table tbody tr").count();
  out.pitchResults = await page.locator("table tbody tr .badge").allTextContents();
  out.pitchScores = await page.locator("table tbody tr td:nth-child(4)").allTextContents();
  out.screenshots.push(await shot(page, "08-my-pitches"));

  await browser.close();
  report(out);
});
