/* Quick Search of the configuration menu: filters, as the admin types, the menu's sections (and the
   mailboxes under Email Configuration) and the fields and rows of the configuration page shown.

   Markup (no inline script; everything is driven by data attributes):
   - input[data-quicksearch]          the search box; aria-describedby names the status element
   - [data-quicksearch-status]         aria-live region that announces how many entries match
   - [data-qs-item]                    one entry; matched against data-qs-text, else its text
   - [data-qs-item][data-qs-extra]     an entry shown only while searching (a mailbox in the menu)
   - [data-qs-group]                   a container of entries (a menu section, a fieldset, a table);
                                       hidden when nothing in it matches, shown whole when its own
                                       data-qs-text matches
   Enter jumps to the first matching link of the menu; Escape clears the search. */
(function () {
  "use strict";

  function words(text) {
    return text.toLowerCase().split(/\s+/).filter(Boolean);
  }

  function haystack(el) {
    return (el.getAttribute("data-qs-text") || el.textContent || "").toLowerCase();
  }

  function matches(el, query) {
    var text = haystack(el);
    return query.every(function (word) {
      return text.indexOf(word) !== -1;
    });
  }

  function setShown(el, shown) {
    el.hidden = !shown;
  }

  function filter(query) {
    var searching = query.length > 0;
    var items = Array.prototype.slice.call(document.querySelectorAll("[data-qs-item]"));
    items.forEach(function (item) {
      var extra = item.hasAttribute("data-qs-extra");
      setShown(item, searching ? matches(item, query) : !extra);
    });
    document.querySelectorAll("[data-qs-group]").forEach(function (group) {
      var whole = searching && group.hasAttribute("data-qs-text") && matches(group, query);
      if (whole) {
        group.querySelectorAll("[data-qs-item]:not([data-qs-extra])").forEach(function (item) {
          setShown(item, true);
        });
      }
      var anyShown = group.querySelector("[data-qs-item]:not([hidden])") !== null;
      setShown(group, !searching || whole || anyShown);
    });
    // Count what the admin can see: not filtered out, and not hidden by the page itself (e.g. the
    // mailbox form hides the settings of the Email Processing choices not taken).
    return items.filter(function (item) {
      return !item.closest("[hidden]") && item.offsetHeight > 0;
    });
  }

  function announce(status, query, shown) {
    if (!status) {
      return;
    }
    if (!query.length) {
      status.textContent = "";
    } else if (!shown.length) {
      status.textContent = "No matches.";
    } else {
      status.textContent = shown.length + (shown.length === 1 ? " match." : " matches.");
    }
  }

  function firstMenuLink(shown) {
    for (var i = 0; i < shown.length; i += 1) {
      var link = shown[i].closest("nav") && shown[i].querySelector("a[href]");
      if (link) {
        return link;
      }
    }
    return null;
  }

  function init() {
    var input = document.querySelector("input[data-quicksearch]");
    if (!input) {
      return;
    }
    var status = document.querySelector("[data-quicksearch-status]");
    var timer = null;
    function run() {
      var query = words(input.value);
      announce(status, query, filter(query));
    }
    input.addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(run, 80); // one announcement per pause, not per keystroke
    });
    input.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && input.value) {
        input.value = "";
        run();
        event.preventDefault();
      } else if (event.key === "Enter") {
        var link = firstMenuLink(filter(words(input.value)));
        event.preventDefault();
        if (link) {
          window.location.assign(link.href);
        }
      }
    });
    if (input.value) {
      run(); // the browser restored a typed value (back button)
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
