// Review mode: one picture at a time over the whole window, in the gallery's order and filters, driven by keys
// (the key overlay, `?`, lists them). The next pictures are loaded ahead, and further gallery pages as the end of
// the loaded ones comes near.
import {
  categories, categoryForKey, helpOpen, request, reveal, selectedImage, tileOf, tiles, toggleHelp, veil,
} from "./review.js";

const root = document.getElementById("viewer");
const stage = root.querySelector(".viewer-stage");
const picture = document.getElementById("viewer-image");
const noteForm = root.querySelector(".viewer-note");
const noteText = noteForm.elements.text;
const bar = document.getElementById("review");
const PRELOAD = 3; // pictures loaded ahead
const NEAR_END = 6; // tiles left before the next gallery page is asked for

let current = null; // the id of the image shown
let groupMode = false; // `g` pressed: the next category key applies to the image's group
const groups = new Map(); // image id -> the server's answer about its group
const preloaded = new Map(); // image id -> the Image that loaded it ahead (kept so it stays in the cache)
let more = async () => false;

function previewUrl(id) {
  return bar.dataset.previewUrl.replace(/\/0\/preview$/, `/${id}/preview`);
}

function field(name) {
  return root.querySelector(`[data-testid="viewer-${name}"]`);
}

function say(text) {
  field("message").textContent = text;
}

function position() {
  return tiles().findIndex((t) => t.dataset.image === current);
}

function preload(from) {
  for (const tile of tiles().slice(from + 1, from + 1 + PRELOAD)) {
    const id = tile.dataset.image;
    if (preloaded.has(id)) continue;
    const ahead = new Image();
    ahead.decoding = "async";
    ahead.src = previewUrl(id);
    preloaded.set(id, ahead);
  }
}

// The images a category given "to the group" goes to, and what the group covers: the image's near-duplicate group
// in the job (PDQ), or the image alone; each image stands for all its exact duplicates (decisions are held per
// content).
function group(id) {
  if (!groups.has(id)) groups.set(id, request(`group/${id}`, { method: "GET" }));
  return groups.get(id);
}

function draw() {
  const tile = tileOf(current);
  if (!tile) return;
  const i = position();
  field("position").textContent = `${i + 1} of ${bar.dataset.count}`;
  const d = tile.dataset;
  const label = categories.find((c) => c.code === d.code)?.label || "";
  let text = d.code ? `${d.code} ${label} · ${d.status}${tile.hasAttribute("data-disputed") ? ", disputed" : ""}` : "not categorised";
  if (tile.hasAttribute("data-bookmarked")) text += " · ★ bookmarked";
  field("decision").textContent = text;
  veil.classes(stage, veil.forTile(tile));
  stage.classList.toggle("revealed", tile.classList.contains("revealed"));
}

function show(id) {
  current = String(id);
  groupMode = false;
  say("");
  picture.src = previewUrl(current);
  picture.alt = tileOf(current)?.title || "";
  draw();
  const i = position();
  preload(i);
  tileOf(current)?.scrollIntoView({ block: "nearest" });
  field("group").textContent = "";
  group(current).then((g) => {
    if (current !== String(id)) return;
    const where = `${g.paths} path${g.paths === 1 ? "" : "s"} in ${g.jobs} job${g.jobs === 1 ? "" : "s"} of the case`;
    field("group").textContent = g.images.length > 1 ? `Near-duplicate group: ${g.images.length} images at ${where}` : `Exact duplicates: ${where}`;
  }).catch(() => {});
  if (tiles().length - i < NEAR_END) more();
}

async function step(delta) {
  const i = position() + delta;
  if (i < 0) return;
  if (i >= tiles().length && !(await more())) {
    say("The end of the gallery");
    return;
  }
  const tile = tiles()[i];
  if (tile) show(tile.dataset.image);
}

async function write(name, ids, data, done) {
  try {
    await request(name, { ids, data });
    say(done);
  } catch (error) {
    say(error.message);
  }
  draw();
}

async function categorise(category) {
  const id = current;
  const ids = groupMode ? (await group(id)).images : [id];
  groupMode = false;
  const whom = ids.length > 1 ? ` (${ids.length} images of the group)` : "";
  await write("categorise", ids, { code: category.code }, `${category.label}${whom}`);
}

function openNote() {
  noteForm.hidden = false;
  noteText.value = "";
  noteText.focus();
}

function closeNote() {
  noteForm.hidden = true;
  root.focus();
}

async function addNote() {
  const text = noteText.value;
  closeNote();
  await write("note", [current], { text }, "Note added");
}

export function open(id) {
  const start = id && tileOf(id) ? id : tiles()[0]?.dataset.image;
  if (!start) return;
  root.hidden = false;
  document.body.classList.add("viewing");
  root.tabIndex = -1;
  root.focus();
  show(start);
}

function close() {
  root.hidden = true;
  noteForm.hidden = true;
  document.body.classList.remove("viewing");
  tileOf(current)?.focus();
}

const KEYS = {
  ArrowRight: () => step(1),
  ArrowLeft: () => step(-1),
  g: () => { groupMode = true; say("g: the next category key applies to the whole duplicate group (near-duplicates included)"); },
  b: () => {
    const on = tileOf(current)?.hasAttribute("data-bookmarked") ? "0" : "1";
    write("bookmark", [current], { on }, on === "1" ? "Bookmarked" : "Bookmark removed");
  },
  c: () => write("confirm", [current], {}, "Confirmed"),
  n: openNote,
  r: () => { reveal(current); draw(); },
  " ": () => { reveal(current); draw(); },
};

function onKey(event) {
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  const typing = event.target.closest?.("input, textarea, select");
  if (event.key === "Escape") {
    if (helpOpen()) toggleHelp(false);
    else if (!noteForm.hidden) closeNote();
    else if (!root.hidden) close();
    else return;
    event.preventDefault();
    event.stopImmediatePropagation();
    return;
  }
  if (typing) {
    if (event.target === noteText && event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      addNote();
    }
    return;
  }
  if (event.key === "?") {
    toggleHelp();
    event.preventDefault();
    return;
  }
  if (root.hidden) {
    if (event.key === "Enter" && !event.target.closest?.("button, a:not(.tile)")) {
      event.preventDefault();
      open(selectedImage());
    } else if (event.key === "r" && selectedImage()) {
      reveal(selectedImage());
    }
    return;
  }
  const action = KEYS[event.key];
  const category = action ? null : categoryForKey(event.key);
  if (!action && !category) return;
  event.preventDefault();
  event.stopImmediatePropagation();
  if (action) action();
  else categorise(category);
}

export function setupViewer({ loadMore }) {
  more = loadMore;
  window.addEventListener("keydown", onKey, true);
  bar.querySelector("[data-open-viewer]").addEventListener("click", () => open(selectedImage()));
  root.addEventListener("click", (event) => {
    if (event.target.closest("[data-viewer-close]")) close();
    else if (event.target === picture) { reveal(current); draw(); }
  });
  noteForm.addEventListener("submit", (event) => { event.preventDefault(); addNote(); });
  // A decision changed (here, or live from another member): show it.
  document.addEventListener("review:painted", () => { if (!root.hidden) draw(); });
}
