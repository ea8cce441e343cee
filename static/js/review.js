// Review in the gallery: grid selection (click, Shift-click range, Ctrl/⌘-click toggle, all that match the filters,
// chosen by the server), the bulk bar, the panel's review actions, the counters, exposure reduction (veils the
// server sets on tiles, revealed one image at a time) and live refresh when another member changes a decision.
// The full-window viewer (viewer.js) uses what this module exports.
import { LiveSocket } from "./live.js";

const bar = document.getElementById("review");
const bulk = document.getElementById("bulk");
const help = document.getElementById("key-help");
export const categories = JSON.parse(document.getElementById("review-categories").textContent);
const base = bar.dataset.url.replace(/decisions$/, "");
const DECISIONS_MAX = 500; // as the server's MAX_DECISIONS

// The server's answer to a write or a read of decisions: paint what it says.
export async function request(name, { ids = null, all = false, data = {}, method = "POST" } = {}) {
  const body = new URLSearchParams(data);
  if (ids) body.set("ids", ids.join(","));
  if (all) body.set("all", "1");
  let url = base + name;
  if (all) url += location.search; // the gallery's filters, as the server reads them
  const options = { method, credentials: "same-origin", headers: { "X-CSRFToken": bar.dataset.csrf } };
  if (method === "POST") options.body = body;
  else url += `?${body}`;
  const response = await fetch(url, options);
  const answer = await response.json().catch(() => ({ error: `${response.status}` }));
  if (!response.ok) throw new Error(answer.error || `${response.status}`);
  if (answer.decisions) paint(answer.decisions);
  if (answer.counters) showCounters(answer.counters);
  return answer;
}

export function tiles() {
  return [...document.querySelectorAll("#grid .tile")];
}

export function tileOf(id) {
  return document.querySelector(`#grid .tile[data-image="${CSS.escape(String(id))}"]`);
}

export function categoryForKey(key) {
  return categories.find((c) => c.key && c.key === key);
}

export const veil = {
  blur: bar.dataset.blur === "1",
  grey: bar.dataset.grey === "1",
  // Whether a picture is shown veiled: a tile marked sensitive (its category) or hash-matched (a known-bad or alert
  // hash set holds it) is, for everyone.
  forTile(tile) {
    return tile.hasAttribute("data-sensitive") || tile.hasAttribute("data-hashmatch");
  },
  classes(el, sensitive) {
    el.classList.toggle("veiled", veil.blur || sensitive);
    el.classList.toggle("greyed", veil.grey);
  },
};

function badge(d, tile) {
  const marks = document.createElement("span");
  marks.className = "tile-marks";
  marks.dataset.testid = "tile-marks";
  const hashMark = tile.querySelector('[data-testid="hashmatch-mark"]');
  if (hashMark) marks.append(hashMark);
  if (d.code) {
    const b = document.createElement("span");
    b.className = "badge";
    b.dataset.testid = "badge";
    b.classList.toggle("proposed", d.status === "proposed");
    b.classList.toggle("disputed", d.disputed);
    b.textContent = `${d.code}${d.status === "proposed" ? "?" : ""}${d.disputed ? "!" : ""}`;
    b.title = `${d.label} (${d.status}${d.disputed ? ", disputed" : ""})`;
    marks.append(b);
  }
  if (d.bookmarked) {
    const star = document.createElement("span");
    star.className = "mark-bookmark";
    star.dataset.testid = "bookmark-mark";
    star.title = "Bookmarked";
    star.textContent = "★";
    marks.append(star);
  }
  return marks;
}

// Decisions by image id (as the server answers them) onto the tiles showing those images.
function paint(decisions) {
  for (const [id, d] of Object.entries(decisions)) {
    const tile = tileOf(id);
    if (!tile) continue;
    tile.dataset.code = d.code;
    tile.dataset.status = d.status;
    tile.toggleAttribute("data-disputed", d.disputed);
    tile.toggleAttribute("data-sensitive", d.sensitive);
    tile.toggleAttribute("data-bookmarked", d.bookmarked);
    tile.toggleAttribute("data-reviewed", d.reviewed);
    tile.dataset.label = d.label;
    tile.dataset.setBy = d.set_by;
    veil.classes(tile, veil.forTile(tile));
    tile.querySelector(".tile-marks")?.replaceWith(badge(d, tile));
  }
  document.dispatchEvent(new CustomEvent("review:painted", { detail: decisions }));
}

function showCounters(c) {
  for (const key of ["reviewed", "total", "mine", "rate"]) bar.querySelector(`[data-counter="${key}"]`).textContent = c[key];
  bar.querySelector("[data-counter-members]").replaceChildren(...c.members.map((m) => {
    const line = document.createElement("li");
    line.textContent = `${m.label}: ${m.reviewed} (${m.last_hour} in the last hour)`;
    return line;
  }));
}

// Read again the decisions of images on the page (all loaded tiles when `ids` is empty), and the counters: once, with
// the last batch of decisions (the others ask the server not to count).
async function refresh(ids) {
  const shown = new Set(tiles().map((t) => t.dataset.image));
  const wanted = ids.length ? ids.map(String).filter((i) => shown.has(i)) : [...shown];
  // None of them shown: the counters still changed, and come with the decisions of any one image.
  if (!wanted.length && shown.size) wanted.push(shown.values().next().value);
  for (let i = 0; i < wanted.length; i += DECISIONS_MAX) {
    const last = i + DECISIONS_MAX >= wanted.length;
    await request("decisions", { ids: wanted.slice(i, i + DECISIONS_MAX), data: last ? {} : { counters: "0" }, method: "GET" });
  }
}

// Review events arriving within COALESCE_MS of the first are read in one refresh (then `after(ids)`: the ids read
// again, empty for every image shown); refreshes run one at a time.
const COALESCE_MS = 300;

function coalesced(after) {
  let waiting = null; // the image ids of the events waiting (null: none waits; "all": every image shown)
  let running = Promise.resolve();
  return (ids) => {
    if (waiting === null) {
      waiting = new Set();
      setTimeout(() => {
        const batch = waiting === "all" ? [] : [...waiting];
        waiting = null;
        running = running.then(() => refresh(batch)).then(() => after(batch), () => {});
      }, COALESCE_MS);
    }
    if (!ids.length) waiting = "all";
    else if (waiting !== "all") for (const id of ids) waiting.add(String(id));
  };
}

// Selection.
const picked = new Set();
let anchor = null;
let allMatching = false;

function drawSelection() {
  for (const tile of tiles()) tile.classList.toggle("picked", allMatching || picked.has(tile.dataset.image));
  bulk.hidden = !allMatching && picked.size === 0;
  bulk.querySelector('[data-testid="selection-count"]').textContent = allMatching
    ? `All ${bar.dataset.count} matching images selected`
    : `${picked.size} selected`;
}

function clearSelection() {
  picked.clear();
  allMatching = false;
  drawSelection();
}

// A click on a tile: returns whether the panel should open on it (a plain click).
export function clicked(event, tile) {
  const id = tile.dataset.image;
  if (event.shiftKey && anchor) {
    const all = tiles().map((t) => t.dataset.image);
    const [from, to] = [all.indexOf(anchor), all.indexOf(id)].sort((a, b) => a - b);
    if (from >= 0) for (const i of all.slice(from, to + 1)) picked.add(i);
    allMatching = false;
    drawSelection();
    return false;
  }
  if (event.ctrlKey || event.metaKey) {
    if (picked.has(id)) picked.delete(id); else picked.add(id);
    anchor = id;
    allMatching = false;
    drawSelection();
    return false;
  }
  picked.clear();
  picked.add(id);
  anchor = id;
  allMatching = false;
  drawSelection();
  return true;
}

export function selectedImage() {
  return anchor;
}

function message(text) {
  bulk.querySelector("[data-bulk-message]").textContent = text;
}

async function onSelection(name, data) {
  message("");
  try {
    const answer = allMatching
      ? await request(name, { all: true, data })
      : await request(name, { ids: [...picked], data });
    if (allMatching) await refresh([]);
    return answer;
  } catch (error) {
    message(error.message);
    return null;
  }
}

bulk.addEventListener("click", (event) => {
  const button = event.target.closest("button");
  if (!button) return;
  if (button.matches("[data-select-all]")) { allMatching = true; drawSelection(); }
  else if (button.matches("[data-clear-selection]")) clearSelection();
  else if (button.dataset.bulkCategory) onSelection("categorise", { code: button.dataset.bulkCategory });
  else if (button.dataset.bulkBookmark) onSelection("bookmark", { on: button.dataset.bulkBookmark });
});

bar.addEventListener("click", async (event) => {
  if (event.target.closest("[data-mark-page]")) {
    const ids = tiles().map((t) => t.dataset.image);
    for (let i = 0; i < ids.length; i += 5000) await request("reviewed", { ids: ids.slice(i, i + 5000) });
  }
  if (event.target.closest("[data-key-help-toggle]")) toggleHelp();
});

export function toggleHelp(show = help.hidden) {
  help.hidden = !show;
}

export function helpOpen() {
  return !help.hidden;
}

// Exposure reduction: the setting is saved for the user; a revealed picture stays revealed on this page.
for (const box of [document.getElementById("veil-blur"), document.getElementById("veil-grey")]) {
  box.addEventListener("change", async () => {
    veil.blur = document.getElementById("veil-blur").checked;
    veil.grey = document.getElementById("veil-grey").checked;
    for (const tile of tiles()) veil.classes(tile, veil.forTile(tile));
    await request("viewer", { data: { blur: veil.blur ? "1" : "0", grey: veil.grey ? "1" : "0" } });
  });
}

export function reveal(id) {
  tileOf(id)?.classList.add("revealed");
  const panel = document.getElementById("panel");
  if (panel.dataset.image === String(id)) panel.querySelector(".preview-frame")?.classList.add("revealed");
}

export function setupReview({ panel, refreshPanel }) {
  // Tiles of a page loaded later: selected when all that match are.
  document.getElementById("grid").addEventListener("gallery:tiles", drawSelection);

  // A picture revealed stays revealed when the panel shows it (again).
  panel.addEventListener("gallery:panel", () => {
    if (tileOf(panel.dataset.image)?.classList.contains("revealed")) reveal(panel.dataset.image);
  });

  // The panel's review actions act on the image it shows, then show it again.
  async function act(name, data) {
    const id = panel.dataset.image;
    try {
      await request(name, { ids: [id], data });
    } catch (error) {
      const out = panel.querySelector('[data-testid="review-status"]');
      if (out) out.textContent = error.message;
      return;
    }
    refreshPanel();
  }

  panel.addEventListener("click", (event) => {
    const button = event.target.closest("button");
    if (button?.dataset.category) act("categorise", { code: button.dataset.category });
    else if (button?.matches("[data-confirm]")) act("confirm", {});
    else if (button?.dataset.bookmark) act("bookmark", { on: button.dataset.bookmark });
    else if (event.target.closest(".preview-frame.veiled, .preview-frame.greyed")) reveal(panel.dataset.image);
  });
  panel.addEventListener("submit", (event) => {
    if (!event.target.matches("[data-note-form]")) return;
    event.preventDefault();
    act("note", { text: event.target.elements.text.value });
  });

  // Another member's change (or this user's, on another page): read the decisions of the images shown again.
  let opened = false;
  const refreshSoon = coalesced((ids) => {
    if (!panel.hidden && (!ids.length || ids.includes(panel.dataset.image))) refreshPanel();
  });
  new LiveSocket(`/ws/jobs/${bar.dataset.job}/`, {
    indicator: bar.querySelector(".live"),
    // After a reconnect, what changed meanwhile is unknown: every image shown is read again.
    onOpen: () => { if (opened) refreshSoon([]); opened = true; },
    onMessage: (event) => {
      if (event.type === "review") refreshSoon(event.images);
    },
  }).open();
}
