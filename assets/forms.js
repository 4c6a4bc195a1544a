/* Data-entry forms: what Dash's input components cannot say themselves.
 *
 * dcc.Input and dcc.Textarea take no aria-* properties, so a field's box names its help and
 * message ids in data-describedby and this script copies them onto the input as
 * aria-describedby, and marks the input aria-invalid while its messages hold an error.
 * Dash 4 draws radio buttons and checkboxes as a listbox of options around the native
 * inputs, which nests interactive controls (WCAG 4.1.2); inside a form field's fieldset the
 * native inputs and the legend already say everything, so those roles are taken off.
 * A link of the error summary moves focus to the field it names. Loaded from assets/ under
 * the content security policy's script-src 'self'; no inline script.
 */
window.dash_clientside = window.dash_clientside || {};
window.dash_clientside.portal_forms = Object.assign(window.dash_clientside.portal_forms || {}, {
  /* Hands the live check's findings (the rf-live store) to the fields: which are hidden,
     their messages, calculated values, warnings to acknowledge, and fields drawn anew
     (empty) because logic hid them while they held a value. */
  distribute: function (live) {
    var dc = window.dash_clientside;
    var outputs = dc.callback_context.outputs_list;
    if (!live) {
      return outputs.map(function (group) { return group.map(function () { return dc.no_update; }); });
    }
    function each(index, value) {
      return outputs[index].map(function (output) { return value(output.id.name); });
    }
    return [
      each(0, function (name) { return live.hidden.indexOf(name) !== -1; }),
      each(1, function (name) { return live.messages[name] || []; }),
      each(2, function (name) {
        return name in live.calculated ? live.calculated[name] : dc.no_update;
      }),
      each(3, function (name) { return live.warned.indexOf(name) === -1; }),
      each(4, function (name) { return live.cleared[name] || dc.no_update; })
    ];
  }
});

(function () {
  "use strict";

  function describe(root) {
    root.querySelectorAll("[data-describedby]").forEach(function (box) {
      var ids = box.getAttribute("data-describedby");
      box.querySelectorAll("input:not([type=radio]):not([type=checkbox]), textarea")
        .forEach(function (input) {
          if (input.getAttribute("aria-describedby") !== ids) {
            input.setAttribute("aria-describedby", ids);
          }
          var invalid = box.querySelector(".field-messages .field-error") ? "true" : "false";
          if (input.getAttribute("aria-invalid") !== invalid) {
            input.setAttribute("aria-invalid", invalid);
          }
        });
    });
  }

  function plainChoices(root) {
    root.querySelectorAll(".form-field-box .dash-options-list[role]").forEach(function (list) {
      list.removeAttribute("role");
    });
    root.querySelectorAll(
      ".form-field-box .dash-options-list-option[role], " +
      ".form-field-box .dash-options-list-option[aria-selected]"
    )
      .forEach(function (option) {
        option.removeAttribute("role");
        option.removeAttribute("aria-selected");
      });
  }

  var pending = false;
  new MutationObserver(function () {
    if (pending) { return; }
    pending = true;
    window.requestAnimationFrame(function () {
      pending = false;
      describe(document);
      plainChoices(document);
    });
  }).observe(document.documentElement, {
    childList: true, subtree: true, attributes: true, attributeFilter: ["role", "aria-selected"]
  });

  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest(".error-summary a[href^='#']");
    if (!link) { return; }
    var box = document.getElementById(link.getAttribute("href").slice(1));
    var field = box && box.querySelector("input, textarea, select");
    if (field) {
      event.preventDefault();
      box.scrollIntoView({ block: "center" });
      field.focus();
    }
  });
})();
