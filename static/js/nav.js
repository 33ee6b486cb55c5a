// The navigation's menu button on narrow screens (static/css/site.css hides the menu under 760 px only
// once this script has run, so without JavaScript the links stay visible). The button says whether the
// menu is open (aria-expanded); Escape closes it and gives the focus back to the button.
(function () {
  "use strict";
  var bar = document.querySelector("[data-nav]");
  var button = bar && bar.querySelector(".nav-toggle");
  if (!button) { return; }
  function set(open) {
    button.setAttribute("aria-expanded", open ? "true" : "false");
    bar.classList.toggle("nav-open", open);
  }
  bar.classList.add("nav-js");
  button.hidden = false;
  button.addEventListener("click", function () { set(button.getAttribute("aria-expanded") !== "true"); });
  bar.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && bar.classList.contains("nav-open")) { set(false); button.focus(); }
  });
})();
