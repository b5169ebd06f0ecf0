// A work order's page for providers (templates/providers/work_order.html). The page works without this script;
// with it:
//  - the invoice number is checked as it is typed, against every rule (docs/api.md, "Provider invoice numbers"; the
//    same rules as pages/providers.py), the broken one named, and the payment reference it makes shown beside it;
//  - the copy of the provider's invoice is sent straight to storage as soon as it is chosen (static/upload.js),
//    and Complete stays disabled until that copy is stored and the completion notes are written.
(function () {
  "use strict";

  function invoiceNumberProblem(value, wo) {
    if (!value) return "Enter your invoice number: 1 to 13 capital letters and digits.";
    if (value.length > 13) return "Too long: at most 13 characters (it has " + value.length + ").";
    if (/[a-z]/.test(value)) return "Letters must be capitals (A-Z).";
    if (!/^[A-Z0-9]+$/.test(value)) {
      return "Only capital letters A-Z and digits 0-9: no spaces, dashes or other special characters.";
    }
    if (value.indexOf(wo) >= 0) return "It must not contain the work order number " + wo + ".";
    return null;
  }

  function rulesKept(value, wo) {
    return {
      "capitals": value.length > 0 && !/[a-z]/.test(value),
      "plain": /^[A-Za-z0-9]+$/.test(value),
      "length": value.length >= 1 && value.length <= 13,
      "not-wo": value.length > 0 && value.indexOf(wo) < 0
    };
  }

  function checkInvoiceNumber(form) {
    var input = form.querySelector("#invoice_number");
    var message = form.querySelector("#invoice_number-error");
    var reference = form.querySelector("#payment-reference-value");
    var wo = form.dataset.wo;
    var value = input.value.trim();
    var problem = invoiceNumberProblem(value, wo);
    message.textContent = value ? (problem || "") : "";
    if (problem && value) input.setAttribute("aria-invalid", "true"); else input.removeAttribute("aria-invalid");
    reference.textContent = problem ? "—" : value + wo;
    var kept = rulesKept(value, wo);
    form.querySelectorAll("#invoice-rules li").forEach(function (li) {
      var ok = kept[li.dataset.rule];
      li.className = ok ? "ok" : (value ? "bad" : "");
      li.querySelector(".mark").textContent = ok ? "✓" : (value ? "✗" : "•");
      li.querySelector(".rule-state").textContent = ok ? ": kept" : (value ? ": broken" : "");
    });
  }

  function setUpInvoiceForm() {
    var form = document.getElementById("invoice-form");
    if (!form) return;
    var input = form.querySelector("#invoice_number");
    input.addEventListener("input", function () { checkInvoiceNumber(form); });
  }

  function setUpCompleteForm() {
    var form = document.getElementById("complete-form");
    if (!form || !window.fieldopsUpload) return;  // without the upload script the file goes with the form
    var file = form.querySelector("#invoice_file");
    var attachment = form.querySelector("#invoice_attachment_id");
    var notes = form.querySelector("#complete_notes");
    var button = form.querySelector("#complete-button");
    var status = form.querySelector("#invoice_file-status");
    var progress = form.querySelector("#invoice_file-progress");
    var sending = 0;  // which choice of file is being sent: an older upload's answer is ignored

    function ready() {
      button.disabled = !(attachment.value && notes.value.trim() && !progress.dataset.busy);
    }

    function say(text, kind) {
      status.textContent = text;
      status.className = "upload-status" + (kind ? " " + kind : "");
    }

    file.addEventListener("change", function () {
      var chosen = file.files && file.files[0];
      var mine = ++sending;
      attachment.value = "";
      file.setAttribute("name", "invoice_file");
      if (!chosen) { say(""); ready(); return; }
      var refusal = window.fieldopsUpload.problem(chosen);
      if (refusal) { say(refusal, "error"); file.setAttribute("aria-invalid", "true"); ready(); return; }
      file.removeAttribute("aria-invalid");
      progress.hidden = false;
      progress.value = 0;
      progress.dataset.busy = "1";
      say("Sending " + chosen.name + "…");
      ready();
      window.fieldopsUpload(form.dataset.request, chosen, {
        kind: "provider_invoice",
        onProgress: function (sent, total) { if (mine === sending) progress.value = total ? (100 * sent / total) : 0; }
      }).then(function (id) {
        if (mine !== sending) return;
        attachment.value = id;
        file.removeAttribute("name");  // stored already: the form need not carry the bytes again
        say("Your invoice copy " + chosen.name + " is attached.", "ok");
      }, function (error) {
        if (mine !== sending) return;
        file.setAttribute("aria-invalid", "true");
        say(error.message, "error");
      }).then(function () {
        if (mine !== sending) return;
        progress.hidden = true;
        delete progress.dataset.busy;
        ready();
      });
    });
    notes.addEventListener("input", ready);
    form.addEventListener("submit", function (event) {
      if (button.disabled) event.preventDefault();
    });
    ready();
  }

  // The work order moved on under the page (taken by another provider, re-assigned, a status changed): the
  // page's live check says so (pages/providers.py); show it as it is now, unless one of its forms is on its way.
  function followChanges() {
    var leaving = false;
    document.addEventListener("submit", function (event) { if (!event.defaultPrevented) leaving = true; });
    document.body.addEventListener("fieldops:work-order-moved", function () {
      if (!leaving) window.location.replace(window.location.pathname);
    });
    // "?done=accept" said what was just done; a reload should not say it again.
    if (window.location.search.indexOf("done=") >= 0 && window.history.replaceState) {
      window.history.replaceState(null, "", window.location.pathname);
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    followChanges();
    setUpInvoiceForm();
    setUpCompleteForm();
  });
})();
