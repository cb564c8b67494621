// The console's pages: the form asks the server's planner on every change (the same rules
// refuse the same input on submission); the experiment page polls its JSON once a second.
"use strict";

const $ = (id) => document.getElementById(id);
const fmt = (n) => (n == null ? "—" : n.toLocaleString("en-US"));
const money = (n) => (n == null ? "—" : `${n >= 0 ? "+" : ""}${n.toFixed(2)} $`);

async function postJSON(url, body) {
  const response = await fetch(url, { method: "POST", headers: { "Content-Type": "application/json" },
                                      body: JSON.stringify(body || {}) });
  return { status: response.status, body: await response.json() };
}

function initForm(form) {
  const fields = [...form.querySelectorAll(".field")].map((div) => div.dataset.field);
  const create = $("create");
  let timer = null, asked = 0;
  async function check() {
    const values = Object.fromEntries(fields.map((name) => [name, $(name).value]));
    const mine = ++asked;
    const { status, body } = await postJSON("/api/plan", values);
    if (mine !== asked) return;  // an older answer arriving late
    for (const name of fields) {
      const wrong = status === 422 && body.field === name;
      $(`error-${name}`).textContent = wrong ? body.message : "";
      $(name).closest(".field").classList.toggle("invalid", wrong);
    }
    create.disabled = status !== 200;
    if (status === 200) {
      $("plan-total").textContent = fmt(body.plan.total);
      $("plan-control").textContent = fmt(body.plan.n_control);
      $("plan-treatment").textContent = fmt(body.plan.n_treatment);
      $("plan-time").textContent = body.seconds < 120 ? `${Math.ceil(body.seconds)} s` : `${Math.ceil(body.seconds / 60)} min`;
      $("plan-lines").textContent = body.lines.join("\n");
    } else {
      for (const id of ["plan-total", "plan-control", "plan-treatment", "plan-time"]) $(id).textContent = "—";
      $("plan-lines").textContent = "";
    }
  }
  form.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(check, 150); });
  form.addEventListener("change", check);
  check();
}

function initCopy() {
  for (const button of document.querySelectorAll("button.copy")) {
    button.addEventListener("click", async () => {
      await navigator.clipboard.writeText($(button.dataset.copy).textContent);
      button.textContent = "Copied";
    });
  }
}

const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs, parent) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (parent) parent.appendChild(node);
  return node;
}

// A round step for about ``count`` ticks over ``span``: 1, 2 or 5 times a power of ten.
function niceStep(span, count) {
  const raw = span / count, power = 10 ** Math.floor(Math.log10(raw));
  return power * ([1, 2, 5, 10].find((m) => m * power >= raw) || 10);
}

// The cumulative effect and its always-valid band, x from 0 to the planned size. The y
// range follows the estimate and the latest band, so the first looks' very wide band is
// clipped instead of flattening everything else.
function drawChart(chart, path, planned, mde) {
  chart.replaceChildren();
  const W = 800, H = 320, L = 60, R = 15, T = 15, B = 35;
  const last = path[path.length - 1] || {};
  const ys = [...path.map((p) => p.diff), last.av_lower, last.av_upper, -mde, 2 * mde, 0].filter((v) => v != null);
  const step = niceStep(Math.max(...ys) - Math.min(...ys), 5);
  const lo = Math.floor(Math.min(...ys) / step) * step - step, hi = Math.ceil(Math.max(...ys) / step) * step + step;
  const x = (c) => L + (W - L - R) * c / planned;
  const y = (v) => T + (H - T - B) * (hi - Math.max(lo, Math.min(hi, v))) / (hi - lo);
  svg("rect", { x: L, y: T, width: W - L - R, height: H - T - B, fill: "#fafbfc", stroke: "#d0d4d8" }, chart);
  for (let v = lo; v <= hi + step / 2; v += step) {
    svg("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: "#eceef0" }, chart);
    svg("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end", "font-size": 11, fill: "#5c6670" }, chart)
      .textContent = `${v > 0 ? "+" : ""}${Number(v.toFixed(6))} $`;
  }
  for (let i = 0; i <= 4; i++) {
    const c = planned * i / 4;
    const anchor = i === 0 ? "start" : i === 4 ? "end" : "middle";
    svg("text", { x: x(c), y: H - B + 16, "text-anchor": anchor, "font-size": 11, fill: "#5c6670" }, chart).textContent = fmt(Math.round(c));
  }
  svg("text", { x: (W + L) / 2, y: H - 4, "text-anchor": "middle", "font-size": 12, fill: "#1d2327" }, chart).textContent = "customers analysed";
  const band = path.filter((p) => p.av_lower != null && p.av_upper != null);
  if (band.length > 1) {
    const upper = band.map((p) => `${x(p.customers)},${y(p.av_upper)}`);
    const lower = band.slice().reverse().map((p) => `${x(p.customers)},${y(p.av_lower)}`);
    svg("polygon", { points: [...upper, ...lower].join(" "), fill: "#4a90d9", "fill-opacity": 0.25, stroke: "#4a90d9" }, chart);
  }
  svg("line", { x1: L, x2: W - R, y1: y(0), y2: y(0), stroke: "#555", "stroke-width": 1 }, chart);
  svg("line", { x1: L, x2: W - R, y1: y(mde), y2: y(mde), stroke: "#2d6a4f", "stroke-dasharray": "6 4" }, chart);
  svg("text", { x: W - R - 4, y: y(mde) - 4, "text-anchor": "end", "font-size": 11, fill: "#2d6a4f" }, chart)
    .textContent = `minimum effect ${mde} $`;
  const line = path.filter((p) => p.diff != null).map((p) => `${x(p.customers)},${y(p.diff)}`);
  if (line.length > 1) svg("polyline", { points: line.join(" "), fill: "none", stroke: "#111", "stroke-width": 2, id: "effect-line" }, chart);
  chart.dataset.points = String(path.length);
}

function initExperiment(section) {
  const api = section.dataset.api, id = section.dataset.id;
  let verdictShown = false;
  async function refresh() {
    const response = await fetch(api, { cache: "no-store" });
    if (!response.ok) return;
    const e = await response.json(), v = e.live;
    $("state").textContent = e.state;
    $("state").className = `state ${e.state}`;
    $("message").textContent = e.message;
    $("start").hidden = !e.startable;
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
      srm.textContent = `${(100 * v.srm.observed_share).toFixed(2)}% treatment vs ${(100 * v.srm.expected_share).toFixed(0)}% planned, `
        + `p = ${v.srm.p_value.toPrecision(3)}: ${v.srm.mismatch ? "MISMATCH" : "ok"}`;
      srm.className = `srm ${v.srm.mismatch ? "mismatch" : "ok"}`;
    }
    if (v.effect) {
      $("effect").textContent = money(v.effect.diff);
      $("effect-ci").textContent = `always-valid interval [${money(v.effect.av_lower)}, ${money(v.effect.av_upper)}], `
        + `p = ${v.effect.av_p == null ? "—" : v.effect.av_p.toPrecision(3)}${v.effect.crossed ? " (significant: safe to stop)" : ""}`;
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
  }
  for (const button of section.querySelectorAll("button[data-action]")) {
    button.addEventListener("click", async () => {
      button.disabled = true;
      const { status, body } = await postJSON(`/api/experiments/${id}/${button.dataset.action}`);
      $("action-error").textContent = status >= 400 ? body.error : "";
      button.disabled = false;
      refresh();
    });
  }
  refresh();
  setInterval(refresh, 1000);
}

document.addEventListener("DOMContentLoaded", () => {
  if ($("design")) initForm($("design"));
  if ($("experiment")) initExperiment($("experiment"));
  initCopy();
});
