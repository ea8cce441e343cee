// Exposure reduction outside the gallery's tiles (Similar, face and word search, persons): the server veils a
// picture (gallery/veils.py); a first click on it reveals that one picture only, and does not follow its link.
document.addEventListener("click", (event) => {
  const veiled = event.target.closest("[data-reveal].veiled:not(.revealed), [data-reveal].greyed:not(.revealed)");
  if (!veiled) return;
  event.preventDefault();
  event.stopPropagation();
  veiled.classList.add("revealed");
}, true);
