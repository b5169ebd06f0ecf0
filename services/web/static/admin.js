// The admin and billing screens work without this script. With it: the new-user form shows only the
// "belongs to" choice its role needs, and a form marked data-once cannot be sent twice by a double click.
(function () {
  "use strict";
  function showFor(form) {
    var role = form.querySelector("select[name=role]");
    if (!role) return;
    form.querySelectorAll("[data-for-role]").forEach(function (part) {
      var wanted = part.getAttribute("data-for-role") === role.value;
      part.hidden = !wanted;
      part.querySelectorAll("select, input").forEach(function (control) { control.disabled = !wanted; });
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-role-form]").forEach(function (form) {
      showFor(form);
      form.addEventListener("change", function (event) {
        if (event.target.name === "role") showFor(form);
      });
    });
    document.querySelectorAll("form[data-once]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (form.dataset.sent === "yes") { event.preventDefault(); return; }
        form.dataset.sent = "yes";
        if (event.submitter) event.submitter.setAttribute("aria-busy", "true");
      });
    });
  });
  // Back to a page kept in the browser's cache: its forms may be sent again.
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form[data-once]").forEach(function (form) {
      delete form.dataset.sent;
      form.querySelectorAll("[aria-busy]").forEach(function (b) { b.removeAttribute("aria-busy"); });
    });
  });
})();
