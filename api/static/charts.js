// History charts of the queues page and each queue's page: throughput (completed and failed), queue depth and
// p95 duration over the last hour, day or week (GET /api/v1/queues/history), drawn as plain SVG.
// Loaded before app.js, whose views call HistoryCharts.card(queue); it uses app.js's api, esc, num,
// formatTime and refresh when it runs. Every drawn point carries its time and values as data attributes.
"use strict";

const HistoryCharts = (() => {
  const RANGES = { "1h": "1 h", "24h": "24 h", "7d": "7 d" };
  const RANGE_KEY = "adjobs.historyRange";  // the chosen range, kept across visits (localStorage)
  const FRESH_MS = 20000;  // a range is read again at most this often: the roll-up writes once a minute
  const WIDTH = 600, HEIGHT = 120, TOP = 8;
  const answers = new Map();  // "range queue" -> { at, data }
  let rangeChoice = "24h";  // the choice when the browser refuses localStorage

  function chosenRange() {
    try { rangeChoice = localStorage.getItem(RANGE_KEY) || rangeChoice; } catch (error) { /* keep this page's choice */ }
    return Object.hasOwn(RANGES, rangeChoice) ? rangeChoice : "24h";
  }

  async function history(range, queue) {
    const key = `${range} ${queue || ""}`;
    const kept = answers.get(key);
    if (kept && Date.now() - kept.at < FRESH_MS) return kept.data;
    const query = new URLSearchParams({ range });
    if (queue) query.set("queue", queue);
    const data = await api(`queues/history?${query}`);
    answers.set(key, { at: Date.now(), data });
    return data;
  }

  // A point's time as the rest of the dashboard shows times: with its zone, and its date past the last hour.
  const label = (at, range) => formatTime(at, { date: range !== "1h", seconds: false });
  const x = (i, count) => ((i + 0.5) * WIDTH) / count;
  const y = (value, peak) => HEIGHT - (value / peak) * (HEIGHT - TOP);
  const fixed = (n) => n.toFixed(1);
  const ms = (value) => (value === null || value === undefined ? "–" : `${Number(value).toLocaleString()} ms`);

  function frame(id, title, legend, range, points, body, drawn) {
    const first = points.length ? label(points[0].at, range) : "", last = points.length ? label(points[points.length - 1].at, range) : "";
    return `<div class="chart history-chart" id="${id}">
      <div class="toolbar flush"><h3>${esc(title)}</h3><span class="spacer"></span><span class="legend">${legend}</span></div>
      <svg viewBox="0 0 ${WIDTH} ${HEIGHT}" preserveAspectRatio="none" role="img" aria-label="${esc(title)}"
        data-points="${points.length}" data-drawn="${drawn}">
        <line x1="0" y1="${HEIGHT - 0.5}" x2="${WIDTH}" y2="${HEIGHT - 0.5}" stroke="var(--line)"></line>${body}</svg>
      <div class="axis muted"><span>${esc(first)}</span><span>${esc(last)}</span></div></div>`;
  }

  // Completed (green) and failed attempts (red: retried and dead) per point, stacked.
  function throughput(points, range) {
    const peak = Math.max(1, ...points.map((p) => p.completed + p.failed));
    const slot = WIDTH / Math.max(1, points.length), w = fixed(Math.max(0.6, slot - 1));
    const bars = points.map((p, i) => {
      const ok = (p.completed / peak) * (HEIGHT - TOP), bad = (p.failed / peak) * (HEIGHT - TOP);
      const tip = `${label(p.at, range)}: ${p.completed} completed, ${p.failed} failed (${p.retried} retried, ${p.dead} dead)`;
      return `<g class="pt" data-at="${esc(p.at)}" data-completed="${p.completed}" data-failed="${p.failed}"><title>${esc(tip)}</title>
        <rect x="${fixed(i * slot + 0.5)}" y="${fixed(HEIGHT - ok)}" width="${w}" height="${fixed(ok)}" fill="var(--completed)"></rect>
        <rect x="${fixed(i * slot + 0.5)}" y="${fixed(HEIGHT - ok - bad)}" width="${w}" height="${fixed(bad)}" fill="var(--dead)"></rect></g>`;
    }).join("");
    const completed = points.reduce((sum, p) => sum + p.completed, 0), failed = points.reduce((sum, p) => sum + p.failed, 0);
    const legend = `<span><span class="swatch swatch-completed"></span>completed ${num(completed)}</span>
      <span><span class="swatch swatch-dead"></span>failed ${num(failed)}</span><span>peak ${num(peak)}</span>`;
    return frame("history-throughput", "Throughput", legend, range, points, bars, points.length);
  }

  // A line through the points that have a value (a gap where none was taken), a marker on each.
  function line(id, title, points, range, field, colour, unit) {
    const values = points.map((p) => (p[field] === null || p[field] === undefined ? null : Number(p[field])));
    const peak = Math.max(1, ...values.filter((v) => v !== null));
    const runs = [];
    let run = [];
    values.forEach((v, i) => {
      if (v === null) { if (run.length) runs.push(run); run = []; return; }
      run.push(`${fixed(x(i, values.length))},${fixed(y(v, peak))}`);
    });
    if (run.length) runs.push(run);
    const paths = runs.map((r) => `<polyline points="${r.join(" ")}" fill="none" stroke="${colour}" stroke-width="1.5" vector-effect="non-scaling-stroke"></polyline>`).join("");
    // A marker is a line of no length with round caps: a dot the chart's stretching leaves round.
    const marks = values.map((v, i) => {
      if (v === null) return "";
      const at = `${fixed(x(i, values.length))}`, level = `${fixed(y(v, peak))}`;
      return `<line class="pt" x1="${at}" y1="${level}" x2="${at}" y2="${level}" stroke="${colour}" stroke-width="5" stroke-linecap="round"
        vector-effect="non-scaling-stroke" data-at="${esc(points[i].at)}" data-value="${v}"><title>${esc(`${label(points[i].at, range)}: ${unit(v)}`)}</title></line>`;
    }).join("");
    const shown = values.filter((v) => v !== null);
    const legend = shown.length ? `<span>last ${esc(unit(shown[shown.length - 1]))}</span><span>peak ${esc(unit(Math.max(...shown)))}</span>` : "<span>no samples yet</span>";
    return frame(id, title, legend, range, points, paths + marks, shown.length);
  }

  function draw(data, queue) {
    const points = queue ? data.queues[queue] || [] : data.points;
    const range = data.range;
    const step = data.stepSeconds >= 3600 ? "hour" : data.stepSeconds >= 900 ? "15 minutes" : "minute";
    const buttons = Object.entries(RANGES).map(([value, text]) =>
      `<button type="button" data-history-range="${value}" aria-pressed="${value === range}">${text}</button>`).join("");
    return `<div class="card history" id="history" data-range="${esc(range)}" data-queue="${esc(queue || "")}">
      <div class="toolbar"><h2>History${queue ? "" : ", every queue"}</h2><span class="muted">a point every ${step}</span><span class="spacer"></span>
        <span class="switch history-ranges" role="group" aria-label="History range">${buttons}</span></div>
      <div class="history-charts">
        ${throughput(points, range)}
        ${line("history-depth", "Queue depth", points, range, "depth", "var(--waiting)", (v) => `${num(v)} enqueued`)}
        ${line("history-p95", "p95 duration", points, range, "p95Ms", "var(--active)", ms)}
      </div></div>`;
  }

  // The card for one queue, or every queue summed (queue null); a panel that says so when its server is away.
  async function card(queue = null) {
    if (typeof PANEL_TITLES === "object" && !PANEL_TITLES.history) PANEL_TITLES.history = "History";
    return panel(history(chosenRange(), queue), (data) => draw(data, queue), "history");
  }

  document.addEventListener("click", (event) => {
    const button = event.target.closest && event.target.closest("button[data-history-range]");
    if (!button) return;
    rangeChoice = button.dataset.historyRange;
    try { localStorage.setItem(RANGE_KEY, rangeChoice); } catch (error) { /* kept for this page only */ }
    refresh();
  });

  return { card };
})();
