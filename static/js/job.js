// Job page: live progress over a WebSocket. On connect the server sends a snapshot read from the database, then an
// event for every change; each event carries the whole state, so a reload, a dropped socket or a restarted server
// never loses anything. The socket reconnects with backoff for as long as the page is open.

import { LiveSocket } from "./live.js";

const root = document.getElementById("job");
const ACTIVE = new Set(["queued", "scanning", "extracting"]);
let seq = Number(root.dataset.seq || 0);

function sizeText(bytes) {
  const units = ["bytes", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (bytes >= 1024 && i < units.length - 1) { bytes /= 1024; i += 1; }
  return `${i ? bytes.toFixed(1) : bytes} ${units[i]}`;
}

function durationText(seconds) {
  if (seconds < 60) return `${Math.ceil(seconds)} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(seconds / 3600)} h ${Math.round((seconds % 3600) / 60)} min`;
}

function field(name, scope = document) {
  return scope.querySelector(`[data-field="${name}"]`);
}

function drawBar(el, p) {
  const total = Math.max(p.total, 1);
  const other = p.skipped + p.unavailable;
  el.querySelector('[data-part="done"]').style.width = `${(100 * p.done) / total}%`;
  el.querySelector('[data-part="failed"]').style.width = `${(100 * p.failed) / total}%`;
  el.querySelector('[data-part="other"]').style.width = `${(100 * other) / total}%`;
}

function drawStage(el, p, discoveryFinished) {
  drawBar(el, p);
  let text = `${p.done} done · ${p.failed} failed · ${p.skipped} skipped`;
  if (p.unavailable) text += ` · ${p.unavailable} unavailable`;
  field("counts", el).textContent = `${text} of ${p.total}`;
  field("message", el).textContent = p.message || "";
  field("rate", el).textContent = p.rate ? `${p.rate.toFixed(1)} images/s` : "";
  const left = p.total - (p.done + p.failed + p.skipped + p.unavailable);
  let eta = "";
  if (left > 0 && p.eta_seconds !== null) eta = `${discoveryFinished ? "" : "at least "}${durationText(p.eta_seconds)} left`;
  field("eta", el).textContent = eta;
}

function drawTypes(types) {
  const el = field("image_types");
  el.replaceChildren(...Object.entries(types).map(([mime, count]) => {
    const chip = document.createElement("span");
    chip.className = "chip";
    chip.textContent = `${mime} ${count}`;
    return chip;
  }));
}

function drawNewestErrors(errors) {
  const el = field("newest_errors");
  if (!el) return;
  el.replaceChildren(...errors.map((e) => {
    const item = document.createElement("li");
    const path = document.createElement("span");
    path.className = "mono";
    // A file name is the suspect's: isolated (as the template's `isolated` filter does), so right-to-left text in
    // it cannot reorder the page's own text around it.
    path.append(document.createElement("bdi"));
    path.firstChild.textContent = e.path;
    const message = document.createElement("span");
    message.className = "bad";
    message.textContent = e.error;
    item.append(path, " — ", message);
    return item;
  }));
}

function drawWaiting(waits) {
  const el = field("waiting");
  if (!el || !waits) return;
  el.replaceChildren(...waits.map((w) => {
    const line = document.createElement("div");
    line.textContent = w;
    return line;
  }));
  el.hidden = waits.length === 0;
}

function draw(s) {
  for (const key of ["files_seen", "images", "distinct_images", "skipped"]) field(key).textContent = s[key];
  for (const el of document.querySelectorAll('[data-field="errors"]')) el.textContent = s.errors;
  field("bytes_seen").textContent = sizeText(s.bytes_seen);
  field("files_per_second").textContent = Math.round(s.files_per_second);
  field("current_path").textContent = s.current_path;
  for (const [kind, count] of Object.entries(s.hash_matches || {})) {
    const el = field(`hash_${kind}`);
    if (!el) continue;
    el.textContent = count;
    if (kind !== "known_good") el.classList.toggle("bad", count > 0);
  }
  drawTypes(s.image_types);
  drawNewestErrors(s.newest_errors);
  drawWaiting(s.waiting);
  for (const p of s.stages) {
    const el = document.querySelector(`.stage[data-stage="${CSS.escape(p.stage)}"]`);
    if (el) drawStage(el, p, s.discovery_finished);
  }
}

function receive(event) {
  if (event.type === "deleted") {
    location.assign(new URL("../", location.href));
    return;
  }
  if (event.seq < seq) return; // older than what the page shows
  seq = event.seq;
  root.dataset.seq = String(seq);
  draw(event);
  if (event.status !== root.dataset.status) {
    // A new state brings other actions and, at the end, the summary: the server renders the page again.
    location.reload();
  }
}

// The bars as the page was rendered: a job that has ended gets no events, and its bars show its counts all the same.
for (const el of document.querySelectorAll(".stage")) {
  const counts = Object.fromEntries(
    ["total", "done", "failed", "skipped", "unavailable"].map((key) => [key, Number(el.dataset[key])]),
  );
  drawBar(el, counts);
}

if (ACTIVE.has(root.dataset.status)) {
  new LiveSocket(`/ws/jobs/${root.dataset.job}/`, { onMessage: receive, indicator: field("live") }).open();
}
