/* Progressive enhancements for Postroom pages. Everything works without this file:
   it only hides settings that do not apply and shows warnings as the admin types. */
(function () {
  "use strict";

  function processingChoice(form) {
    var checked = form.querySelector('input[name="process_type"]:checked');
    return checked ? checked.value : "none";
  }

  // Email Processing: show the lead settings for "Convert To Lead", the case settings for "Convert To Case".
  function syncProcessing(form) {
    var choice = processingChoice(form);
    form.querySelectorAll("[data-process]").forEach(function (el) {
      el.hidden = el.getAttribute("data-process").split(" ").indexOf(choice) === -1;
    });
  }

  function syncTlsWarning(form) {
    var box = form.querySelector('input[name="verify_tls"]');
    var warning = document.getElementById("tls-warning");
    if (box && warning) {
      warning.hidden = box.checked;
    }
  }

  function init() {
    var form = document.querySelector("form.mailbox-form");
    if (!form) {
      return;
    }
    syncProcessing(form);
    syncTlsWarning(form);
    form.addEventListener("change", function (event) {
      if (event.target.name === "process_type") {
        syncProcessing(form);
      } else if (event.target.name === "verify_tls") {
        syncTlsWarning(form);
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
