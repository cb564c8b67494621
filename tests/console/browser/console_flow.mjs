// A newcomer's visit to the experiment console, in Debian's Chromium: the form refuses an
// incoherent design next to the field (live, and again on submission), an experiment is
// created, its token handed over, and the live view updates while sessions flow.
//
//   CONSOLE_URL=http://127.0.0.1:PORT TOKEN_FILE=path ARTIFACTS=dir node console_flow.mjs
//
// The token goes to TOKEN_FILE so that the test can start the job with it; screenshots go
// to ARTIFACTS. Prints one JSON line of what it saw; exits non-zero on the first failed check.
import { writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

const url = process.env.CONSOLE_URL, artifacts = process.env.ARTIFACTS, tokenFile = process.env.TOKEN_FILE;
const design = { alpha: "0.05", power: "0.8", mde: process.env.MDE || "3", sd: "15", treatment_share: "0.5" };
mkdirSync(artifacts, { recursive: true });
const seen = {};
const check = (ok, what) => { if (!ok) throw new Error(`check failed: ${what}`); };
const shot = (page, name) => page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
const text = async (page, selector) => (await page.textContent(selector)).trim();

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
                                        headless: true, args: ["--no-sandbox"] });
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.setDefaultTimeout(20_000);
  await page.goto(url);
  await page.waitForFunction(() => document.getElementById("plan-total").textContent === "14,418");
  await shot(page, "1-form");

  // Incoherent: power not above alpha. The page refuses it next to the field, live.
  await page.fill("#power", "0.03");
  await page.waitForFunction(() => document.getElementById("error-power").textContent.includes("not above alpha"));
  check(await page.isDisabled("#create"), "create is disabled while the design is refused");
  check(await page.$eval("[data-field=power]", (d) => d.classList.contains("invalid")), "power is marked invalid");
  seen.live_refusal = await text(page, "#error-power");
  await shot(page, "2-refused-live");

  // The server refuses it too, even when the page's check is bypassed.
  await page.$eval("#create", (b) => { b.disabled = false; });
  await Promise.all([page.waitForNavigation(), page.click("#create")]);
  seen.server_refusal = await text(page, "#error-power");
  check(seen.server_refusal.includes("not above alpha"), "the server's refusal is next to the field");
  await shot(page, "3-refused-by-server");

  for (const [name, value] of Object.entries(design)) await page.fill(`#${name}`, value);
  // the plan shown is the one for the last field typed (the page asks after a short pause)
  await page.waitForFunction((mde) => !document.getElementById("create").disabled
                                      && document.getElementById("plan-lines").textContent.includes(`to detect ${mde} $`),
                             Number(design.mde).toFixed(2));
  seen.planned = await text(page, "#plan-total");
  await Promise.all([page.waitForNavigation(), page.click("#create")]);
  const token = await text(page, "#token");
  check(/^[0-9a-f]{32}$/.test(token), "a 32-hex-digit token is shown");
  check((await text(page, "#submit-line")).endsWith(`make submit TOKEN=${token}`), "the make submit line");
  check(!page.url().includes(token), "the token is not in the URL");
  writeFileSync(tokenFile, token, { mode: 0o600 });
  await shot(page, "4-created");

  await Promise.all([page.waitForNavigation(), page.click("#open")]);
  check(!(await page.content()).includes(token), "the experiment page does not show the token");
  await page.evaluate(() => { window.notReloaded = true; });
  await page.click("#start");
  await page.waitForFunction(() => document.getElementById("state").textContent === "waiting");
  await shot(page, "5-waiting-for-the-job");

  // Live: the counts and the curve grow while the page stays the same document.
  await page.waitForFunction(() => document.getElementById("state").textContent === "running", null, { timeout: 300_000 });
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
  await shot(page, "7-verdict");
  const csv = await page.evaluate(async () => (await fetch(document.getElementById("csv").href)).text());
  check(csv.startsWith("run_id,uuid,arm,"), "sessions.csv downloads");
  check(!csv.includes(token), "sessions.csv holds no token");
  console.log(JSON.stringify(seen));
} finally {
  await browser.close();
}
