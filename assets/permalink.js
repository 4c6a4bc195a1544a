/* The copy-link button (portal/components/permalink.py): copies the current address, which
   holds every filter of the view, and returns the message for the page's live region. A
   file in assets because the Content-Security-Policy forbids inline scripts. */
window.dash_clientside = window.dash_clientside || {};
window.dash_clientside.portal = Object.assign(window.dash_clientside.portal || {}, {
  copyLink: function (clicks) {
    if (!clicks) {
      return window.dash_clientside.no_update;
    }
    var button = document.getElementById("permalink-copy");
    var copied = (button && button.dataset.copied) || "Link copied";
    var failed = (button && button.dataset.failed) || "Could not copy";
    var address = window.location.href;

    function fallback() {
      var area = document.createElement("textarea");
      area.value = address;
      area.setAttribute("readonly", "");
      area.style.position = "absolute";
      area.style.left = "-10000px";
      document.body.appendChild(area);
      area.select();
      var ok = false;
      try {
        ok = document.execCommand("copy");
      } catch (error) {
        ok = false;
      }
      document.body.removeChild(area);
      if (button) {
        button.focus();
      }
      return ok ? copied : failed;
    }

    if (navigator.clipboard && window.isSecureContext) {
      // The same words twice in a row are not announced again; a no-break space makes
      // the second "Link copied" a new text for the live region.
      var suffix = clicks % 2 === 0 ? "\u00a0" : "";
      return navigator.clipboard.writeText(address).then(
        function () { return copied + suffix; },
        function () { return fallback() + suffix; }
      );
    }
    return fallback();
  },
});
