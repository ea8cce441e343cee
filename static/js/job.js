// Job page: keeps the counters and stage bars current by reading the progress snapshot from the server while the
// job runs. The snapshot comes from the database, so a reload or a restarted server never loses it.

const root = document.getElementById("job");
const ACTIVE = new Set(["queued", "scanning", "extracting"]);

function sizeText(bytes) {
  const units = ["bytes", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (bytes >= 1024 && i < units.length - 1) { bytes /= 1024; i += 1; }
  return `${i ? bytes.toFixed(1) : bytes} ${units[i]}`;
}

function drawStage(el, p) {
  const total = Math.max(p.total, 1);
  const other = p.skipped + p.unavailable;
  el.querySelector('[data-part="done"]').style.width = `${(100 * p.done) / total}%`;
  el.querySelector('[data-part="failed"]').style.width = `${(100 * p.failed) / total}%`;
  el.querySelector('[data-part="other"]').style.width = `${(100 * other) / total}%`;
  let text = `${p.done} done · ${p.failed} failed · ${p.skipped} skipped`;
  if (p.unavailable) text += ` · ${p.unavailable} unavailable`;
  el.querySelector('[data-field="counts"]').textContent = `${text} of ${p.total}`;
  el.querySelector('[data-field="message"]').textContent = p.message || "";
}

function draw(s) {
  for (const key of ["files_seen", "images", "distinct_images", "skipped", "errors"]) {
    const el = document.querySelector(`[data-field="${key}"]`);
    if (el) el.textContent = s[key];
  }
  const bytes = document.querySelector('[data-field="bytes_seen"]');
  if (bytes) bytes.textContent = sizeText(s.bytes_seen);
  const current = document.querySelector('[data-field="current_path"]');
  if (current) current.textContent = s.current_path;
  for (const p of s.stages) {
    const el = document.querySelector(`.stage[data-stage="${CSS.escape(p.stage)}"]`);
    if (el) drawStage(el, p);
  }
}

for (const el of document.querySelectorAll(".stage[data-stage]")) {
  const d = el.dataset;
  drawStage(el, {
    total: Number(d.total), done: Number(d.done), failed: Number(d.failed),
    skipped: Number(d.skipped), unavailable: Number(d.unavailable), message: el.querySelector('[data-field="message"]').textContent,
  });
}

async function poll() {
  try {
    const response = await fetch(root.dataset.progressUrl, { credentials: "same-origin" });
    if (response.ok) {
      const snapshot = await response.json();
      draw(snapshot);
      if (snapshot.status !== root.dataset.status) {
        // A new state brings new actions, errors and the summary: show the whole page again.
        location.reload();
        return;
      }
    }
  } catch {
    // The server may be restarting; the next poll picks up from the database.
  }
  setTimeout(poll, 1500);
}

if (ACTIVE.has(root.dataset.status)) setTimeout(poll, 1000);
