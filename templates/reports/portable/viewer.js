(function () {
  "use strict";
  /* A picture of a sensitive category stays blurred until revealed, one at a time. */
  document.querySelectorAll("button.reveal").forEach(function (button) {
    button.addEventListener("click", function () {
      button.closest(".item").classList.remove("veiled");
      button.remove();
    });
  });
  /* Show the images of one category only. */
  var filter = document.getElementById("filter");
  filter.hidden = false;
  filter.addEventListener("change", function () {
    document.querySelectorAll(".item").forEach(function (item) {
      item.hidden = filter.value !== "" && item.getAttribute("data-category") !== filter.value;
    });
  });
})();
