/* Rule and template forms: after "+ Add" or "x" swapped the rows in place (htmx), put the keyboard focus
   where the admin expects it — on the new row's first control, or on "+ Add" once a row is gone — since the
   button they pressed was replaced. Without JavaScript the buttons post the whole form and nothing here runs. */
(function () {
  "use strict";

  var ROWS = { conditions: ".condition-row", translations: ".translation" };

  document.addEventListener("htmx:afterSwap", function (event) {
    // The swap replaced the fieldset (outerHTML): find the new one by the id they share.
    var id = event.detail.target && event.detail.target.id;
    var rows = id && ROWS[id];
    var fieldset = rows && document.getElementById(id);
    if (!fieldset) {
      return;
    }
    var trigger = event.detail.requestConfig && event.detail.requestConfig.elt;
    var added = trigger && trigger.name === "add";
    var all = fieldset.querySelectorAll(rows);
    var target = added && all.length
      ? all[all.length - 1].querySelector("select, input, textarea")
      : fieldset.querySelector('button[name="add"]');
    if (target) {
      target.focus();
    }
  });
})();
