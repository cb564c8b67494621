// The console's pages: the form asks the server's planner on every change (the same rules
// refuse the same input on submission) and draws the power curve; the experiment page polls
// its JSON once a second while the experiment is active, and stops on a final state.
"use strict";

const $ = (id) => document.getElementById(id);
const fmt = (n) => (n == null ? "—" : n.toLocaleString("en-US"));

// Numbers as experiment/numbers.py prints them: the digits a value needs, not fixed decimals.
function money(n, signed = false) {
  if (n == null || !Number.isFinite(n)) return "—";
  const magnitude = n === 0 ? 0 : Math.floor(Math.log10(Math.abs(n)));
  const sign = signed && n >= 0 ? "+" : "";
  if (magnitude < -6 || magnitude >= 9) return `${sign}${n.toExponential(2)} $`;
  const decimals = Math.max(2, 1 - magnitude);
  return `${sign}${n.toLocaleString("en-US", { minimumFractionDigits: decimals, maximumFractionDigits: decimals })} $`;
}
function percent(p) {
  if (p == null || !Number.isFinite(p)) return "—";
  if (!(p > 0 && p < 1)) return `${p * 100} %`;
  const decimals = Math.max(2 - Math.floor(Math.log10(p * 100)), 1 - Math.floor(Math.log10((1 - p) * 100)), 0);
  return `${String(Number((p * 100).toFixed(decimals)))} %`;
}

// Every API answer is JSON, a refusal {"error", "field", "detail"} included.
async function postJSON(url, body) {
  const response = await fetch(url, { method: "POST", headers: { "Content-Type": "application/json" },
                                      body: JSON.stringify(body || {}) });
  let answer;
  try { answer = await response.json(); } catch (err) { answer = { error: "error", detail: `HTTP ${response.status}` }; }
  return { status: response.status, body: answer };
}

const SOLVED = { alpha: (p) => String(Number(p.alpha.toPrecision(3))), power: (p) => percent(p.power),
                 mde: (p) => money(p.mde), sample_size: (p) => fmt(p.total) };

function initForm(form) {
  const fields = [...form.querySelectorAll("[data-design]")].map((div) => div.dataset.field);
  const create = $("create");
  let timer = null, asked = 0;
  async function check() {
    const values = Object.fromEntries([...fields, "sample_unit"].map((name) => [name, $(name).value]));
    const mine = ++asked;
    const { status, body } = await postJSON("/api/plan", values);
    if (mine !== asked) return;  // an older answer arriving late
    for (const name of fields) {
      const wrong = status !== 200 && body.field === name;
      $(`error-${name}`).textContent = wrong ? body.detail : "";
      $(name).closest(".field").classList.toggle("invalid", wrong);
      if (["alpha", "power", "mde", "sample_size"].includes(name)) $(name).placeholder = "solved";
    }
    create.disabled = status !== 200;
    const warnings = $("plan-warnings");
    warnings.replaceChildren();
    if (status === 200) {
      const plan = body.plan;
      $("plan-total").textContent = fmt(plan.total);
      $("plan-control").textContent = fmt(plan.n_control);
      $("plan-treatment").textContent = fmt(plan.n_treatment);
      $("plan-time").textContent = body.seconds < 120 ? `${Math.ceil(body.seconds)} s` : `${Math.ceil(body.seconds / 60)} min`;
      $("plan-solved").textContent = body.solved ? `solved: ${$(body.solved).closest(".field").querySelector("label").firstChild.textContent.trim()} = ${SOLVED[body.solved](plan)}` : "";
      if (body.solved) $(body.solved).placeholder = SOLVED[body.solved](plan);
      for (const note of body.warnings) warnings.appendChild(document.createElement("li")).textContent = note;
      $("plan-lines").textContent = body.lines.join("\n");
      drawPowerCurve($("power-curve"), body.curve, plan);
    } else {
      for (const id of ["plan-total", "plan-control", "plan-treatment", "plan-time", "plan-solved"]) $(id).textContent = "—";
      $("plan-lines").textContent = "";
      $("power-curve").replaceChildren();
      if (!fields.includes(body.field)) $("plan-solved").textContent = body.detail || body.error;
    }
  }
  form.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(check, 150); });
  form.addEventListener("change", check);
  check();
}

// Copy, or when the browser refuses the clipboard (no permission, not a secure context),
// select the text and say how to copy it by hand.
function initCopy() {
  for (const button of document.querySelectorAll("button.copy")) {
    button.addEventListener("click", async () => {
      const source = $(button.dataset.copy);
      try {
        await navigator.clipboard.writeText(source.textContent);
        button.textContent = "Copied";
      } catch (err) {
        const range = document.createRange();
        range.selectNodeContents(source);
        const selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
        button.textContent = "Press Ctrl+C";
        $("copy-help").hidden = false;
      }
    });
  }
}

function initConfirm() {
  for (const form of document.querySelectorAll("form.confirm")) {
    form.addEventListener("submit", (event) => { if (!window.confirm(form.dataset.confirm)) event.preventDefault(); });
  }
}

const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs, parent) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (parent) parent.appendChild(node);
  return node;
}
const label = (parent, x, y, text, attrs = {}) => {
  svg("text", { x, y, "font-size": 11, fill: "#5c6670", ...attrs }, parent).textContent = text;
};

// A round step for about ``count`` ticks over ``span``: 1, 2 or 5 times a power of ten.
function niceStep(span, count) {
  const raw = span / count, power = 10 ** Math.floor(Math.log10(raw));
  return power * ([1, 2, 5, 10].find((m) => m * power >= raw) || 10);
}

// Power at the minimum effect against customers, 0 to twice the plan, the plan as a dot.
function drawPowerCurve(chart, points, plan) {
  chart.replaceChildren();
  const W = 480, H = 260, L = 44, R = 12, T = 12, B = 34, last = points[points.length - 1].customers;
  const x = (c) => L + (W - L - R) * c / last, y = (p) => T + (H - T - B) * (1 - p);
  svg("rect", { x: L, y: T, width: W - L - R, height: H - T - B, fill: "#fafbfc", stroke: "#d0d4d8" }, chart);
  for (const p of [0, 0.25, 0.5, 0.75, 1]) {
    svg("line", { x1: L, x2: W - R, y1: y(p), y2: y(p), stroke: "#eceef0" }, chart);
    label(chart, L - 5, y(p) + 4, `${p * 100} %`, { "text-anchor": "end" });
  }
  const step = niceStep(last, 4);
  for (let c = 0; c <= last; c += step) label(chart, x(c), H - B + 15, fmt(c), { "text-anchor": "middle" });
  label(chart, (W + L) / 2, H - 4, "customers (both arms)", { "text-anchor": "middle", fill: "#1d2327" });
  svg("line", { x1: L, x2: W - R, y1: y(plan.power), y2: y(plan.power), stroke: "#2d6a4f", "stroke-dasharray": "5 4" }, chart);
  svg("polyline", { points: points.map((p) => `${x(p.customers)},${y(p.power)}`).join(" "), fill: "none",
                    stroke: "#1d3557", "stroke-width": 2, id: "power-line" }, chart);
  svg("circle", { cx: x(plan.total), cy: y(plan.achieved_power), r: 4.5, fill: "#c1121f", id: "power-point" }, chart);
  label(chart, Math.min(x(plan.total) + 8, W - R - 150), y(plan.achieved_power) + 16,
        `${fmt(plan.total)}: ${percent(plan.achieved_power)} at ${money(plan.mde)}`, { fill: "#c1121f" });
  chart.dataset.points = String(points.length);
}

// The cumulative effect and its always-valid band, x from 0 to the planned size. The y
// range follows the estimate and the latest band, so the first looks' very wide band is
// clipped instead of flattening everything else.
function drawChart(chart, path, planned, mde) {
  chart.replaceChildren();
  const W = 800, H = 320, L = 70, R = 15, T = 15, B = 35;
  const last = path[path.length - 1] || {};
  const ys = [...path.map((p) => p.diff), last.av_lower, last.av_upper, -mde, 2 * mde, 0].filter((v) => v != null);
  const step = niceStep(Math.max(...ys) - Math.min(...ys), 5);
  const lo = Math.floor(Math.min(...ys) / step) * step - step, hi = Math.ceil(Math.max(...ys) / step) * step + step;
  const x = (c) => L + (W - L - R) * c / planned;
  const y = (v) => T + (H - T - B) * (hi - Math.max(lo, Math.min(hi, v))) / (hi - lo);
  svg("rect", { x: L, y: T, width: W - L - R, height: H - T - B, fill: "#fafbfc", stroke: "#d0d4d8" }, chart);
  for (let v = lo; v <= hi + step / 2; v += step) {
    svg("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: "#eceef0" }, chart);
    label(chart, L - 6, y(v) + 4, money(Number(v.toPrecision(6)), true), { "text-anchor": "end" });
  }
  for (let i = 0; i <= 4; i++) {
    const anchor = i === 0 ? "start" : i === 4 ? "end" : "middle";
    label(chart, x(planned * i / 4), H - B + 16, fmt(Math.round(planned * i / 4)), { "text-anchor": anchor });
  }
  label(chart, (W + L) / 2, H - 4, "customers analysed", { "text-anchor": "middle", "font-size": 12, fill: "#1d2327" });
  const band = path.filter((p) => p.av_lower != null && p.av_upper != null);
  if (band.length > 1) {
    const upper = band.map((p) => `${x(p.customers)},${y(p.av_upper)}`);
    const lower = band.slice().reverse().map((p) => `${x(p.customers)},${y(p.av_lower)}`);
    svg("polygon", { points: [...upper, ...lower].join(" "), fill: "#4a90d9", "fill-opacity": 0.25, stroke: "#4a90d9" }, chart);
  }
  svg("line", { x1: L, x2: W - R, y1: y(0), y2: y(0), stroke: "#555", "stroke-width": 1 }, chart);
  svg("line", { x1: L, x2: W - R, y1: y(mde), y2: y(mde), stroke: "#2d6a4f", "stroke-dasharray": "6 4" }, chart);
  label(chart, W - R - 4, y(mde) - 4, `minimum effect ${money(mde)}/customer`, { "text-anchor": "end", fill: "#2d6a4f" });
  const line = path.filter((p) => p.diff != null).map((p) => `${x(p.customers)},${y(p.diff)}`);
  if (line.length > 1) svg("polyline", { points: line.join(" "), fill: "none", stroke: "#111", "stroke-width": 2, id: "effect-line" }, chart);
  chart.dataset.points = String(path.length);
}

function initExperiment(section) {
  const api = section.dataset.api, id = section.dataset.id;
  let verdictShown = false, timer = null;
  section.dataset.polls = "0";
  async function refresh() {
    section.dataset.polls = String(Number(section.dataset.polls) + 1);
    const response = await fetch(api, { cache: "no-store" });
    if (!response.ok) return;
    const e = await response.json(), v = e.live;
    $("state").textContent = e.state;
    $("state").className = `state ${e.state}`;
    $("message").textContent = e.message;
    $("start").hidden = !e.startable;
    $("submit-reminder").hidden = !e.startable;
    $("start").textContent = v.recorded > 0 && e.state !== "done" ? "Resume" : "Start";
    $("stop").hidden = !e.stoppable;
    $("analyse").hidden = !(e.startable && v.recorded > 0);
    $("progress-bar").style.width = `${(100 * v.progress).toFixed(1)}%`;
    $("progress-text").textContent = `${fmt(v.recorded)} of ${fmt(v.planned)} planned sessions recorded (${(100 * v.progress).toFixed(1)}%)`;
    $("n-control").textContent = fmt(v.arms.control.sessions);
    $("n-treatment").textContent = fmt(v.arms.treatment.sessions);
    $("received").textContent = fmt(v.decisions.received);
    $("missing").textContent = fmt(v.decisions.missing);
    $("wrong-token").textContent = fmt(e.tally.wrong_token);
    $("duplicates").textContent = fmt(e.tally.duplicates);
    $("late").textContent = fmt(e.tally.after_deadline);
    $("unreadable").textContent = fmt(e.tally.unreadable);
    const srm = $("srm");
    if (v.srm) {
      srm.textContent = `${percent(v.srm.observed_share)} treatment vs ${percent(v.srm.expected_share)} planned, `
        + `p = ${v.srm.p_value.toPrecision(3)}: ${v.srm.mismatch ? "MISMATCH" : "ok"}`;
      srm.className = `srm ${v.srm.mismatch ? "mismatch" : "ok"}`;
    }
    if (v.effect) {
      $("effect").textContent = money(v.effect.diff, true);
      $("effect-ci").textContent = `always-valid ${percent(1 - e.plan.alpha)} interval [${money(v.effect.av_lower, true)}, ${money(v.effect.av_upper, true)}], `
        + `p = ${v.effect.av_p == null ? "—" : v.effect.av_p.toPrecision(3)}`
        + (v.effect.crossed && e.settings.sequential ? " (significant: safe to stop)" : "");
    }
    drawChart($("chart"), v.path, v.planned, e.plan.mde);
    if (e.report && !verdictShown) {
      verdictShown = true;
      $("verdict").hidden = false;
      $("verdict-text").textContent = e.message;
      $("verdict-lines").textContent = e.report.lines.join("\n");
      const stamp = Date.now();
      $("effect-png").src = `/experiments/${id}/report/effect.png?v=${stamp}`;
      $("arms-png").src = `/experiments/${id}/report/arms.png?v=${stamp}`;
    }
    if (e.final) stopPolling();
  }
  function stopPolling() { clearInterval(timer); timer = null; section.dataset.polling = "stopped"; }
  function poll() {
    if (timer === null) timer = setInterval(refresh, 1000);
    section.dataset.polling = "on";
    refresh();
  }
  for (const button of section.querySelectorAll("button[data-action]")) {
    button.addEventListener("click", async () => {
      button.disabled = true;
      const { status, body } = await postJSON(`/api/experiments/${id}/${button.dataset.action}`);
      $("action-error").textContent = status >= 400 ? body.detail || body.error : "";
      button.disabled = false;
      poll();
    });
  }
  poll();
}

document.addEventListener("DOMContentLoaded", () => {
  if ($("design")) initForm($("design"));
  if ($("experiment")) initExperiment($("experiment"));
  initCopy();
  initConfirm();
});
