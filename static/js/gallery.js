// Gallery: justified rows, size slider, infinite scroll over keyset pages, the side panel and its panes.
// Leaflet and topojson-client are loaded as classic scripts before this module (window.L, window.topojson).
import { addBaseMap } from "./basemap.js";
import { clicked, setupReview } from "./review.js";
import { setupViewer } from "./viewer.js";

const grid = document.getElementById("grid");
const scroller = document.getElementById("grid-scroll");
const sentinel = document.getElementById("sentinel");
const panel = document.getElementById("panel");
const slider = document.getElementById("size");
const faceSwitch = document.getElementById("face-boxes");

// Face boxes are stored as fractions of the picture (or with data-scale as their denominator).
function placeBoxes(root) {
  for (const box of root.querySelectorAll(".face-box:not([data-placed])")) {
    const scale = Number(box.dataset.scale || 1);
    const [left, top, width, height] = box.dataset.box.split(" ").map((v) => (100 * Number(v)) / scale);
    Object.assign(box.style, { left: `${left}%`, top: `${top}%`, width: `${width}%`, height: `${height}%` });
    box.dataset.placed = "1";
  }
}

function showFaces(on) {
  document.body.classList.toggle("show-faces", on);
  localStorage.setItem("gallery.faces", on ? "1" : "0");
}

faceSwitch.checked = localStorage.getItem("gallery.faces") === "1";
showFaces(faceSwitch.checked);
faceSwitch.addEventListener("change", () => showFaces(faceSwitch.checked));

// Tiles carry their aspect ratio as data; CSS lays the rows out from it.
function layout(root) {
  for (const tile of root.querySelectorAll(".tile:not([data-laid])")) {
    const w = Number(tile.dataset.w), h = Number(tile.dataset.h);
    tile.style.setProperty("--ar", w > 0 && h > 0 ? (w / h).toFixed(4) : "1.333");
    tile.dataset.laid = "1";
    const img = tile.querySelector("img");
    img.addEventListener("error", () => tile.classList.add("broken"), { once: true });
  }
  placeBoxes(root);
}

function setRow(px) {
  grid.style.setProperty("--row", `${px}px`);
  localStorage.setItem("gallery.row", String(px));
}

const savedRow = Number(localStorage.getItem("gallery.row"));
if (savedRow >= Number(slider.min) && savedRow <= Number(slider.max)) slider.value = String(savedRow);
setRow(slider.value);
slider.addEventListener("input", () => setRow(slider.value));

// Infinite scroll. Each fragment ends with a hidden marker naming the next page, or saying there is none.
let nextUrl = null;
let loading = null;
let retryDelay = 0; // seconds before a page that failed to load is asked for again
const nearEnd = new IntersectionObserver((entries) => {
  if (entries.some((e) => e.isIntersecting)) loadMore();
}, { root: scroller, rootMargin: "600px" });

// An observer reports changes only: after a page arrives the sentinel may still be (or be back) in view with no
// change seen, so it is observed afresh, which reports where it is now.
function watchSentinel() {
  nearEnd.unobserve(sentinel);
  nearEnd.observe(sentinel);
}

function takeMarker() {
  const marker = grid.querySelector("[data-next], [data-end]");
  if (!marker) return;
  nextUrl = marker.dataset.next || null;
  marker.remove();
  if (!nextUrl) {
    const count = grid.querySelectorAll(".tile").length;
    sentinel.classList.add("end");
    sentinel.dataset.end = "1";
    sentinel.textContent = count ? `End of gallery · ${count} images` : sentinel.dataset.empty;
  }
}

// The page being loaded, for whoever asks while it is on its way (the viewer, stepping past the last tile).
function loadMore() {
  if (!loading && nextUrl) loading = fetchMore().finally(() => { loading = null; });
  return loading || Promise.resolve();
}

async function fetchMore() {
  try {
    const response = await fetch(nextUrl, { headers: { Accept: "text/html" }, credentials: "same-origin" });
    if (!response.ok) throw new Error(`${response.status}`);
    if (retryDelay) sentinel.innerHTML = '<span class="muted small">Loading…</span>';
    retryDelay = 0;
    grid.insertAdjacentHTML("beforeend", await response.text());
    layout(grid);
    takeMarker();
    grid.dispatchEvent(new CustomEvent("gallery:tiles"));
    // The new tiles may not fill the screen: keep going while the sentinel is still in view.
    if (nextUrl) watchSentinel();
  } catch (error) {
    retryDelay = Math.min(retryDelay ? 2 * retryDelay : 3, 60);
    sentinel.textContent = `Could not load more images (${error.message}); trying again in ${retryDelay} s.`;
    setTimeout(watchSentinel, retryDelay * 1000);
  }
}

layout(grid);
takeMarker();
nearEnd.observe(sentinel);

// Side panel.
let openImage = null;
let map = null;

function showPane(name) {
  for (const tab of panel.querySelectorAll("[data-pane]")) tab.classList.toggle("active", tab.dataset.pane === name);
  for (const body of panel.querySelectorAll("[data-pane-body]")) body.hidden = body.dataset.paneBody !== name;
  if (name === "location") showMap();
  localStorage.setItem("gallery.pane", name);
}

function showMap() {
  const el = panel.querySelector(".map[data-lat]");
  if (!el || !window.L) return;
  if (map) { map.invalidateSize(); return; }
  const at = [Number(el.dataset.lat), Number(el.dataset.lon)];
  // Offline, the outlines say which country and region: closer in they show nothing more.
  map = L.map(el, { attributionControl: Boolean(el.dataset.tiles) }).setView(at, el.dataset.tiles ? 13 : 5);
  addBaseMap(map, el);
  L.marker(at, { title: `${at[0]}, ${at[1]}` }).addTo(map);
}

async function openPanel(imageId) {
  if (openImage === imageId) return;
  openImage = imageId;
  for (const t of grid.querySelectorAll(".tile.selected")) t.classList.remove("selected");
  grid.querySelector(`.tile[data-image="${imageId}"]`)?.classList.add("selected");
  const response = await fetch(panel.dataset.url.replace(/\/0\/$/, `/${imageId}/`), { credentials: "same-origin" });
  if (openImage !== imageId) return;
  if (map) { map.remove(); map = null; }
  panel.innerHTML = response.ok ? await response.text() : `<p class="bad">Could not open image ${imageId} (${response.status}).</p>`;
  panel.hidden = false;
  panel.dataset.image = imageId;
  placeBoxes(panel);
  panel.dispatchEvent(new CustomEvent("gallery:panel"));
  history.replaceState(null, "", `#image-${imageId}`);
  showPane(localStorage.getItem("gallery.pane") || "info");
}

function closePanel() {
  openImage = null;
  if (map) { map.remove(); map = null; }
  panel.hidden = true;
  panel.innerHTML = "";
  for (const t of grid.querySelectorAll(".tile.selected")) t.classList.remove("selected");
  history.replaceState(null, "", location.pathname + location.search);
}

grid.addEventListener("click", (event) => {
  const tile = event.target.closest(".tile");
  if (!tile) return;
  event.preventDefault();
  if (clicked(event, tile)) openPanel(tile.dataset.image);
});

// The panel shown again (after a review action, or another member's change to its image).
function refreshPanel() {
  if (panel.hidden || !panel.dataset.image) return;
  const id = panel.dataset.image;
  const scroll = panel.scrollTop;
  openImage = null;
  openPanel(id).then(() => { panel.scrollTop = scroll; });
}

setupReview({ panel, refreshPanel });
// Whether stepping past the last tile found more: a page loaded with tiles in it.
setupViewer({
  loadMore: async () => {
    const before = grid.querySelectorAll(".tile").length;
    await loadMore();
    return grid.querySelectorAll(".tile").length > before;
  },
});

panel.addEventListener("click", (event) => {
  if (event.target.closest("[data-close]")) closePanel();
  const tab = event.target.closest("[data-pane]");
  if (tab) showPane(tab.dataset.pane);
});

panel.addEventListener("input", (event) => {
  if (!event.target.matches(".exif-filter")) return;
  const needle = event.target.value.trim().toLowerCase();
  for (const row of panel.querySelectorAll("table.exif tbody tr")) {
    row.hidden = needle !== "" && !row.textContent.toLowerCase().includes(needle);
  }
});

document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && !panel.hidden) closePanel();
});

const linked = /^#image-(\d+)$/.exec(location.hash);
if (linked) openPanel(linked[1]);

// The type and camera menus are filled the first time one is used: finding the values reads every image.
const filterForm = document.querySelector('form[data-testid="filters"]');
let optionsLoaded = null;

function loadOptions() {
  optionsLoaded ??= fetch(filterForm.dataset.optionsUrl, { credentials: "same-origin" })
    .then((response) => response.json())
    .then((options) => {
      for (const select of filterForm.querySelectorAll("select[data-options]")) {
        const chosen = select.value;
        for (const entry of options[select.dataset.options]) {
          const [value, label] = Array.isArray(entry) ? entry : [entry, entry];
          if (value === chosen) { select.querySelector(`option[value="${CSS.escape(value)}"]`).textContent = label; continue; }
          select.add(new Option(label, value));
        }
      }
    });
  return optionsLoaded;
}

for (const select of filterForm.querySelectorAll("select[data-options]")) {
  select.addEventListener("pointerdown", loadOptions, { once: true });
  select.addEventListener("focus", loadOptions, { once: true });
}
