/* The import page (portal/pages/import_page.py): dcc.Upload puts a native file input beside
   its children, invisible (opacity) yet reachable with Tab and without a label, so keyboard
   and screen-reader users would meet a nameless, unseen stop. The page's own labelled button
   inside the upload opens the same file chooser, so the native input is taken out of the tab
   order and hidden from assistive technology. A file in assets because the
   Content-Security-Policy forbids inline scripts. */
(function () {
  "use strict";

  function quietInputs() {
    document.querySelectorAll(".import-upload input[type=file]:not([tabindex])")
      .forEach(function (input) {
        input.setAttribute("tabindex", "-1");
        input.setAttribute("aria-hidden", "true");
      });
  }

  var pending = false;
  new MutationObserver(function () {
    if (pending || !document.querySelector(".import-upload")) { return; }
    pending = true;
    window.requestAnimationFrame(function () {
      pending = false;
      quietInputs();
    });
  }).observe(document.documentElement, {childList: true, subtree: true});
})();
