/* The export page (portal/pages/export.py): "select all" ticks every variable of its form,
   unticking it clears them. In the browser, as it needs no data; a file in assets because
   the Content-Security-Policy forbids inline scripts. */
window.dash_clientside = window.dash_clientside || {};
window.dash_clientside.portal_export = Object.assign(window.dash_clientside.portal_export || {}, {
  selectAll: function (ticked, options) {
    if (!Array.isArray(ticked) || !Array.isArray(options)) {
      return window.dash_clientside.no_update;
    }
    if (ticked.indexOf("all") === -1) {
      return [];
    }
    return options.map(function (option) {
      return option.value;
    });
  },
});

/* Dash 4 draws checkboxes and radio buttons as a listbox of options around the native
   inputs, which nests interactive controls (WCAG 4.1.2). On the export page the native
   inputs in their fieldsets already say everything, so those roles are taken off. */
(function () {
  "use strict";
  var CHOICES = ".export-choices, .export-select-all";

  function plainChoices(root) {
    root.querySelectorAll(
      ".export-choices[role], .export-select-all[role], " +
      ".export-choices .dash-options-list[role], .export-select-all .dash-options-list[role]"
    ).forEach(function (list) {
      list.removeAttribute("role");
    });
    root.querySelectorAll(
      ".export-choices .dash-options-list-option[role], " +
      ".export-choices .dash-options-list-option[aria-selected], " +
      ".export-select-all .dash-options-list-option[role], " +
      ".export-select-all .dash-options-list-option[aria-selected]"
    ).forEach(function (option) {
      option.removeAttribute("role");
      option.removeAttribute("aria-selected");
    });
  }

  var pending = false;
  new MutationObserver(function () {
    if (pending || !document.querySelector(CHOICES)) { return; }
    pending = true;
    window.requestAnimationFrame(function () {
      pending = false;
      plainChoices(document);
    });
  }).observe(document.documentElement, {
    childList: true, subtree: true, attributes: true, attributeFilter: ["role", "aria-selected"]
  });
})();
