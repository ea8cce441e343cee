// The side panel's "Similar" pane: loaded when its tab is first opened (finding near-duplicates may build an index).
const panel = document.getElementById("panel");

panel?.addEventListener("click", async (event) => {
  const tab = event.target.closest("[data-pane='similar']");
  const body = panel.querySelector("[data-pane-body='similar']");
  if (!tab || !body || body.dataset.loaded) return;
  body.dataset.loaded = "1";
  const response = await fetch(body.dataset.url, { credentials: "same-origin" });
  body.innerHTML = response.ok ? await response.text() : `<p class="bad">Could not find similar images (${response.status}).</p>`;
});
