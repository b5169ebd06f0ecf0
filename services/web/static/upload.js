/*
 * Browser uploads of a request's files, straight from the browser to object storage.
 *
 *   window.fieldopsUpload(number, file, {kind, onProgress}) -> Promise<attachmentId>
 *
 *   number      the request's number, "SR-000123"
 *   file        a File or Blob (a Blob needs a name: pass a File, or set blob.name)
 *   kind        "photo" | "document" | "provider_invoice"; by default "photo" for an image, else "document"
 *   onProgress  called as bytes leave the browser: onProgress(sentBytes, totalBytes)
 *
 * The promise resolves with the attachment's id once the API has checked the stored file, and rejects with an
 * Error whose message can be shown to people as it is.
 *
 * How: the page asks the portal (POST /requests/{number}/attachments, with the session's CSRF header) for a
 * presigned upload; the API decides its shape. Up to 100 MB it is one PUT {method, url, headers}; above, a
 * multipart upload {part_size, parts: [{part_number, url}]} whose parts are PUT a few at a time, a failed part
 * retried (MAX_ATTEMPTS in all), each part's ETag read from its answer. Then the portal is told to complete it
 * (POST .../attachments/{id}/complete with {} or {parts: [{part_number, etag}]}). XMLHttpRequest is used for the
 * PUTs because fetch() reports no upload progress. The bucket's CORS rules let the portal's origin PUT and read
 * ETag (services/intake/storage.py, ensure_bucket).
 *
 * The CSRF token comes from <meta name="csrf-token"> if the page has one, else from the body's hx-headers.
 * Also exposed: fieldopsUpload.problem(file) -> a sentence if the file cannot be sent (type or size), else null;
 * fieldopsUpload.contentType(file) -> the type the upload announces.
 *
 * For the pages that show each file going (new_request.js, request_page.js):
 * fieldopsUpload.progressRow(file, barId, stateText, stateClass) -> {item, bar, state}: an <li> with the file's name
 * and size labelling a progress bar, and its state in words (the page puts the item in its list);
 * fieldopsUpload.sendWithProgress(number, file, row) -> Promise<boolean>: uploads the file, the row showing how it
 * goes; true once uploaded, false (the row says why) if not.
 */
(function () {
  "use strict";

  var MAX_BYTES = 500 * 1024 * 1024;
  var MAX_ATTEMPTS = 4;         // a part (or a single PUT) is tried this many times before the upload fails
  var PARALLEL_PARTS = 3;       // parts in flight at once
  var TYPES_BY_EXTENSION = {
    jpg: "image/jpeg", jpeg: "image/jpeg", png: "image/png", gif: "image/gif", webp: "image/webp",
    heic: "image/heic", heif: "image/heif", tif: "image/tiff", tiff: "image/tiff", bmp: "image/bmp",
    pdf: "application/pdf", csv: "text/csv", xls: "application/vnd.ms-excel",
    xlsx: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ods: "application/vnd.oasis.opendocument.spreadsheet"
  };
  var ALLOWED = {};
  Object.keys(TYPES_BY_EXTENSION).forEach(function (ext) { ALLOWED[TYPES_BY_EXTENSION[ext]] = true; });

  function contentType(file) {
    var type = (file.type || "").toLowerCase();
    if (ALLOWED[type]) return type;
    var name = file.name || "";
    var ext = name.indexOf(".") >= 0 ? name.split(".").pop().toLowerCase() : "";
    return TYPES_BY_EXTENSION[ext] || type || "application/octet-stream";
  }

  function problem(file) {
    if (!ALLOWED[contentType(file)]) return "Only images, PDFs and spreadsheets can be added.";
    if (file.size > MAX_BYTES) return "This file is larger than 500 MB.";
    if (file.size === 0) return "This file is empty.";
    return null;
  }

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    if (meta) return meta.content;
    var headers = document.body.getAttribute("hx-headers:inherited") || document.body.getAttribute("hx-headers");
    try { return JSON.parse(headers)["X-CSRF-Token"]; } catch (e) { return ""; }
  }

  // A call to the portal's JSON routes; rejects with the portal's (the API's) own words.
  function portalPost(path, body, extraHeaders) {
    var headers = {"Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": csrfToken()};
    Object.keys(extraHeaders || {}).forEach(function (k) { headers[k] = extraHeaders[k]; });
    return fetch(path, {method: "POST", headers: headers, body: JSON.stringify(body), credentials: "same-origin"})
      .then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (data) {
          if (!response.ok) throw new Error(data.detail || "The file could not be added (" + response.status + ").");
          return data;
        });
      }, function () { throw new Error("fieldops could not be reached. Check the connection and try again."); });
  }

  // One PUT of a blob to a presigned URL, with progress; resolves with the answer's ETag (or "").
  function put(url, blob, headers, onLoaded) {
    return new Promise(function (resolve, reject) {
      var xhr = new XMLHttpRequest();
      xhr.open("PUT", url);
      Object.keys(headers || {}).forEach(function (k) { xhr.setRequestHeader(k, headers[k]); });
      xhr.upload.onprogress = function (event) { onLoaded(event.loaded); };
      xhr.onload = function () {
        if (xhr.status >= 200 && xhr.status < 300) {
          onLoaded(blob.size);
          resolve(xhr.getResponseHeader("ETag") || "");
        } else {
          reject(new Error("the storage answered " + xhr.status));
        }
      };
      xhr.onerror = function () { reject(new Error("the connection to the storage failed")); };
      xhr.ontimeout = xhr.onerror;
      xhr.send(blob);
    });
  }

  function wait(ms) { return new Promise(function (resolve) { setTimeout(resolve, ms); }); }

  // Try `attempt` up to MAX_ATTEMPTS times, waiting longer after each failure (1 s, 2 s, 4 s).
  function withRetries(attempt) {
    var tries = 0;
    function go() {
      tries += 1;
      return attempt().catch(function (error) {
        if (tries >= MAX_ATTEMPTS) throw error;
        return wait(1000 * Math.pow(2, tries - 1)).then(go);
      });
    }
    return go();
  }

  function uploadSingle(upload, file, report) {
    return withRetries(function () {
      return put(upload.url, file, upload.headers, function (loaded) { report(0, loaded); });
    }).then(function () { return {}; });
  }

  function uploadParts(upload, file, report) {
    var queue = upload.parts.slice();
    var done = [];
    function worker() {
      var part = queue.shift();
      if (!part) return Promise.resolve();
      var start = (part.part_number - 1) * upload.part_size;
      var blob = file.slice(start, Math.min(start + upload.part_size, file.size));
      return withRetries(function () {
        report(part.part_number, 0);  // a retried part starts again from nothing
        return put(part.url, blob, {}, function (loaded) { report(part.part_number, loaded); }).then(function (etag) {
          if (!etag) throw new Error("the storage did not confirm a part");
          return etag;
        });
      }).then(function (etag) {
        done.push({part_number: part.part_number, etag: etag});
        return worker();
      });
    }
    var workers = [];
    for (var i = 0; i < Math.min(PARALLEL_PARTS, queue.length); i++) workers.push(worker());
    return Promise.all(workers).then(function () {
      done.sort(function (a, b) { return a.part_number - b.part_number; });
      return {parts: done};
    });
  }

  function fieldopsUpload(number, file, options) {
    options = options || {};
    var type = contentType(file);
    var kind = options.kind || (type.indexOf("image/") === 0 ? "photo" : "document");
    var onProgress = options.onProgress || function () {};
    var refusal = problem(file);
    if (refusal) return Promise.reject(new Error(refusal));
    var base = "/requests/" + encodeURIComponent(number) + "/attachments";
    var loadedByPart = {};
    function report(partNumber, loaded) {
      loadedByPart[partNumber] = loaded;
      var sent = 0;
      Object.keys(loadedByPart).forEach(function (k) { sent += loadedByPart[k]; });
      onProgress(Math.min(sent, file.size), file.size);
    }
    var key = (window.crypto && crypto.randomUUID) ? crypto.randomUUID() : String(Date.now()) + Math.random();
    return portalPost(base, {filename: file.name || "file", content_type: type, size_bytes: file.size, kind: kind},
                      {"Idempotency-Key": key})
      .then(function (created) {
        var upload = created.upload;
        var sending = upload.parts ? uploadParts(upload, file, report) : uploadSingle(upload, file, report);
        return sending.catch(function (error) {
          throw new Error("The file could not be sent to storage (" + error.message + "). Try again.");
        }).then(function (completion) {
          return portalPost(base + "/" + encodeURIComponent(created.id) + "/complete", completion);
        }).then(function () { return created.id; });
      });
  }

  // --- a file's row on a page: its name and size, a labelled progress bar, and how it goes, in words ---------
  function sizeWords(bytes) {
    if (bytes < 1024) return bytes + " bytes";
    if (bytes < 1024 * 1024) return (bytes / 1024).toFixed(1) + " KB";
    if (bytes < 1024 * 1024 * 1024) return (bytes / 1024 / 1024).toFixed(1) + " MB";
    return (bytes / 1024 / 1024 / 1024).toFixed(2) + " GB";
  }

  function progressRow(file, barId, stateText, stateClass) {
    var item = document.createElement("li");
    var label = document.createElement("label");
    var bar = document.createElement("progress");
    var state = document.createElement("small");
    bar.id = barId;
    bar.max = 100;
    bar.value = 0;
    label.htmlFor = bar.id;
    label.textContent = file.name + " (" + sizeWords(file.size) + ")";
    state.textContent = stateText;
    state.className = stateClass;
    item.append(label, bar, state);
    return {item: item, bar: bar, state: state};
  }

  function sendWithProgress(number, file, shown) {
    shown.state.textContent = "Sending…";
    return fieldopsUpload(number, file, {
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

  fieldopsUpload.problem = problem;
  fieldopsUpload.progressRow = progressRow;
  fieldopsUpload.sendWithProgress = sendWithProgress;
  fieldopsUpload.contentType = contentType;
  fieldopsUpload.MAX_BYTES = MAX_BYTES;
  window.fieldopsUpload = fieldopsUpload;
})();
