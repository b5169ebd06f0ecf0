// The portal's one shared script: live updates. Pages work without it; with it, parts of a page refresh
// themselves when the server says a request changed (see services/web/live.py).
(function () {
  "use strict";
  var source = null;

  function changed(numbers) {
    // Parts of a page listen with hx-trigger="fieldops:changed from:body" (and may filter on detail.numbers).
    document.body.dispatchEvent(new CustomEvent("fieldops:changed", {bubbles: true, detail: {numbers: numbers}}));
  }

  function connect() {
    var url = document.body.dataset.live;
    if (!url || !window.EventSource) return;
    // EventSource reconnects by itself after a drop and sends Last-Event-ID, so nothing is missed.
    source = new EventSource(url);
    source.addEventListener("changed", function (event) {
      var data = {};
      try { data = JSON.parse(event.data); } catch (e) { return; }
      changed(data.numbers || []);
    });
    source.addEventListener("signed-out", function () {
      source.close();
      // A form on its way to the server (a password change ends the old session) leads to a page that checks
      // the session itself: leaving now would cancel it.
      if (submitting) return;
      window.location.href = "/sign-in?next=" + encodeURIComponent(location.pathname + location.search);
    });
  }

  var submitting = false;
  document.addEventListener("submit", function (event) {
    // After every listener has run: a form htmx sends (default prevented) keeps this page.
    setTimeout(function () { if (!event.defaultPrevented) submitting = true; }, 0);
  });
  window.addEventListener("pageshow", function () { submitting = false; });

  window.fieldopsLive = {changed: changed};
  document.addEventListener("DOMContentLoaded", connect);
  window.addEventListener("pagehide", function () { if (source) source.close(); });
})();
