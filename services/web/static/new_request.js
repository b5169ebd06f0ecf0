// The New request page with JavaScript: the form is sent by htmx (errors come back beside their fields and the
// chosen files stay chosen); once the request exists, each chosen file goes straight to storage with its own
// progress bar (fieldopsUpload, upload.js), then the request's page opens. Without JavaScript the form posts as
// usual and the page says to add files on the request's page.
(function () {
  "use strict";

  function setup() {
    var form = document.getElementById("new-request");
    var part = document.getElementById("files-part");
    if (!form || !part || !window.fieldopsUpload) return;
    var input = document.getElementById("files");
    var list = document.getElementById("file-list");
    var status = document.getElementById("upload-status");
    var chosen = [];
    var started = {};
    part.hidden = false;

    function show(message, isError) {
      status.textContent = message;
      status.className = isError ? "error" : "";
    }

    // One row per chosen file: its name, a labelled progress bar, and its state in words.
    input.addEventListener("change", function () {
      list.textContent = "";
      show("", false);
      chosen = Array.prototype.map.call(input.files, function (file, i) {
        var problem = window.fieldopsUpload.problem(file);
        var shown = window.fieldopsUpload.progressRow(file, "file-progress-" + i,
          problem || "Ready: it is sent once the request is created", problem ? "error" : "muted");
        list.append(shown.item);
        return {file: file, shown: shown, problem: problem};
      });
    });

    // The files are checked before the request is sent: a file that cannot go stops the sending, with why.
    form.addEventListener("htmx:config:request", function (event) {
      var submitter = event.detail.ctx.request.submitter;
      if (submitter && submitter.value === "add_asset") return;
      if (chosen.some(function (c) { return c.problem; })) {
        event.preventDefault();
        show("Some chosen files cannot be sent (see beside them): choose other files.", true);
        input.focus();
      }
    });

    // After the fields come back (with an error, or a new asset), put the focus where the person must look.
    form.addEventListener("htmx:after:swap", function () {
      var target = form.querySelector('[aria-invalid="true"], #form-error, #asset-added');
      if (target) target.focus();
    });

    // Enter in the new asset's fields adds the asset; elsewhere it sends the request (the form's first button).
    form.addEventListener("keydown", function (event) {
      var add = form.querySelector('button[value="add_asset"]');
      if (event.key !== "Enter" || !add || event.target.tagName !== "INPUT") return;
      if (event.target.closest("#add-asset")) {
        event.preventDefault();
        form.requestSubmit(add);
      }
    });

    document.addEventListener("fieldops:request-created", function (event) {
      var number = event.detail.number, url = event.detail.url;
      if (started[number]) return;  // a repeated answer for the same request: its files are already going
      started[number] = true;
      var send = document.getElementById("send-request");
      if (send) send.hidden = true;
      input.disabled = true;
      var files = chosen.filter(function (c) { return !c.problem; });
      if (!files.length) { window.location.assign(url); return; }
      var failed = 0;
      show("Request " + number + " is created. Sending " + files.length + (files.length === 1 ? " file…" : " files…"));
      files.reduce(function (previous, c) {
        return previous.then(function () {
          return window.fieldopsUpload.sendWithProgress(number, c.file, c.shown).then(function (ok) {
            if (!ok) failed += 1;
          });
        });
      }, Promise.resolve()).then(function () {
        if (failed) {
          show("Request " + number + " is created, but " + failed + (failed === 1 ? " file was" : " files were") +
               " not uploaded. Open the request's page to add them again.", true);
          return;
        }
        show("All files are uploaded. Opening request " + number + "…");
        setTimeout(function () { window.location.assign(url); }, 700);
      });
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setup);
  else setup();
})();
