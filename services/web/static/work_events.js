// Work events: "Select all on this page" and the count of the selected rows. The page works without this
// script (tick each row's box); with it, one box ticks them all. Live refreshes keep the ticks (see list.html).
(function () {
  "use strict";
  document.documentElement.classList.add("has-js");

  function boxes() { return Array.prototype.slice.call(document.querySelectorAll("#bulk-form input[name=numbers]")); }

  function sync() {
    var all = document.getElementById("pick-all");
    var count = document.getElementById("selected-count");
    if (!all) return;
    var list = boxes();
    var ticked = list.filter(function (b) { return b.checked; }).length;
    all.checked = list.length > 0 && ticked === list.length;
    all.indeterminate = ticked > 0 && ticked < list.length;
    all.disabled = list.length === 0;
    if (count) count.textContent = ticked ? ticked + " selected" : "";
  }

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.id === "pick-all") {
      boxes().forEach(function (b) { b.checked = target.checked; });
      sync();
    } else if (target.name === "numbers") {
      sync();
    }
  });
  document.addEventListener("htmx:after:swap", sync);
  document.addEventListener("DOMContentLoaded", sync);
})();
