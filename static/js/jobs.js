// Jobs list: status icons and counters follow each listed job live, over one WebSocket that watches the jobs on
// this page (the server forwards the events of those the user may see).

import { LiveSocket } from "./live.js";

const rows = new Map([...document.querySelectorAll("tr[data-job]")].map((row) => [Number(row.dataset.job), row]));
const icons = document.getElementById("status-icons");

function receive(event) {
  const row = rows.get(event.job);
  if (!row || event.type === "deleted" || event.seq < Number(row.dataset.seq)) return;
  row.dataset.seq = String(event.seq);
  const status = row.querySelector('[data-field="status"]');
  if (status.firstElementChild.dataset.status !== event.status) {
    const icon = icons.content.querySelector(`[data-status="${CSS.escape(event.status)}"]`);
    if (icon) status.replaceChildren(icon.cloneNode(true));
  }
  for (const key of ["files_seen", "images", "distinct_images", "skipped", "errors"]) {
    row.querySelector(`[data-field="${key}"]`).textContent = event[key];
  }
  for (const p of event.stages) {
    const chip = row.querySelector(`.chip[data-stage="${CSS.escape(p.stage)}"]`);
    if (!chip) continue;
    chip.textContent = p.summary;
    chip.classList.toggle("warn", Boolean(p.gap));
    const finished = p.done + p.failed + p.skipped + p.unavailable;
    chip.title = `${p.stage}: ${finished}/${p.total} (failed ${p.failed})${p.gap ? `: ${p.gap}` : ""}`;
  }
}

if (rows.size) {
  new LiveSocket("/ws/jobs/", {
    onMessage: receive,
    onOpen: (socket) => {
      const shown = {};
      for (const [id, row] of rows) shown[id] = row.querySelector("[data-status]").dataset.status;
      socket.send(JSON.stringify({ watch: shown }));
    },
  }).open();
}
