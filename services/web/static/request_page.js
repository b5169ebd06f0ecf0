// A request's page with JavaScript: files chosen in the Files tab go straight to storage, each with its progress
// bar (fieldopsUpload, upload.js); once they are in, the page's live parts refresh. Without JavaScript the
// upload part stays hidden and the page says why.
(function () {
  "use strict";

  function sizeWords(bytes) {
    if (bytes < 1024) return bytes + " bytes";
    if (bytes < 1024 * 1024) return (bytes / 1024).toFixed(1) + " KB";
    if (bytes < 1024 * 1024 * 1024) return (bytes / 1024 / 1024).toFixed(1) + " MB";
    return (bytes / 1024 / 1024 / 1024).toFixed(2) + " GB";
  }

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
      var item = document.createElement("li");
      var label = document.createElement("label");
      var bar = document.createElement("progress");
      var state = document.createElement("small");
      bar.id = "upload-progress-" + counter;
      bar.max = 100;
      bar.value = 0;
      label.htmlFor = bar.id;
      label.textContent = file.name + " (" + sizeWords(file.size) + ")";
      state.className = "muted";
      state.textContent = "Waiting…";
      item.append(label, bar, state);
      list.append(item);
      return {bar: bar, state: state};
    }

    function send(file, shown) {
      shown.state.textContent = "Sending…";
      return window.fieldopsUpload(number, file, {
        onProgress: function (sent, total) {
          var percent = total ? Math.floor(sent * 100 / total) : 100;
          shown.bar.value = percent;
          shown.state.textContent = "Sending… " + percent + "%";
        }
      }).then(function () {
        shown.bar.value = 100;
        shown.state.textContent = "Uploaded";
        shown.state.className = "ok";
        return true;
      }, function (error) {
        shown.state.textContent = "Not uploaded: " + error.message;
        shown.state.className = "error";
        return false;
      });
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
            return send(file, rows[i]).then(function (ok) { return failed + (ok ? 0 : 1); });
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
