/* Two things Dash pages cannot do without script (a file in assets, since the
   Content-Security-Policy forbids inline scripts):
   - anchors such as /methods#funnel: the content arrives after the browser has looked for
     the anchor, so scroll to it (and move focus there) once it exists;
   - a filter rewrites the address and the page router renders the page anew, which would
     drop the keyboard focus on <body>; put it back on the same control (for a radio group,
     on the chosen button);
   - Dash 4.4 renders dcc.RadioItems as a listbox whose options (labels) wrap the radio
     inputs, which axe reports as nested interactive controls without a name; inside the
     portal's filter groups (`.choice-group`, in a fieldset with a legend) the native radio
     buttons say everything, so those ARIA roles are taken off again. */
(function () {
  var pendingAnchor = Boolean(window.location.hash);
  var pendingFocus = null;

  var anchorUntil = 0;

  function revealAnchor() {
    var id = decodeURIComponent(window.location.hash.slice(1));
    var target = id && document.getElementById(id);
    if (!target) {
      return;
    }
    // Parts above the anchor may still arrive (dcc.Markdown loads lazily) and push it down:
    // keep it in view for a moment, unless the reader scrolls first.
    if (!anchorUntil) {
      anchorUntil = Date.now() + 3000;
      if (target.hasAttribute("tabindex")) {
        target.focus({preventScroll: true});
      }
    }
    target.scrollIntoView();
    if (Date.now() > anchorUntil) {
      pendingAnchor = false;
    }
  }

  ["wheel", "keydown", "touchstart", "mousedown"].forEach(function (kind) {
    window.addEventListener(kind, function () { pendingAnchor = false; }, {passive: true});
  });

  function restoreFocus() {
    var target = document.getElementById(pendingFocus.id);
    if (!target || target === pendingFocus.node) {
      return;
    }
    var chosen = target.querySelector("input:checked") || target;
    pendingFocus = null;
    chosen.focus();
  }

  function plainRadios() {
    // Dash may set aria-selected without a role (a choice that does not navigate away).
    document.querySelectorAll(
      ".choice-group[role], .choice-group [role='option'], .choice-group [aria-selected]"
    )
      .forEach(function (node) {
        node.removeAttribute("role");
        node.removeAttribute("aria-selected");
      });
  }

  function onChange() {
    plainRadios();
    if (pendingAnchor) {
      revealAnchor();
    }
    if (pendingFocus) {
      restoreFocus();
    }
  }

  function onNavigate() {
    pendingAnchor = Boolean(window.location.hash);
    anchorUntil = 0;
    var active = document.activeElement;
    var holder = active && active !== document.body ? active.closest("[id]") : null;
    pendingFocus = holder && holder.id.indexOf("_pages") !== 0 ? {id: holder.id, node: holder} : null;
    onChange();
  }

  new MutationObserver(onChange).observe(document.documentElement, {
    childList: true,
    subtree: true,
    attributes: true,
    attributeFilter: ["role", "aria-selected"],
  });
  window.addEventListener("_dashprivate_pushstate", onNavigate);
  window.addEventListener("popstate", onNavigate);
})();
