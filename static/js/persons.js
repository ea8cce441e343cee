// A person's page for those who may correct it: faces chosen with a click (shift-click: every face from the last
// one clicked to this one), the count chosen shown and the "split out" and "not this person" buttons enabled while
// faces are chosen, and the person renamed in place (a click on the name; Enter saves, Escape cancels). Without
// this script the page's plain forms do the same.
const head = document.getElementById("person");
const faces = document.querySelector("[data-testid='person-faces'] form");
const nameForm = document.querySelector("[data-testid='person-forms'] form[data-form='name']");

if (head?.dataset.mayWrite && faces) {
  const boxes = () => [...faces.querySelectorAll(".face input[type='checkbox'][name='faces']")];
  const buttons = [...faces.querySelectorAll("button[name='action']")];
  const counter = faces.querySelector("[data-field='chosen']");
  let anchor = null;

  const refresh = () => {
    const chosen = boxes().filter((box) => box.checked).length;
    for (const box of boxes()) box.closest(".face").classList.toggle("chosen", box.checked);
    for (const button of buttons) button.disabled = chosen === 0;
    if (counter) counter.textContent = chosen === 1 ? "1 face chosen" : `${chosen} faces chosen`;
  };

  faces.addEventListener("click", (event) => {
    const face = event.target.closest(".face");
    const box = face?.querySelector("input[type='checkbox'][name='faces']");
    if (!box) return;
    event.preventDefault();  // the label would toggle the box again
    const all = boxes();
    const state = !box.checked;
    if (event.shiftKey && anchor !== null && all.includes(anchor)) {
      const [from, to] = [all.indexOf(anchor), all.indexOf(box)].sort((a, b) => a - b);
      for (const other of all.slice(from, to + 1)) other.checked = state;
    } else {
      box.checked = state;
    }
    anchor = box;
    refresh();
  });
  faces.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      for (const box of boxes()) box.checked = false;
      anchor = null;
      refresh();
    }
  });
  refresh();
}

if (head?.dataset.mayWrite && nameForm) {
  const title = head.querySelector("[data-field='name']");
  const field = nameForm.querySelector("input[name='name']");
  const editor = document.createElement("input");
  editor.type = "text";
  editor.maxLength = field.maxLength;
  editor.className = "inline-name";
  editor.dataset.testid = "name-inline";
  editor.setAttribute("aria-label", "Name of the person");
  editor.hidden = true;
  title.after(editor);
  title.classList.add("editable");
  title.title = "Click to rename";
  title.tabIndex = 0;

  const open = () => {
    editor.value = field.value;
    title.hidden = true;
    editor.hidden = false;
    editor.focus();
    editor.select();
  };
  const close = () => {
    editor.hidden = true;
    title.hidden = false;
  };
  const save = async () => {
    const data = new FormData(nameForm);
    data.set("name", editor.value);
    const response = await fetch(nameForm.getAttribute("action"), { method: "POST", body: data, credentials: "same-origin" });
    if (!response.ok) {
      editor.setCustomValidity(`Not saved (${response.status})`);
      editor.reportValidity();
      return;
    }
    editor.setCustomValidity("");
    field.value = editor.value.trim();
    title.textContent = field.value || `Person #${head.dataset.person}`;
    close();
  };
  title.addEventListener("click", open);
  title.addEventListener("keydown", (event) => { if (event.key === "Enter") open(); });
  editor.addEventListener("keydown", (event) => {
    if (event.key === "Enter") { event.preventDefault(); save(); }
    if (event.key === "Escape") close();
  });
  editor.addEventListener("input", () => editor.setCustomValidity(""));
}
