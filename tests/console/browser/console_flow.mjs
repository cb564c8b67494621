// A newcomer's visit to the experiment console, in Debian's Chromium: the four settings
// (an incoherent four refused next to the sample size, live and again on submission; a
// fixed number of customers answered with the effect it detects), creation with its token
// shown once (a reload neither shows it again nor creates another experiment; Copy falls
// back to a selection when the clipboard is refused), Start, the live view, the verdict,
// and polling that stops there. Layout: no horizontal scroll at 380, 1280 (and 1700) px.
//
//   CONSOLE_URL=http://127.0.0.1:PORT TOKEN_FILE=path ARTIFACTS=dir node console_flow.mjs
//
// The token goes to TOKEN_FILE so that the test can start the job with it; screenshots go
// to ARTIFACTS. Prints one JSON line of what it saw; exits non-zero on the first failed check.
import { writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

const url = process.env.CONSOLE_URL, artifacts = process.env.ARTIFACTS, tokenFile = process.env.TOKEN_FILE;
const design = { name: "browser test", owner: "qa", alpha: "0.05", power: "0.8", sample_size: "",
                 mde: process.env.MDE || "3", sd: "15", treatment_share: "0.5" };
mkdirSync(artifacts, { recursive: true });
const seen = { overflow: {} };
const check = (ok, what) => { if (!ok) throw new Error(`check failed: ${what}`); };
const shot = (page, name) => page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
const text = async (page, selector) => (await page.textContent(selector)).trim();
// The page is no wider than the window at ``width``: nothing scrolls sideways.
async function fits(page, width, name) {
  await page.setViewportSize({ width, height: 900 });
  await page.waitForTimeout(200);
  const [scroll, inner] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
  seen.overflow[`${name}@${width}`] = scroll - inner;
  check(scroll <= inner, `${name} at ${width} px scrolls sideways: ${scroll} > ${inner}`);
  await shot(page, `${name}-${width}px`);
}

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
                                        headless: true, args: ["--no-sandbox"] });
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.setDefaultTimeout(20_000);
  await page.goto(url);
  await page.waitForFunction(() => document.getElementById("plan-total").textContent === "14,418");
  check(Number(await page.$eval("#power-curve", (c) => c.dataset.points)) > 10, "the power curve is drawn");
  await shot(page, "1-form");
  await fits(page, 380, "form");
  await fits(page, 1700, "form");
  await fits(page, 1280, "form");

  // All four settings, incoherent: 10,000 customers cannot give 80 % power at 0.70 $.
  await page.fill("#name", design.name);
  await page.fill("#sample_size", "10000");
  await page.waitForFunction(() => document.getElementById("error-sample_size").textContent.includes("64.6 %"));
  check(await page.isDisabled("#create"), "create is disabled while the design is refused");
  check(await page.$eval("[data-field=sample_size]", (d) => d.classList.contains("invalid")), "sample size is marked invalid");
  seen.live_refusal = await text(page, "#error-sample_size");
  await shot(page, "2-refused-live");

  // The server refuses it too, even when the page's check is bypassed.
  await page.$eval("#create", (b) => { b.disabled = false; });
  await Promise.all([page.waitForNavigation(), page.click("#create")]);
  seen.server_refusal = await text(page, "#error-sample_size");
  check(seen.server_refusal.includes("80 % needs 14,418"), "the server's refusal is next to the sample size");
  await shot(page, "3-refused-by-server");

  // Fixed traffic: 20,000 customers and no minimum effect: which effect can they detect?
  await page.fill("#mde", "");
  await page.fill("#sample_size", "20000");
  await page.waitForFunction(() => document.getElementById("plan-solved").textContent.includes("= 0.59 $"));
  seen.fixed_traffic = await text(page, "#plan-solved");
  check((await page.getAttribute("#mde", "placeholder")) === "0.59 $", "the solved effect shows in its empty field");

  for (const [name, value] of Object.entries(design)) await page.fill(`#${name}`, value);
  // the plan shown is the one for the last field typed (the page asks after a short pause),
  // with the sample size solved again
  await page.waitForFunction((mde) => !document.getElementById("create").disabled
                                      && document.getElementById("plan-lines").textContent.includes(`to detect ${mde} $`)
                                      && document.getElementById("plan-solved").textContent.includes("Sample size"),
                             Number(design.mde).toFixed(2));
  seen.planned = await text(page, "#plan-total");
  await Promise.all([page.waitForNavigation(), page.click("#create")]);
  const token = await text(page, "#token");
  check(/^[0-9a-f]{32}$/.test(token), "a 32-hex-digit token is shown");
  check((await text(page, "#submit-line")).endsWith(`make submit TOKEN=${token}`), "the make submit line");
  check(!page.url().includes(token) && page.url().endsWith("/created"), "redirected, the token in no URL");
  writeFileSync(tokenFile, token, { mode: 0o600 });

  // The clipboard refused: the token is selected and the page says how to copy it.
  await page.evaluate(() => { navigator.clipboard.writeText = () => Promise.reject(new DOMException("denied", "NotAllowedError")); });
  await page.click("button[data-copy=token]");
  await page.waitForFunction(() => !document.getElementById("copy-help").hidden);
  check((await page.evaluate(() => window.getSelection().toString())) === token, "the token is selected instead");
  seen.copy_fallback = await text(page, "button[data-copy=token]");
  await shot(page, "4-created");
  await fits(page, 380, "created");
  await fits(page, 1280, "created");

  // A reload neither shows the token again nor creates a second experiment.
  await page.reload();
  check(!(await page.content()).includes(token), "the reloaded page does not show the token");
  check(await page.isVisible("#token-gone"), "the reloaded page says the token was shown once");
  const listed = await page.evaluate(async () => (await (await fetch("/")).text()).match(/<tr data-id="/g).length);
  check(listed === 1, `one experiment after the reload, not ${listed}`);

  await Promise.all([page.waitForNavigation(), page.click("#open")]);
  check(!(await page.content()).includes(token), "the experiment page does not show the token");
  check(await page.isVisible("#submit-reminder"), "the experiment page reminds of make submit TOKEN=...");
  await page.evaluate(() => { window.notReloaded = true; });
  const clicked = Date.now();
  await page.click("#start");
  await page.waitForFunction(() => document.getElementById("message").textContent.includes("make submit TOKEN="));
  seen.start_feedback_ms = Date.now() - clicked;
  check(seen.start_feedback_ms < 2000, `Start says what it waits for within 2 s, not ${seen.start_feedback_ms} ms`);
  await shot(page, "5-waiting-for-the-job");

  // Live: the counts and the curve grow while the page stays the same document.
  await page.waitForFunction(() => ["running", "failed"].includes(document.getElementById("state").textContent), null,
                             { timeout: 400_000 });
  check((await text(page, "#state")) === "running", `the run started: ${await text(page, "#message")}`);
  const progress = [];
  while (progress.length < 40) {
    const now = await text(page, "#progress-text");
    if (progress[progress.length - 1] !== now) progress.push(now);
    if ((await text(page, "#state")) !== "running") break;
    if (progress.length === 4) await shot(page, "6-live");
    await page.waitForTimeout(250);
  }
  seen.progress = progress;
  const recorded = progress.map((p) => Number(p.split(" ")[0].replace(/,/g, ""))).filter((n) => n > 0);
  check(new Set(recorded).size >= 3, `the live view updated at least three times: ${progress.join(" | ")}`);
  check(await page.evaluate(() => window.notReloaded === true), "updated without reloading");

  await page.waitForFunction(() => document.getElementById("state").textContent === "done", null, { timeout: 120_000 });
  await page.waitForFunction(() => !document.getElementById("verdict").hidden
                                   && document.getElementById("effect-png").naturalWidth > 0
                                   && document.getElementById("arms-png").naturalWidth > 0);
  seen.verdict = await text(page, "#verdict-text");
  seen.sessions = await text(page, "#progress-text");
  seen.decisions = { received: await text(page, "#received"), missing: await text(page, "#missing"),
                     wrong_token: await text(page, "#wrong-token") };
  seen.srm = await text(page, "#srm");
  seen.chart_points = Number(await page.$eval("#chart", (c) => c.dataset.points));
  check(seen.chart_points > 10, "the effect curve has points");
  seen.report_settings = await text(page, "#verdict-lines");
  check(seen.report_settings.includes("CUPED on, sequential testing on"), "the report records the analysis settings");
  await shot(page, "7-verdict");

  // Done is final: the page stops asking.
  const polls = Number(await page.$eval("#experiment", (s) => s.dataset.polls));
  await page.waitForTimeout(3000);
  check(await page.$eval("#experiment", (s) => s.dataset.polling) === "stopped", "polling stopped");
  check(Number(await page.$eval("#experiment", (s) => s.dataset.polls)) === polls, "no request after the verdict");
  await fits(page, 380, "verdict");
  await fits(page, 1280, "verdict");

  // An action the server refuses shows its reason (the API's errors are JSON the page reads).
  await page.$eval("#start", (b) => { b.hidden = false; });
  await page.click("#start");
  await page.waitForFunction(() => document.getElementById("action-error").textContent.includes("is done"));
  seen.action_error = await text(page, "#action-error");

  const csv = await page.evaluate(async () => (await fetch(document.getElementById("csv").href)).text());
  check(csv.startsWith("run_id,uuid,arm,"), "sessions.csv downloads");
  check(!csv.includes(token), "sessions.csv holds no token");
  console.log(JSON.stringify(seen));
} finally {
  await browser.close();
}
