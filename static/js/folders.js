// The folder tree beside the gallery: each level is asked for when it is opened (a source may hold 100,000 folders),
// and a click on a folder shows the gallery of that folder, with the sort and the other filters kept. Folder names
// are the suspect's text, already in their display form (escapes for what would not show as itself): they only
// ever go into textContent, inside a <bdi>.
const tree = document.getElementById("folders");
const form = document.querySelector('form[data-testid="filters"]');

// The gallery of a folder: the page's own query, with the folder (and "this folder only" from the filter form).
function folderUrl(path) {
  const params = new URLSearchParams(location.search);
  params.delete("cursor");
  if (path === null) {
    params.delete("folder");
    params.delete("direct");
  } else {
    params.set("folder", path);
    if (form.elements.direct?.checked) params.set("direct", "1");
    else params.delete("direct");
  }
  const query = params.toString();
  return location.pathname + (query ? `?${query}` : "");
}

function node(folder) {
  const li = document.createElement("li");
  li.setAttribute("role", "treeitem");
  li.dataset.path = folder.path;
  const row = document.createElement("div");
  row.className = "folder-row";
  const twisty = document.createElement("button");
  twisty.type = "button";
  twisty.className = "twisty";
  if (folder.subfolders) {
    li.setAttribute("aria-expanded", "false");
    twisty.title = "Show subfolders";
  } else {
    twisty.disabled = true;
  }
  const link = document.createElement("a");
  link.className = "folder-link";
  link.dataset.folder = folder.path;
  link.href = folderUrl(folder.path);
  link.title = folder.path;
  const name = document.createElement("bdi");
  name.textContent = folder.name;
  link.append(name);
  const count = document.createElement("span");
  count.className = "count";
  count.textContent = String(folder.images);
  row.append(twisty, link, count);
  li.append(row);
  return li;
}

async function loadLevel(li, after = "") {
  const group = li.querySelector(":scope > ul") ?? li.appendChild(document.createElement("ul"));
  group.setAttribute("role", "group");
  const params = new URLSearchParams({ parent: li.dataset.path });
  if (after) params.set("after", after);
  const response = await fetch(`${tree.dataset.url}?${params}`, { credentials: "same-origin" });
  if (!response.ok) {
    const note = document.createElement("li");
    note.className = "bad small";
    note.textContent = `Could not list the folders (${response.status}).`;
    group.append(note);
    return;
  }
  const level = await response.json();
  group.querySelector(":scope > li.more")?.remove();
  for (const folder of level.folders) group.append(node(folder));
  if (level.images_here && li.dataset.path !== "") {
    li.querySelector(":scope > .folder-row .count").title = `${level.images_here} in this folder itself`;
  }
  if (level.next_after) {
    const more = document.createElement("li");
    more.className = "more";
    const button = document.createElement("button");
    button.type = "button";
    button.className = "link small";
    button.textContent = "more folders…";
    button.addEventListener("click", () => loadLevel(li, level.next_after), { once: true });
    more.append(button);
    group.append(more);
  }
  li.dataset.loaded = "1";
}

async function toggle(li, open) {
  li.setAttribute("aria-expanded", open ? "true" : "false");
  if (open && !li.dataset.loaded) await loadLevel(li);
}

tree.addEventListener("click", (event) => {
  const twisty = event.target.closest("button.twisty");
  if (twisty) {
    const li = twisty.closest("li");
    toggle(li, li.getAttribute("aria-expanded") !== "true");
    return;
  }
  const link = event.target.closest("a.folder-link");
  if (!link) return;
  event.preventDefault();
  location.assign(folderUrl(link.dataset.folder === "" && !form.elements.direct?.checked ? null : link.dataset.folder));
});

// Opens the tree down to the folder shown, and marks it.
async function reveal() {
  const root = tree.querySelector("li[data-path='']");
  root.querySelector("a.folder-link").href = folderUrl(null);
  await loadLevel(root);
  const chosen = tree.dataset.chosen ? tree.dataset.selected : null;
  let current = root;
  if (chosen) {
    const names = chosen.split("/");
    for (let depth = 1; depth <= names.length; depth++) {
      const path = names.slice(0, depth).join("/");
      const li = [...current.querySelectorAll(":scope > ul > li")].find((item) => item.dataset.path === path);
      if (!li) break;
      current = li;
      // Its ancestors, and the folder itself, open: its subfolders are the next places to look.
      if (li.hasAttribute("aria-expanded")) await toggle(li, true);
    }
  }
  if (chosen === null || current.dataset.path === chosen) {
    current.querySelector(":scope > .folder-row").classList.add("chosen");
    current.querySelector(":scope > .folder-row a").setAttribute("aria-current", "true");
  }
  tree.dataset.ready = "1";
}

reveal();
