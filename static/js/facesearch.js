// Face search. The reference photo is sent in the background so that it stays in the form: a photo with several
// faces answers with their crops, and choosing one sends the same photo again with that face's number.
const form = document.getElementById("reference-form");
const answer = document.getElementById("facesearch-answer");

async function send() {
  const response = await fetch(form.action, { method: "POST", body: new FormData(form), credentials: "same-origin" });
  const page = new DOMParser().parseFromString(await response.text(), "text/html");
  answer.replaceChildren(...(page.getElementById("facesearch-answer")?.childNodes ?? []));
  document.getElementById("reference-choose").value = "";
}

form?.addEventListener("submit", (event) => {
  event.preventDefault();
  send();
});

answer?.addEventListener("click", (event) => {
  const button = event.target.closest("[data-choose]");
  if (!button) return;
  document.getElementById("reference-choose").value = button.dataset.choose;
  send();
});

document.querySelectorAll("[data-autosubmit]").forEach((box) => {
  box.addEventListener("change", () => box.form.requestSubmit());
});
