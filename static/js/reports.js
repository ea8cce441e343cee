// Case page: each report still being made follows its build by polling its progress (JSON) once a second, with
// the time its current stage still needs; once done, its SHA-256 and a download link are shown.

const rows = [...document.querySelectorAll("tr[data-report]")];

function eta(seconds) {
  if (seconds === null || seconds === undefined) return "";
  return seconds >= 60 ? `about ${Math.round(seconds / 60)} min left` : `about ${seconds} s left`;
}

function show(row, report) {
  row.dataset.status = report.status;
  row.querySelector('[data-field="status"]').textContent = report.error ? `${report.status}: ${report.error}` : report.status;
  const bar = row.querySelector('[data-field="bar"]');
  bar.max = Math.max(report.total, 1);
  bar.value = report.done;
  row.querySelector('[data-field="stage"]').textContent = `${report.stage} ${report.done}/${report.total}`;
  row.querySelector('[data-field="eta"]').textContent = eta(report.eta_seconds);
  row.querySelector('[data-field="sha256"]').textContent = report.sha256;
  if (report.status === "done" && !row.querySelector('[data-field="download"] a')) {
    const link = document.createElement("a");
    link.className = "button small";
    link.href = row.dataset.download;
    link.textContent = "Download";
    row.querySelector('[data-field="download"]').replaceChildren(link);
  }
}

async function follow(row) {
  while (row.dataset.status === "queued" || row.dataset.status === "building") {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const response = await fetch(row.dataset.progress, { credentials: "same-origin" });
    if (!response.ok) return;
    show(row, await response.json());
  }
}

rows.forEach(follow);
