// A verification's page: while the run is queued or running, its progress is read every second from the server and
// drawn; once it ends, the page is loaded again to list the entries not verified.

const root = document.getElementById("verification");
const FINAL = new Set(["done", "failed"]);
const COUNTS = ["verified", "changed_hash", "changed_metadata", "missing", "new", "unreadable", "checked", "expected"];

function draw(p) {
  for (const name of COUNTS) {
    const el = document.querySelector(`[data-field="${name}"]`);
    if (el) el.textContent = String(p[name]);
  }
  const bar = document.querySelector('[data-field="bar"]');
  bar.max = Math.max(p.expected, p.checked, 1);
  bar.value = p.checked;
  document.querySelector('[data-field="status"]').textContent = p.status;
}

async function poll() {
  try {
    const response = await fetch(root.dataset.progress, { headers: { Accept: "application/json" } });
    if (response.ok) {
      const p = await response.json();
      draw(p);
      if (p.final) {
        location.reload();
        return;
      }
    }
  } catch (error) {
    // The server is away for a moment: try again at the next tick.
  }
  setTimeout(poll, 1000);
}

if (!FINAL.has(root.dataset.status)) setTimeout(poll, 1000);
