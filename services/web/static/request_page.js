// A request's page with JavaScript: files chosen in the Files tab go straight to storage, each with its progress
// bar (fieldopsUpload, upload.js); once they are in, the page's live parts refresh. Without JavaScript the
// upload part stays hidden and the page says why.
(function () {
  "use strict";

  function setup() {
    var part = document.getElementById("upload");
    if (!part || !window.fieldopsUpload) return;
    var number = part.dataset.number;
    var input = document.getElementById("add-files");
    var list = document.getElementById("upload-list");
    var status = document.getElementById("upload-status");
    var counter = 0;
    var queue = Promise.resolve();
    part.hidden = false;

    function say(message, isError) {
      status.textContent = message;
      status.className = isError ? "error" : "";
    }

    // One row per file: its name, a labelled progress bar, and how it went, in words.
    function row(file) {
      counter += 1;
      var shown = window.fieldopsUpload.progressRow(file, "upload-progress-" + counter, "Waiting…", "muted");
      list.append(shown.item);
      return shown;
    }

    input.addEventListener("change", function () {
      var files = Array.prototype.slice.call(input.files);
      input.value = "";
      if (!files.length) return;
      var rows = files.map(row);
      say(files.length === 1 ? "Sending 1 file…" : "Sending " + files.length + " files…");
      // One file after another, each after those chosen before.
      queue = queue.then(function () {
        return files.reduce(function (previous, file, i) {
          return previous.then(function (failed) {
            return window.fieldopsUpload.sendWithProgress(number, file, rows[i]).then(function (ok) {
              return failed + (ok ? 0 : 1);
            });
          });
        }, Promise.resolve(0));
      }).then(function (failed) {
        if (failed) say(failed + (failed === 1 ? " file was" : " files were") + " not uploaded: see beside them.", true);
        else say(files.length === 1 ? "The file is added." : "The files are added.");
        if (window.fieldopsLive) window.fieldopsLive.changed([number]);
      });
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setup);
  else setup();
})();
