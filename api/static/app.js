// The adjobs dashboard: every view is drawn from the admin API (/api/v1) with the signed-in token.
"use strict";

const API = "/api/v1";
const REFRESH_MS = 3000;
const STATES = ["waiting", "delayed", "active", "completed", "failed", "dead", "cancelled"];
const TOKEN_KEY = "adjobs.token";
const ZONE_KEY = "adjobs.timeZone";  // "utc" or "local", kept across visits (localStorage)

const $ = (selector) => document.querySelector(selector);
const view = $("#view");
let timer = null;
let role = null;

// Text from the API is always escaped before it goes into markup.
function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}
const enc = encodeURIComponent;
const num = (n) => (n === null || n === undefined ? "–" : Number(n).toLocaleString());

// Times ------------------------------------------------------------------------------------
// Every time is shown with its zone: "2026-12-01 10:20:09 UTC", or in local mode "2026-12-01 05:20:09 -05:00".

let zoneChoice = "utc";  // the choice when the browser refuses localStorage
function zoneMode() {
  try { zoneChoice = localStorage.getItem(ZONE_KEY) || zoneChoice; } catch (error) { /* keep this page's choice */ }
  return zoneChoice === "local" ? "local" : "utc";
}
function localZoneName() {
  try { return Intl.DateTimeFormat().resolvedOptions().timeZone || "local time"; } catch (error) { return "local time"; }
}
const pad = (n) => String(n).padStart(2, "0");
function offsetText(at) {
  const minutes = -at.getTimezoneOffset();
  const abs = Math.abs(minutes);
  return `${minutes < 0 ? "-" : "+"}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}
// The API sends ISO 8601; a date and time without an offset is UTC (as the API documents for runAt).
function parseTime(value) {
  if (value instanceof Date) return value;
  const text = String(value);
  const naive = /\d:\d/.test(text) && !/(Z|[+-]\d{2}:?\d{2})$/i.test(text);
  return new Date(naive ? text.replace(" ", "T") + "Z" : text);
}
// Plain text (for labels and titles): date, time and zone, in the given mode or the chosen one.
function formatTime(value, { date = true, seconds = true, mode = zoneMode() } = {}) {
  const at = parseTime(value);
  if (Number.isNaN(at.getTime())) return String(value);
  const utc = mode === "utc";
  // A local time is shifted into the UTC fields, so one set of getters reads both modes.
  const d = utc ? at : new Date(at.getTime() - at.getTimezoneOffset() * 60000);
  const day = `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
  const clock = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}${seconds ? ":" + pad(d.getUTCSeconds()) : ""}`;
  return `${date ? day + " " : ""}${clock} ${utc ? "UTC" : offsetText(at)}`;
}
// Markup for a time from the API: a <time> element whose title gives the same instant in the other mode.
function when(value) {
  if (value === null || value === undefined || value === "") return "–";
  const at = parseTime(value);
  if (Number.isNaN(at.getTime())) return esc(value);
  const other = zoneMode() === "utc" ? `${formatTime(at, { mode: "local" })} (${localZoneName()})` : formatTime(at, { mode: "utc" });
  return `<time datetime="${esc(at.toISOString())}" title="${esc(other)}">${esc(formatTime(at))}</time>`;
}
const stateTag = (state) => `<span class="state ${esc(state)}">${esc(state)}</span>`;
const short = (text, n = 90) => { const s = String(text ?? ""); return s.length > n ? s.slice(0, n - 1) + "…" : s; };

class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

// A 503 names the server that cannot be reached ("Redis cannot be reached; ..."): "Redis", "PostgreSQL", ...
function serverOf(error) {
  const named = /^(.+?) cannot be reached/.exec(error.message || "");
  return named ? named[1].replace(/^the /, "The ") : "A server";
}
// What each panel is, as its card says when the server behind it is away.
const PANEL_TITLES = {
  throughput: "Throughput, last hour", queues: "Queue counts", "dead-letters": "Dead letters",
  failed: "Failed, retry pending", schedules: "Schedules", workers: "Worker processes and beats",
};
function unreachable(error, name = "") {
  const server = serverOf(error);
  return `<div class="card unreachable" data-panel="${esc(name)}" data-server="${esc(server)}"><h2>${esc(PANEL_TITLES[name] || "")}</h2>
    <p><b class="error server-away">${esc(server)} unreachable</b> <span class="muted">This panel comes back by itself when ${esc(server)} answers; the rest of the page works on.</span></p></div>`;
}
// One panel of a page, drawn from one API call: when the server behind it is away the panel says which,
// and the other panels of the page still draw (Redis down: the job store's pages work on).
async function panel(loading, draw, name = "") {
  try {
    return draw(await loading);
  } catch (error) {
    if (error.status !== 503) throw error;
    return unreachable(error, name);
  }
}

async function api(path, options = {}) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const headers = { Authorization: `Bearer ${token}` };
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path.startsWith("/") ? path : `${API}/${path}`, {
    method: options.method || "GET",
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  if (response.status === 401) { signOut("Your token is not valid any more; sign in again."); throw new ApiError(401, "unauthorized", "signed out"); }
  const body = await response.json().catch(() => ({}));
  if (!response.ok || body.success === false) {
    const error = body.error || { code: "http_error", message: response.statusText };
    throw new ApiError(response.status, error.code, error.message);
  }
  return options.envelope ? body : body.data;  // the envelope for a listing's `page` (its total)
}

function flash(message, bad = false) {
  const note = document.createElement("div");
  note.className = "note" + (bad ? " bad" : "");
  note.textContent = message;
  $("#flash").appendChild(note);
  setTimeout(() => note.remove(), 4000);
}

// Buttons with data-action run an admin call, then redraw.
async function act(button) {
  const { action, queue, job, name, confirm: question } = button.dataset;
  if (question && !window.confirm(question)) return;
  button.disabled = true;
  try {
    let result;
    if (action === "pause" || action === "resume" || action === "drain") {
      result = await api(`queues/${enc(queue)}/${action}`, { method: "POST" });
      flash(action === "drain" ? `Drained ${result.removed} job(s) from ${queue}` : `${queue} ${action === "pause" ? "paused" : "resumed"}`);
    } else if (action === "retry") {
      result = await api(`queues/${enc(queue)}/jobs/${enc(job)}/retry`, { method: "POST" });
      flash(`Retrying as ${result.jobId}`);
    } else if (action === "cancel") {
      await api(`queues/${enc(queue)}/jobs/${enc(job)}`, { method: "DELETE" });
      flash("Job cancelled");
    } else if (action === "schedule-start" || action === "schedule-stop" || action === "schedule-trigger") {
      const verb = action.split("-")[1];
      result = await api(`scheduler/${enc(name)}/${verb}`, { method: "POST" });
      flash(verb === "trigger" ? `${name}: ${result.jobIds.length} job(s) enqueued` : `${name} ${verb === "start" ? "started" : "stopped"}`);
    } else if (action === "download") {
      await download(button.dataset.export);
    }
  } catch (error) {
    if (error.status !== 401) flash(error.status === 403 ? "This needs an admin token." : error.message, true);
  } finally {
    button.disabled = false;
    refresh();
  }
}

async function download(exportId) {
  const response = await fetch(`${API}/exports/${enc(exportId)}/download`, { headers: { Authorization: `Bearer ${sessionStorage.getItem(TOKEN_KEY)}` } });
  if (!response.ok) { const body = await response.json().catch(() => ({})); throw new ApiError(response.status, "", body.error ? body.error.message : response.statusText); }
  const name = (response.headers.get("content-disposition") || "").match(/filename="?([^";]+)"?/);
  const link = document.createElement("a");
  link.href = URL.createObjectURL(await response.blob());
  link.download = name ? name[1] : `export-${exportId}`;
  link.click();
  URL.revokeObjectURL(link.href);
}

function adminButton(label, data, cls = "") {
  const attrs = Object.entries(data).map(([key, value]) => `data-${key}="${esc(value)}"`).join(" ");
  const disabled = role === "admin" ? "" : 'disabled title="needs an admin token"';
  return `<button class="${cls}" ${attrs} ${disabled}>${esc(label)}</button>`;
}

// Bulk actions (bull-board's retry all, clean and promote all; Sidekiq's Retry All and Delete All) ---------------
// Each button opens a dialog that asks the API for a dry run first and shows how many jobs the action would touch;
// only its confirm button acts ("confirm": true), and the dialog then shows how many it touched. Admin tokens only:
// a read token is not shown the buttons.

// The criteria of the search on the page, as POST jobs/retry takes them (payload fields as an object).
function searchCriteria(params) {
  const body = { fields: {} };
  for (const [key, value] of searchQuery(params)) {
    if (key.startsWith("field.")) body.fields[key.slice(6)] = value;
    else if (key === "state") body.state = [...(body.state || []), value];
    else body[key] = value;
  }
  return body;
}
const BULK = {
  "retry-failed": (d) => ({
    path: `queues/${enc(d.queue)}/retry-all`, body: { status: "failed" }, title: `Retry every failed job of ${d.queue}`,
    would: (n) => `${num(n)} failed job(s) will run again now, each as a new job linked to it.`, done: (n) => `Retried ${num(n)} job(s)`,
  }),
  "retry-dead": (d) => ({
    path: `queues/${enc(d.queue)}/retry-all`, body: { status: "dead" }, title: `Retry every dead job of ${d.queue}`,
    would: (n) => `${num(n)} dead job(s) will run again from their dead letters, each as a new job linked to it.`, done: (n) => `Retried ${num(n)} job(s)`,
  }),
  purge: (d) => ({
    path: `queues/${enc(d.queue)}/dead-letters/purge`, body: {}, title: `Purge the dead letters of ${d.queue}`,
    would: (n) => `${num(n)} dead letter(s) and their job records will be dropped. They cannot be retried afterwards.`, done: (n) => `Purged ${num(n)} dead letter(s)`,
  }),
  clean: (d) => {
    const status = $("#clean-status").value;
    const gracePeriod = Math.max(0, Math.floor(Number($("#clean-grace").value || 0)));
    return {
      path: `queues/${enc(d.queue)}/clean-all`, body: { status, gracePeriod }, title: `Clean ${status} job records of ${d.queue}`,
      would: (n) => `${num(n)} ${status} job record(s) that finished more than ${num(gracePeriod)} s ago will be removed.`, done: (n) => `Removed ${num(n)} job record(s)`,
    };
  },
  promote: (d) => ({
    path: `queues/${enc(d.queue)}/promote`, body: {}, title: `Promote the delayed jobs of ${d.queue}`,
    would: (n) => `${num(n)} delayed job(s) will run now instead of at their time.`, done: (n) => `Promoted ${num(n)} job(s)`,
  }),
  "retry-search": () => ({
    path: "jobs/retry", body: searchCriteria(hashParams), title: "Retry the failed and dead jobs of this search",
    would: (n) => `${num(n)} failed or dead job(s) this search finds will run again, each as a new job linked to it.`, done: (n) => `Retried ${num(n)} job(s)`,
  }),
};

function bulkButton(label, bulk, data = {}, cls = "") {
  if (role !== "admin") return "";
  const attrs = Object.entries({ bulk, ...data }).map(([key, value]) => `data-${key}="${esc(value)}"`).join(" ");
  return `<button type="button" class="${cls}" ${attrs}>${esc(label)}</button>`;
}

function bulkDialog() {
  let dialog = $("#bulk-dialog");
  if (dialog) return dialog;
  dialog = document.createElement("dialog");
  dialog.id = "bulk-dialog";
  dialog.setAttribute("aria-labelledby", "bulk-title");
  dialog.innerHTML = `<h2 id="bulk-title"></h2><p id="bulk-text"></p><p id="bulk-extra" class="muted"></p>
    <div class="bulk-buttons"><button type="button" id="bulk-cancel">Cancel</button><button type="button" id="bulk-confirm" class="danger">Confirm</button></div>`;
  document.body.appendChild(dialog);
  dialog.querySelector("#bulk-cancel").addEventListener("click", () => dialog.close());
  dialog.querySelector("#bulk-confirm").addEventListener("click", () => runBulk(dialog));
  dialog.addEventListener("close", () => { if (dialog.dataset.step !== "running") bulkAction = null; });  // Esc too
  return dialog;
}

// The dialog's step, for people and for tests: counting, ready (data-count), running, done (data-result), error.
function bulkStep(dialog, step, text, extra = "") {
  dialog.dataset.step = step;
  dialog.querySelector("#bulk-text").textContent = text;
  dialog.querySelector("#bulk-extra").textContent = extra;
  const confirm = dialog.querySelector("#bulk-confirm");
  confirm.hidden = step === "done" || step === "error";
  confirm.disabled = step !== "ready";
  dialog.querySelector("#bulk-cancel").textContent = step === "done" || step === "error" ? "Close" : "Cancel";
}

let bulkAction = null;  // the action the open dialog is about
async function openBulk(button) {
  const spec = BULK[button.dataset.bulk]({ ...button.dataset });
  const dialog = bulkDialog();
  bulkAction = spec;
  delete dialog.dataset.count;
  delete dialog.dataset.result;
  dialog.dataset.action = button.dataset.bulk;
  dialog.querySelector("#bulk-title").textContent = spec.title;
  dialog.querySelector("#bulk-confirm").textContent = button.textContent.replace(/…$/, "");
  bulkStep(dialog, "counting", "Counting the jobs this touches…");
  if (!dialog.open) dialog.showModal();
  try {
    const dry = await api(spec.path, { method: "POST", body: { ...spec.body, dryRun: true } });
    if (bulkAction !== spec) return;  // closed and opened for another action meanwhile
    dialog.dataset.count = String(dry.count);
    if (dry.count === 0) {
      bulkStep(dialog, "done", dry.skipped ? `Nothing to do: the ${num(dry.skipped)} job(s) found were retried already, or their dead letters are gone.`
        : "Nothing to do: no job matches.");
    }
    else bulkStep(dialog, "ready", spec.would(dry.count), dry.skipped ? `${num(dry.skipped)} other(s) will be skipped: already retried, purged or expired.` : "");
  } catch (error) {
    if (bulkAction === spec && error.status !== 401) bulkStep(dialog, "error", error.status === 403 ? "This needs an admin token." : error.message);
  }
}

async function runBulk(dialog) {
  const spec = bulkAction;
  if (!spec || dialog.dataset.step !== "ready") return;
  bulkStep(dialog, "running", "Working…");
  try {
    const done = await api(spec.path, { method: "POST", body: { ...spec.body, confirm: true } });
    dialog.dataset.result = String(done.count);
    const skipped = done.skipped ? ` (${num(done.skipped)} skipped)` : "";
    bulkStep(dialog, "done", `${spec.done(done.count)}${skipped}.`);
    flash(`${spec.done(done.count)}${skipped}`);
  } catch (error) {
    if (error.status !== 401) bulkStep(dialog, "error", error.message);
  } finally {
    refresh();
  }
}

function jobsTable(jobs, withQueue = false, actions = null) {
  if (!jobs.length) return '<div class="empty">No jobs here.</div>';
  const rows = jobs.map((job) => `
    <tr data-job="${esc(job.id)}">
      <td><a href="#/job/${enc(job.queueName || job.queue)}/${enc(job.id)}"><code>${esc(job.id.slice(0, 8))}</code></a></td>
      ${withQueue ? `<td><a href="#/queue/${enc(job.queueName || job.queue)}">${esc(job.queueName || job.queue)}</a></td>` : ""}
      <td>${esc(job.name)}</td>
      <td>${job.state ? stateTag(job.state) : stateTag("dead")}</td>
      <td class="num">${num(job.attemptsMade)}${job.maxAttempts ? "/" + num(job.maxAttempts) : ""}</td>
      <td>${job.progress !== undefined ? `<div class="progress" title="${num(job.progress)}%"><div data-width="${Number(job.progress) || 0}"></div></div>` : ""}</td>
      <td>${when(job.finishedOn || job.deadAt || job.processedOn || job.enqueuedAt)}</td>
      <td class="muted">${esc(short(job.failedReason))}</td>
      ${actions ? `<td>${actions(job)}</td>` : ""}
    </tr>`).join("");
  return `<table><thead><tr><th>Job</th>${withQueue ? "<th>Queue</th>" : ""}<th>Name</th><th>State</th><th class="num">Attempts</th><th>Progress</th><th>When</th><th>Reason</th>${actions ? "<th></th>" : ""}</tr></thead><tbody>${rows}</tbody></table>`;
}

// A bar chart of jobs finished per minute over the last hour (completed green, dead red).
function throughputChart(series) {
  const minutes = new Map();
  for (const points of Object.values(series)) {
    for (const point of points) {
      const entry = minutes.get(point.minute) || { completed: 0, dead: 0 };
      entry.completed += point.completed; entry.dead += point.dead;
      minutes.set(point.minute, entry);
    }
  }
  const now = Math.floor(Date.now() / 60000) * 60;
  const bars = [];
  for (let i = 59; i >= 0; i--) bars.push({ minute: now - i * 60, ...(minutes.get(now - i * 60) || { completed: 0, dead: 0 }) });
  const peak = Math.max(1, ...bars.map((b) => b.completed + b.dead));
  const width = 600, height = 140, slot = width / bars.length;
  const rects = bars.map((bar, i) => {
    const okHeight = (bar.completed / peak) * (height - 16);
    const deadHeight = (bar.dead / peak) * (height - 16);
    const x = (i * slot + 1).toFixed(1), w = Math.max(1, slot - 2).toFixed(1);
    const label = `${formatTime(new Date(bar.minute * 1000), { date: false, seconds: false })}: ${bar.completed} completed, ${bar.dead} dead`;
    return `<g><title>${esc(label)}</title>
      <rect x="${x}" y="${(height - okHeight).toFixed(1)}" width="${w}" height="${okHeight.toFixed(1)}" fill="var(--completed)"></rect>
      <rect x="${x}" y="${(height - okHeight - deadHeight).toFixed(1)}" width="${w}" height="${deadHeight.toFixed(1)}" fill="var(--dead)"></rect></g>`;
  }).join("");
  const total = bars.reduce((sum, bar) => sum + bar.completed, 0);
  return `<div class="chart" id="throughput" data-total="${total}">
    <div class="toolbar"><h2>Throughput, last hour</h2><span class="spacer"></span>
      <span class="legend"><span><span class="swatch swatch-completed"></span>completed</span><span><span class="swatch swatch-dead"></span>dead</span><span>peak ${num(peak)}/min · ${num(total)} completed in the hour</span></span></div>
    <svg viewBox="0 0 ${width} ${height}" preserveAspectRatio="none" role="img" aria-label="jobs finished per minute">
      <line x1="0" y1="${height - 0.5}" x2="${width}" y2="${height - 0.5}" stroke="var(--line)"></line>${rects}</svg></div>`;
}

// Paging -----------------------------------------------------------------------------------
// A page of a listing is in the address after the view: #/queue/<name>/<state>?page=3, #/search?state=dead&page=2.
// Every listing comes with the total it holds (`total`, `limit`, `offset`) and reads in one order (newest first,
// ties broken by id), so a page holds the same jobs from one refresh to the next.

const PAGE_SIZE = 50;
let hashParams = new URLSearchParams();  // the query part of the address, set by route()

function pageNumber(params = hashParams, key = "page") {
  const page = Number(params.get(key));
  return Number.isInteger(page) && page >= 1 ? page : 1;
}
const pageOffset = (key = "page") => (pageNumber(hashParams, key) - 1) * PAGE_SIZE;
function pageLink(base, params, page, key = "page") {
  const next = new URLSearchParams(params);
  if (page > 1) next.set(key, String(page)); else next.delete(key);
  const query = next.toString();
  return `#/${base}${query ? `?${query}` : ""}`;
}
// "51–100 of 1,234" and links to the first, newer, older and last pages. `found` is a page of a listing: its rows
// (as `jobs`, whatever they are), `total`, `limit`, `offset`; `key` names the page in the address when a view has two.
function pager(base, params, found, id, key = "page") {
  const pages = Math.max(1, Math.ceil(found.total / found.limit));
  const page = Math.floor(found.offset / found.limit) + 1;
  const range = found.jobs.length
    ? `${num(found.offset + 1)}–${num(found.offset + found.jobs.length)} of ${num(found.total)}`
    : `none here of ${num(found.total)}`;
  const link = (to, label, rel) => (to >= 1 && to <= pages && to !== page
    ? `<a class="button" rel="${rel}" href="${esc(pageLink(base, params, to, key))}">${label}</a>`
    : `<span class="button" aria-disabled="true">${label}</span>`);
  return `<div class="pager" id="${esc(id)}" role="navigation" aria-label="pages" data-total="${found.total}" data-page="${page}" data-pages="${pages}">
    <span class="range">${range}</span><span class="spacer"></span>
    ${link(1, "« First", "first")}${link(page - 1, "‹ Newer", "prev")}<span class="page-of">page ${num(page)} of ${num(pages)}</span>${link(page + 1, "Older ›", "next")}${link(pages, "Last »", "last")}</div>`;
}

// Search ------------------------------------------------------------------------------------
// #/search?id=3f2a&queue=data-export&state=dead&publisher=pub-001&field.format=csv&since=6h: the address holds
// GET /api/v1/jobs's parameters, a typed time as it was typed (read in the zone the page shows), and the page.

const SEARCH_KEYS = ["id", "queue", "state", "publisher", "since", "until"];

// A time typed into the search as the API takes it: a date and time without an offset is read in the zone
// the page shows (UTC or local); a span back from now (6h, 7d) and a time with its offset pass as they are.
function typedTime(text) {
  const value = String(text || "").trim();
  const parts = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?)?$/.exec(value);
  if (!parts) return value;  // the API says what is wrong with anything else
  const [y, mo, d, h, mi, sec] = parts.slice(1).map((part) => Number(part || 0));
  const at = zoneMode() === "utc" ? new Date(Date.UTC(y, mo - 1, d, h, mi, sec)) : new Date(y, mo - 1, d, h, mi, sec);
  return at.toISOString();
}
function searchQuery(params) {
  const query = new URLSearchParams();
  for (const [key, value] of params) {
    if (!value) continue;
    if (key === "since" || key === "until") query.append(key, typedTime(value));
    else if (SEARCH_KEYS.includes(key) || key.startsWith("field.")) query.append(key, value);
  }
  return query;
}
function searchForm(params, queues) {
  const value = (key) => esc(params.get(key) || "");
  const option = (name, current) => `<option value="${esc(name)}"${name === current ? " selected" : ""}>${esc(name)}</option>`;
  const choices = (names, current, any) => {
    const known = current && !names.includes(current) ? [...names, current] : names;
    return `<option value="">${any}</option>${known.map((name) => option(name, current)).join("")}`;
  };
  const fields = [...params].filter(([key]) => key.startsWith("field.")).map(([key, v]) => `${key.slice(6)}=${v}`).join(" ");
  const queue = queues
    ? `<select id="search-queue" name="queue">${choices(queues, params.get("queue") || "", "any queue")}</select>`
    : `<input id="search-queue" name="queue" value="${value("queue")}" placeholder="queue name">`;
  const zone = zoneMode() === "utc" ? "UTC" : localZoneName();
  return `<form id="search-form" class="card search-form" autocomplete="off">
    <label>Job id or its start<input id="search-id" name="id" value="${value("id")}" placeholder="3f2a9c"></label>
    <label>Queue${queue}</label>
    <label>State<select id="search-state" name="state">${choices(STATES, params.get("state") || "", "any state")}</select></label>
    <label>Publisher<input id="search-publisher" name="publisher" value="${value("publisher")}" placeholder="pub-001"></label>
    <label>Payload fields<input id="search-fields" name="fields" value="${esc(fields)}" placeholder="format=csv granularity=day"></label>
    <label>Enqueued since<input id="search-since" name="since" value="${value("since")}" placeholder="2026-11-02 08:00 or 6h" title="in ${esc(zone)}"></label>
    <label>Enqueued before<input id="search-until" name="until" value="${value("until")}" placeholder="2026-11-03" title="in ${esc(zone)}"></label>
    <div class="search-buttons"><button type="submit" class="primary">Search</button><a href="#/search">Clear</a></div>
  </form>`;
}
// The criteria in words, times with their zone: "enqueued from 2026-11-02 08:00:00 UTC".
function searchRange(params) {
  const shown = (text) => (/^\d+\s*[smhd]$/.test(text.trim()) ? `${text.trim()} ago` : formatTime(typedTime(text)));
  const [since, until] = [params.get("since"), params.get("until")];
  if (!since && !until) return "";
  return `<p class="muted" id="search-range">enqueued ${since ? `from ${esc(shown(since))} ` : ""}${until ? `before ${esc(shown(until))}` : ""}</p>`;
}

async function searchView() {
  const params = hashParams;
  const query = searchQuery(params);
  query.set("limit", String(PAGE_SIZE));
  query.set("offset", String((pageNumber(params) - 1) * PAGE_SIZE));
  const [queues, found] = await Promise.all([
    api("queues/metrics").then((metrics) => Object.keys(metrics), () => null),  // a free-text queue when Redis is away
    api(`jobs?${query}`).catch((error) => { if ([404, 422].includes(error.status)) return error; throw error; }),
  ]);
  const form = searchForm(params, queues);
  if (found instanceof ApiError) {
    return `<h1>Search jobs</h1>${form}<div class="card" id="search-error"><p class="error">${esc(found.message)}</p></div>`;
  }
  return `<h1>Search jobs</h1>${form}
    <div class="card" id="search-results"><div class="toolbar"><h2 class="flush">Jobs found <span class="badge" id="search-total">${num(found.total)}</span></h2>
      <span class="spacer"></span>${found.total ? bulkButton("Retry these…", "retry-search", {}, "primary") : ""}</div>
      ${searchRange(params)}${pager("search", params, found, "search-pager")}${jobsTable(found.jobs, true)}</div>`;
}

// What is typed into the search form and not searched for yet stays through the redraws of the same address.
let drawnHash = null;  // the address of the view on the page
const typingIn = (element) => {
  const active = document.activeElement;
  return Boolean(active && element.contains(active) && ["INPUT", "SELECT"].includes(active.tagName));
};
function typedSearch() {
  const form = $("#search-form");
  if (!form || drawnHash !== location.hash) return null;
  return [...form.elements].filter((field) => field.name).map((field) => [field.name, field.value]);
}
function restoreSearch(typed) {
  drawnHash = location.hash;
  const form = $("#search-form");
  if (!form || !typed) return;
  for (const [name, value] of typed) if (form.elements[name]) form.elements[name].value = value;
}

// The form's values as the address of the search (its first page); false, with a message, when a field is malformed.
function searchAddress(form) {
  const params = new URLSearchParams();
  for (const key of SEARCH_KEYS) {
    const value = (form.elements[key]?.value || "").trim();
    if (value) params.set(key, value);
  }
  for (const pair of (form.elements.fields?.value || "").trim().split(/\s+/).filter(Boolean)) {
    const cut = pair.indexOf("=");
    if (cut < 1) { flash(`Payload fields: use name=value, not ${JSON.stringify(pair)}`, true); return false; }
    params.append(`field.${pair.slice(0, cut)}`, pair.slice(cut + 1));
  }
  const query = params.toString();
  return `#/search${query ? `?${query}` : ""}`;
}

// Views ---------------------------------------------------------------------------------

async function queuesView() {
  const [chart, table] = await Promise.all([
    panel(api("queues/throughput?minutes=60"), (series) => `<div class="card">${throughputChart(series)}</div>`, "throughput"),
    panel(api("queues/metrics"), queuesTable, "queues"),
  ]);
  return `<h1>Queues</h1>${chart}${await HistoryCharts.card()}${table}`;
}

function queuesTable(queues) {
  const rows = Object.entries(queues).map(([name, counts]) => `
    <tr data-queue="${esc(name)}">
      <td><a href="#/queue/${enc(name)}"><b>${esc(name)}</b></a> ${counts.paused ? '<span class="badge paused">paused</span>' : ""}</td>
      ${STATES.map((state) => `<td class="num" data-count="${state}">${num(counts[state])}</td>`).join("")}
      <td>${adminButton(counts.paused ? "Resume" : "Pause", { action: counts.paused ? "resume" : "pause", queue: name })}</td>
    </tr>`).join("");
  return `<div class="card"><table id="queues"><thead><tr><th>Queue</th>${STATES.map((s) => `<th class="num">${s}</th>`).join("")}<th></th></tr></thead>
    <tbody>${rows}</tbody></table></div>`;
}

async function queueView(queue, state) {
  const listing = new URLSearchParams({ queue, limit: PAGE_SIZE, offset: (pageNumber() - 1) * PAGE_SIZE });
  if (state) listing.set("state", state);
  const [stats, found] = await Promise.all([api(`queues/${enc(queue)}/metrics`), api(`jobs?${listing}`)]);
  const figure = (label, value, suffix = "") => `<div class="stat"><div class="value">${value === null || value === undefined ? "–" : esc(value) + suffix}</div><div class="label">${esc(label)}</div></div>`;
  const percent = (rate) => (rate === null || rate === undefined ? null : (rate * 100).toFixed(1));
  const tabs = [["all", ""], ...STATES.map((s) => [s, s])].map(([label, value]) =>
    `<a href="#/queue/${enc(queue)}${value ? "/" + value : ""}" class="${(state || "") === value ? "current" : ""}">${label}${value ? ` <b>${num(stats[value])}</b>` : ""}</a>`).join("");
  return `<div class="toolbar"><h1>${esc(queue)}</h1>${stats.paused ? '<span class="badge paused" id="paused-badge">paused</span>' : ""}<span class="spacer"></span>
      ${adminButton(stats.paused ? "Resume" : "Pause", { action: stats.paused ? "resume" : "pause", queue }, "primary")}
      ${adminButton("Drain", { action: "drain", queue, confirm: `Remove every waiting and delayed job of ${queue}?` }, "danger")}
    </div>
    <div class="grid">
      ${figure("throughput / min (1 h)", stats.throughputPerMin)}${figure("avg processing", stats.avgProcessingMs, " ms")}
      ${figure("p95 processing", stats.p95ProcessingMs, " ms")}${figure("completion rate", percent(stats.completionRate), " %")}
      ${figure("failure rate", percent(stats.failureRate), " %")}
    </div>
    ${await HistoryCharts.card(queue)}
    ${await tenantsCard(queue)}
    ${bulkCard(queue)}
    <div class="card">
      <div class="toolbar"><div class="tabs">${tabs}</div></div>
      ${pager(`queue/${enc(queue)}${state ? `/${state}` : ""}`, hashParams, found, "queue-pager")}
      ${jobsTable(found.jobs)}
    </div>`;
}

// The queue's top tenants by backlog (GET queues/<q>/tenants): who waits most, who runs, each one's tier.
const TOP_TENANTS = 10;
async function tenantsCard(queue) {
  let found;
  try {
    found = await api(`queues/${enc(queue)}/tenants?limit=${TOP_TENANTS}`);
  } catch (error) {
    return `<div class="card" id="tenants"><h2>Top tenants by backlog</h2><p class="error">${esc(error.message)}</p></div>`;
  }
  const waiting = (value) => (value === null ? "–" : num(value));
  const rows = found.tenants.map((row) => `<tr data-tenant="${esc(row.tenant)}">
      <td>${row.tenant ? `<code>${esc(row.tenant)}</code>` : '<span class="muted">(no tenant)</span>'}</td>
      <td>${row.tier ? `<span class="badge${row.tier === "standard" ? "" : " tier"}">${esc(row.tier)}</span>` : ""}</td>
      <td class="num">${waiting(row.waiting)}</td><td class="num">${num(row.active)}</td></tr>`).join("");
  const limits = [
    found.limits.tenantConcurrency ? `${found.limits.tenantConcurrency} at a time` : "",
    found.limits.tenantRateLimit ? `${found.limits.tenantRateLimit} per ${found.limits.tenantRateWindow} s` : "",
  ].filter(Boolean).join(", ");
  const note = `${num(found.total)} tenant(s)${limits ? ` · per tenant: ${esc(limits)}` : ""}`;
  return `<div class="card" id="tenants"><div class="toolbar"><h2 class="flush">Top tenants by backlog</h2><span class="spacer"></span><span class="muted">${note}</span></div>
    ${rows ? `<table id="tenants-table"><thead><tr><th>Tenant</th><th>Tier</th><th class="num">waiting</th><th class="num">active</th></tr></thead><tbody>${rows}</tbody></table>`
      : '<p class="muted">No job waiting or running.</p>'}</div>`;
}

// The queue's bulk actions, for an admin token: each button opens the confirmation dialog.
function bulkCard(queue) {
  if (role !== "admin") return "";
  return `<div class="card" id="bulk-actions"><h2>Bulk actions</h2><div class="toolbar bulk-toolbar">
      ${bulkButton("Retry all failed…", "retry-failed", { queue })}${bulkButton("Retry all dead…", "retry-dead", { queue })}
      ${bulkButton("Promote delayed…", "promote", { queue })}${bulkButton("Purge dead letters…", "purge", { queue }, "danger")}
    </div><div class="toolbar bulk-toolbar flush">
      <label for="clean-status" class="muted flush">Clean</label>
      <select id="clean-status"><option>completed</option><option>failed</option><option>dead</option><option>cancelled</option></select>
      <label for="clean-grace" class="muted flush">records older than (s)</label>
      <input id="clean-grace" type="number" min="0" value="3600">
      ${bulkButton("Clean…", "clean", { queue }, "danger")}
    </div></div>`;
}

async function jobView(queue, jobId) {
  const job = await api(`queues/${enc(queue)}/jobs/${enc(jobId)}`);
  const finishedBad = ["dead", "failed", "cancelled"].includes(job.state);
  const steps = [
    ["enqueued", job.enqueuedAt, true],
    ["started", job.processedOn, Boolean(job.processedOn)],
    [job.state === "completed" ? "completed" : finishedBad ? job.state : "finished", job.finishedOn, Boolean(job.finishedOn)],
  ];
  const timeline = steps.map(([label, at, done]) =>
    `<div class="step ${done ? (finishedBad && label === job.state ? "bad" : "done") : ""}"><b>${esc(label)}</b><br><span class="muted">${when(at)}</span></div>`).join("");
  const rows = [
    ["Name", esc(job.name)], ["Queue", `<a href="#/queue/${enc(queue)}">${esc(queue)}</a>`], ["State", stateTag(job.state)],
    ["Priority", num(job.priority)], ["Attempts", `${num(job.attemptsMade)} of ${num(job.maxAttempts)}`],
    ["Duration", job.durationMs === null ? "–" : `${num(Math.round(job.durationMs))} ms`], ["Worker", esc(job.worker || "–")],
    ["Run at", when(job.runAt)], ["Retry of", job.retryOf ? `<a href="#/job/${enc(queue)}/${enc(job.retryOf)}"><code>${esc(job.retryOf)}</code></a>` : "–"],
    ["Pipeline", job.pipelineId ? `<a href="#/pipeline/${enc(job.pipelineId)}"><code>${esc(job.pipelineId)}</code></a>` : "–"],
  ].map(([k, v]) => `<dt>${k}</dt><dd>${v}</dd>`).join("");
  const buttons = [
    ["failed", "dead"].includes(job.state) ? adminButton("Retry", { action: "retry", queue, job: job.id }, "primary") : "",
    ["waiting", "delayed"].includes(job.state) ? adminButton("Cancel", { action: "cancel", queue, job: job.id, confirm: "Cancel this job? It will never run." }, "danger") : "",
  ].join(" ");
  return `<div class="toolbar"><h1>Job <code>${esc(job.id)}</code></h1><span class="spacer"></span>${buttons}</div>
    <div class="card"><div class="timeline">${timeline}</div>
      <div class="toolbar spaced"><span class="muted">Progress</span><div class="progress" id="job-progress"><div data-width="${Number(job.progress) || 0}"></div></div><b>${num(job.progress)}%</b></div></div>
    <div class="card"><dl class="kv">${rows}</dl></div>
    <div class="card"><h2>Payload</h2><pre>${esc(JSON.stringify(job.data, null, 2))}</pre></div>
    ${job.result !== null && job.result !== undefined ? `<div class="card"><h2>Result</h2><pre>${esc(JSON.stringify(job.result, null, 2))}</pre></div>` : ""}
    ${job.failedReason ? `<div class="card"><h2 class="error">Error</h2><p id="job-error">${esc(job.failedReason)}</p>${job.stacktrace ? `<pre>${esc(job.stacktrace)}</pre>` : ""}</div>` : ""}`;
}

async function failedView() {
  const retry = (letter) => adminButton("Retry", { action: "retry", queue: letter.queue || letter.queueName, job: letter.id }, "primary");
  const [deadPanel, failedPanel] = await Promise.all([
    panel(api(`dead-letters?limit=${PAGE_SIZE}&offset=${pageOffset("dead")}`), (dead) => {
      const total = Object.values(dead.counts).reduce((a, b) => a + b, 0);
      const found = { jobs: dead.letters, total, limit: PAGE_SIZE, offset: pageOffset("dead") };
      return `<div class="card" id="dead-letters"><h2>Dead letters <span class="badge">${num(total)}</span></h2>
      <p class="muted">Out of retries. Retry runs the job again with the same payload, linked to the original.</p>
      ${pager("failed", hashParams, found, "dead-pager", "dead")}${jobsTable(dead.letters, true, retry)}</div>`;
    }, "dead-letters"),
    panel(api(`jobs?state=failed&limit=${PAGE_SIZE}&offset=${pageOffset("retrying")}`), (retrying) => {
      return `<div class="card" id="retrying"><h2>Failed, retry pending <span class="badge">${num(retrying.total)}</span></h2>
      ${pager("failed", hashParams, retrying, "retrying-pager", "retrying")}${jobsTable(retrying.jobs, true, retry)}</div>`;
    }, "failed"),
  ]);
  return `<h1>Failed &amp; dead</h1>${deadPanel}${failedPanel}`;
}

// Whether anything runs the schedules: a beat alive (it sends the dispatcher every minute) and the dispatcher's last run.
function beatStatus(beatAlive, lastDispatch, link = "") {
  const beat = beatAlive ? '<span class="badge healthy">beat alive</span>' : '<span class="badge unhealthy">no beat running</span>';
  const dispatched = lastDispatch ? `dispatcher last ran ${when(lastDispatch)}` : "the dispatcher has never run";
  const hint = beatAlive ? "" : '<p class="muted flush">Enabled schedules run only while a beat runs: start one with <code>periodiq actors schedules</code>.</p>';
  return `<div class="toolbar" id="beat-status" data-beat-alive="${beatAlive ? "yes" : "no"}">${beat}<span id="last-dispatch">${dispatched}</span>${link ? `<span class="spacer"></span>${link}` : ""}</div>${hint}`;
}

async function schedulesView() {
  return `<h1>Schedules</h1>${await panel(api("scheduler"), schedulesPanel, "schedules")}`;
}

function schedulesPanel(schedules) {
  const { beatAlive = false, lastDispatch = null } = schedules[0] || {};
  const rows = schedules.map((s) => `
    <tr data-schedule="${esc(s.name)}">
      <td><b>${esc(s.name)}</b><br><span class="muted">${esc(s.description || "")}</span></td>
      <td><code>${esc(s.cron)}</code><br><span class="muted">${esc(s.timezone)}</span></td>
      <td>${s.enabled ? `<span class="badge ${beatAlive ? "healthy" : "degraded"}" title="${beatAlive ? "a beat dispatches it" : "enabled, but no beat is running"}">enabled</span>` : '<span class="badge paused">stopped</span>'}</td>
      <td>${s.nextRuns.slice(0, 3).map(when).join("<br>")}</td>
      <td>${s.lastRun ? `${when(s.lastRun.tick)}<br><span class="muted">${num((s.lastRun.jobIds || []).length)} job(s), ${esc(s.lastRun.trigger || "")}</span>` : "–"}</td>
      <td>${adminButton(s.enabled ? "Stop" : "Start", { action: s.enabled ? "schedule-stop" : "schedule-start", name: s.name })}
          ${adminButton("Trigger now", { action: "schedule-trigger", name: s.name, confirm: `Run ${s.name} now?` })}</td>
    </tr>`).join("");
  return `<div class="card">${beatStatus(beatAlive, lastDispatch, '<a href="#/workers">Workers and beats</a>')}</div>
    <div class="card"><table><thead><tr><th>Schedule</th><th>Cron</th><th>State</th><th>Next runs</th><th>Last run</th><th></th></tr></thead><tbody>${rows}</tbody></table></div>`;
}

// How long, as a person reads it: 0.4 s, 12 s, 3 min 04 s, 2 h 05 min (as `jobsctl workers` prints it).
function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  if (seconds < 10) return `${Number(seconds).toFixed(1)} s`;
  const whole = Math.floor(seconds);
  if (whole < 60) return `${whole} s`;
  if (whole < 3600) return `${Math.floor(whole / 60)} min ${pad(whole % 60)} s`;
  return `${Math.floor(whole / 3600)} h ${pad(Math.floor((whole % 3600) / 60))} min`;
}

// Workers (Sidekiq's Busy, Flower's workers): each process, what it runs now and for how long; each beat's last tick.
function workersPanel(report) {
  const running = (worker) => (worker.jobs.length ? worker.jobs.map((job) => `<div class="running-job" data-job="${esc(job.id)}">
      <a href="#/job/${enc(job.queue)}/${enc(job.id)}"><code>${esc(String(job.id).slice(0, 8))}</code></a> ${esc(job.name)}
      <span class="muted">${esc(job.queue)}</span> · <span class="duration" title="started ${esc(formatTime(job.startedAt))}">for ${duration(job.runningSeconds)}</span></div>`).join("")
    : '<span class="muted">idle</span>');
  const queues = (worker) => worker.queues.map((q) => (q === "*" ? "all" : `<a href="#/queue/${enc(q)}">${esc(q)}</a>`)).join(", ");
  const rows = report.workers.map((w) => `<tr data-worker="${esc(w.id)}">
      <td><b>${esc(w.host)}</b><br><span class="muted">PID ${esc(w.pid)}</span></td><td>${running(w)}</td>
      <td class="num" data-busy="${num(w.busy)}">${num(w.busy)}</td><td class="num">${num(w.threads)}</td><td>${queues(w)}</td>
      <td>${when(w.lastHeartbeat)}<br><span class="muted">${duration(w.heartbeatAgeSeconds)} ago</span></td><td>${when(w.startedAt)}</td></tr>`).join("");
  // What runs now comes first: at phone width the later columns scroll inside the card.
  const workers = rows ? `<table><thead><tr><th>Worker</th><th>Running now</th><th class="num">Busy</th><th class="num">Threads</th><th>Queues</th><th>Last heartbeat</th><th>Started</th></tr></thead><tbody>${rows}</tbody></table>`
    : `<div class="empty">No worker heartbeat in the last ${num(report.heartbeatTimeoutSeconds)} s. Start one with <code>dramatiq actors</code>.</div>`;
  const beatRows = report.beats.map((b) => `<tr data-beat="${esc(b.id)}"><td><b>${esc(b.host)}</b><br><span class="muted">PID ${esc(b.pid)}</span></td>
      <td>${when(b.lastTick)}</td><td>${when(b.lastHeartbeat)}<br><span class="muted">${duration(b.heartbeatAgeSeconds)} ago</span></td><td>${when(b.startedAt)}</td></tr>`).join("");
  const beats = beatRows ? `<table><thead><tr><th>Beat</th><th>Last tick</th><th>Last heartbeat</th><th>Started</th></tr></thead><tbody>${beatRows}</tbody></table>` : "";
  return `<div class="card" id="workers"><h2>Worker processes <span class="badge">${num(report.workers.length)}</span></h2>${workers}</div>
    <div class="card" id="beats"><h2>Beats <span class="badge">${num(report.beats.length)}</span></h2>${beatStatus(report.scheduler.beatAlive, report.scheduler.lastDispatch)}${beats}</div>`;
}

async function workersView() {
  return `<h1>Workers</h1>${await panel(api("workers"), workersPanel, "workers")}`;
}

function stagesOf(run) {
  return `<div class="stages">${run.stages.map((stage) => `<span class="stage">${esc(stage.name)} · ${stateTag(stage.state)} <span class="muted">${num((stage.jobs || []).length)} job(s)</span></span>`).join("")}</div>`;
}

async function pipelinesView() {
  const reply = await api(`pipelines?limit=${PAGE_SIZE}&offset=${pageOffset()}`, { envelope: true });
  const runs = reply.data;
  if (!runs.length && !reply.page.total) return '<h1>Pipeline runs</h1><div class="card empty">No pipeline runs yet.</div>';
  const rows = runs.map((run) => `<tr><td><a href="#/pipeline/${enc(run.id)}"><code>${esc(run.id.slice(0, 8))}</code></a></td><td>${esc(run.name)}</td>
    <td>${stateTag(run.state)}</td><td>${stagesOf(run)}</td><td>${when(run.createdAt)}</td></tr>`).join("");
  return `<h1>Pipeline runs</h1><div class="card">${pager("pipelines", hashParams, { ...reply.page, jobs: runs }, "pipelines-pager")}<table><thead><tr><th>Run</th><th>Pipeline</th><th>State</th><th>Stages</th><th>Started</th></tr></thead><tbody>${rows}</tbody></table></div>`;
}

async function pipelineView(runId) {
  const run = await api(`pipelines/${enc(runId)}`);
  const stages = run.stages.map((stage) => `<div class="card"><div class="toolbar"><h2>${esc(stage.name)}</h2>${stateTag(stage.state)}<span class="spacer"></span>
      <span class="muted">${when(stage.startedAt)} → ${when(stage.finishedAt)}</span></div>
      ${(stage.jobs || []).length ? `<table><tbody>${stage.jobs.map((job) => `<tr><td>${job.queue ? `<a href="#/job/${enc(job.queue)}/${enc(job.jobId)}"><code>${esc(job.jobId.slice(0, 8))}</code></a>` : `<code>${esc(job.jobId.slice(0, 8))}</code>`}</td><td>${esc(job.name || "")}</td><td>${stateTag(job.state)}</td><td class="muted">${esc(short(job.failedReason))}</td></tr>`).join("")}</tbody></table>` : '<div class="empty">Not started.</div>'}</div>`).join("");
  return `<div class="toolbar"><h1>${esc(run.name)} run <code>${esc(run.id)}</code></h1>${stateTag(run.state)}</div>
    <div class="card"><pre>${esc(JSON.stringify(run.params, null, 2))}</pre></div>${stages}`;
}

async function exportsView() {
  const reply = await api(`exports?limit=${PAGE_SIZE}&offset=${pageOffset()}`, { envelope: true });
  const exports = reply.data;
  if (!exports.length && !reply.page.total) return '<h1>Exports</h1><div class="card empty">No exports yet. Start one with <code>POST /api/v1/exports</code> or <code>jobsctl export</code>.</div>';
  const rows = exports.map((e) => `<tr data-export="${esc(e.exportId)}"><td><code>${esc(e.exportId.slice(0, 8))}</code></td><td>${esc(e.publisherId)}</td>
    <td>${esc(e.format)} · ${esc(e.granularity)}</td><td>${esc(e.startDate)} → ${esc(e.endDate)}</td><td>${stateTag(e.status)}</td>
    <td class="num">${num(e.rowCount)}</td><td class="num">${num(e.bytes)}</td><td>${when(e.createdAt)}</td><td class="muted">${esc(short(e.error, 60))}</td>
    <td>${e.downloadable ? `<button data-action="download" data-export="${esc(e.exportId)}">Download</button>` : ""}</td></tr>`).join("");
  return `<h1>Exports</h1><div class="card">${pager("exports", hashParams, { ...reply.page, jobs: exports }, "exports-pager")}<table><thead><tr><th>Export</th><th>Publisher</th><th>Format</th><th>Dates</th><th>Status</th><th class="num">Rows</th><th class="num">Bytes</th><th>Created</th><th>Error</th><th></th></tr></thead><tbody>${rows}</tbody></table></div>`;
}

// Routing, refresh, sign-in ---------------------------------------------------------------

// A hash names a view and its arguments: #/queue/<name>[/<state>], #/job/<queue>/<id>, #/pipeline/<id>, ...
// Anything else (an unknown name, an empty or undecodable part, a wrong count) is the "not found" panel.
const ROUTES = {
  "": { nav: "queues", args: [0, 0], draw: () => queuesView() },
  queue: { nav: "queues", args: [1, 2], draw: (queue, state) => queueView(queue, state), valid: (queue, state) => !state || STATES.includes(state) },
  job: { nav: "queues", args: [2, 2], draw: (queue, jobId) => jobView(queue, jobId) },
  failed: { nav: "failed", args: [0, 0], draw: () => failedView() },
  search: { nav: "search", args: [0, 0], draw: () => searchView() },
  workers: { nav: "workers", args: [0, 0], draw: () => workersView() },
  schedules: { nav: "schedules", args: [0, 0], draw: () => schedulesView() },
  pipelines: { nav: "pipelines", args: [0, 0], draw: () => pipelinesView() },
  pipeline: { nav: "pipelines", args: [1, 1], draw: (runId) => pipelineView(runId) },
  exports: { nav: "exports", args: [0, 0], draw: () => exportsView() },
};

function notFound(hash) {
  let shown = hash;
  try { shown = decodeURIComponent(hash); } catch (error) { /* shown as it came */ }
  return { nav: null, draw: async () => `<div class="card" id="not-found"><h1>Not found</h1>
    <p>There is no page at <code>${esc(short(shown, 120))}</code>.</p><p><a href="#/">Back to the queues</a></p></div>` };
}

function route() {
  const hash = location.hash;
  const address = hash.replace(/^#\/?/, "");
  const cut = address.indexOf("?");
  const path = cut < 0 ? address : address.slice(0, cut);
  hashParams = new URLSearchParams(cut < 0 ? "" : address.slice(cut + 1));
  let parts;
  try {
    parts = path === "" ? [""] : path.split("/").map(decodeURIComponent);
  } catch (error) {
    return notFound(hash);  // a malformed escape such as %E0%A4%A
  }
  const [name, ...args] = parts;
  const known = Object.hasOwn(ROUTES, name) ? ROUTES[name] : null;
  if (!known || (name === "" && parts.length > 1)) return notFound(hash);
  const [least, most] = known.args;
  if (args.length < least || args.length > most || args.some((arg) => arg === "")) return notFound(hash);
  if (known.valid && !known.valid(...args)) return notFound(hash);
  return { nav: known.nav, draw: () => known.draw(...args) };
}

let drawing = false;
let redraw = false;  // a navigation or action while a draw is in flight: draw again when it ends
async function refresh() {
  if (!sessionStorage.getItem(TOKEN_KEY)) return;
  if (drawing) { redraw = true; return; }
  const active = document.activeElement;
  if (active && active.closest && active.closest("#view") && ["INPUT", "SELECT"].includes(active.tagName)) return;  // not while typing
  drawing = true;
  const keep = { status: $("#clean-status")?.value, grace: $("#clean-grace")?.value };
  try {
    const current = route();
    document.querySelectorAll("[data-nav]").forEach((a) => a.classList.toggle("current", a.dataset.nav === current.nav));
    const html = await current.draw();
    if (typingIn(view) && location.hash === drawnHash) return;  // typing began while this drew: the next tick draws
    const typed = typedSearch();
    view.innerHTML = html;
    restoreSearch(typed);
    // Widths set through the DOM, not style attributes: the Content-Security-Policy allows no inline style.
    view.querySelectorAll("[data-width]").forEach((bar) => { bar.style.width = `${bar.dataset.width}%`; });
    if (keep.status && $("#clean-status")) { $("#clean-status").value = keep.status; $("#clean-grace").value = keep.grace; }
    $("#updated").textContent = `updated ${formatTime(new Date())}`;
  } catch (error) {
    if (error.status !== 401) {
      const [id, title] = error.status === 404 ? ["not-found", "Not found"]
        : error.status === 503 ? ["unreachable", `${serverOf(error)} unreachable`] : ["view-error", "Something went wrong"];
      view.innerHTML = `<div class="card" id="${id}"><h1>${title}</h1><p class="error">${esc(error.message)}</p><p><a href="#/">Back to the queues</a></p></div>`;
    }
  } finally {
    drawing = false;
  }
  if (redraw) { redraw = false; refresh(); return; }
  health();
}

// The servers /health names whose loss makes the platform unhealthy, as the badge names them.
const SERVERS = { redis: "Redis", postgres: "PostgreSQL" };
async function health() {
  try {
    const report = await (await fetch("/health")).json();
    const badge = $("#health");
    const down = Object.entries(SERVERS).filter(([name]) => (report.services[name] || {}).status === "unhealthy").map(([, label]) => label);
    badge.textContent = down.length ? `${down.join(" and ")} unreachable` : report.status;
    badge.className = `badge ${report.status}`;
    badge.title = Object.entries(report.services).map(([name, s]) => `${name}: ${s.status}`).join("\n");
  } catch (error) { /* the next refresh tries again */ }
}

async function signIn(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
  try {
    role = (await api("whoami")).role;  // the token's check only: no Redis needed, so sign-in works with Redis away
  } catch (error) {
    sessionStorage.removeItem(TOKEN_KEY);
    throw error;
  }
  sessionStorage.setItem(TOKEN_KEY + ".role", role);
  showApp();
}

function signOut(message = "") {
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(TOKEN_KEY + ".role");
  clearInterval(timer);
  $("#nav").hidden = $("#session").hidden = $("#status").hidden = true;
  view.innerHTML = "";
  $("#sign-in").hidden = false;
  $("#sign-in-error").textContent = message;
}

function showApp() {
  role = sessionStorage.getItem(TOKEN_KEY + ".role") || "read";
  $("#sign-in").hidden = true;
  $("#nav").hidden = $("#session").hidden = $("#status").hidden = false;
  $("#role").textContent = `${role} token`;
  $("#refresh-seconds").textContent = REFRESH_MS / 1000;
  clearInterval(timer);
  timer = setInterval(refresh, REFRESH_MS);
  refresh();
}

$("#sign-in-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    await signIn($("#token").value.trim());
    $("#token").value = "";
  } catch (error) {
    $("#sign-in-error").textContent = error.status === 401 ? "That token is not valid." : error.message;
  }
});
$("#sign-out").addEventListener("click", () => signOut());
// The UTC / local switch: kept in localStorage, every time on the page drawn again in the new mode.
function showZoneMode() {
  const mode = zoneMode();
  document.querySelectorAll("#time-zone [data-zone]").forEach((button) => button.setAttribute("aria-pressed", String(button.dataset.zone === mode)));
  $("#time-zone [data-zone=local]").title = `Times in ${localZoneName()}`;
  $("#time-zone [data-zone=utc]").title = "Times in UTC";
}
$("#time-zone").addEventListener("click", (event) => {
  const button = event.target.closest("button[data-zone]");
  if (!button) return;
  zoneChoice = button.dataset.zone;
  try { localStorage.setItem(ZONE_KEY, zoneChoice); } catch (error) { /* kept for this page only */ }
  showZoneMode();
  refresh();
});
showZoneMode();
view.addEventListener("submit", (event) => {
  if (!event.target.matches("#search-form")) return;  // not `.id`: the form's field named "id" shadows it
  event.preventDefault();
  const address = searchAddress(event.target);
  if (!address) return;
  document.activeElement?.blur();  // a focused input holds refreshes back
  if (location.hash === address) refresh(); else location.hash = address;
});
view.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-action]");
  if (button) act(button);
  const bulk = event.target.closest("button[data-bulk]");
  if (bulk) openBulk(bulk);
});
window.addEventListener("hashchange", refresh);

if (sessionStorage.getItem(TOKEN_KEY)) showApp(); else signOut();
