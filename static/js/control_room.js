// The control room's confirmation dialogs: a button with data-dialog="<dialog id>" fills the dialog's form
// from its data-fill JSON (field name -> value), points it at its data-action (when given), shows its
// data-summary, and opens it. The form is a plain
// POST with its CSRF token; the server decides and answers with the page (a refusal is shown on it).
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var opener = event.target.closest("[data-dialog]");
    if (opener) {
      var dialog = document.getElementById(opener.dataset.dialog);
      var form = dialog.querySelector("form");
      form.reset();
      if (opener.dataset.action) { form.action = opener.dataset.action; }
      var fill = JSON.parse(opener.dataset.fill || "{}");
      Object.keys(fill).forEach(function (name) {
        var field = form.elements.namedItem(name);
        if (field) { field.value = fill[name]; }
      });
      var locked = (opener.dataset.lock || "").split(" ");
      Array.prototype.forEach.call(form.querySelectorAll("input[type=text]"), function (field) {
        field.readOnly = locked.indexOf(field.name) !== -1;
      });
      var summary = dialog.querySelector("[data-summary]");
      if (summary) { summary.textContent = opener.dataset.summary || ""; }
      dialog.showModal();
      var first = form.querySelector("input[type=text]:not([readonly]), select, textarea");
      if (first) { first.focus(); }
      return;
    }
    var closer = event.target.closest("[data-close]");
    if (closer) { closer.closest("dialog").close(); }
  });
})();
