// Progressive enhancement of the server-rendered pages: the live password checklist and the
// disabled 「パスワードを変更」 button, the show-password toggle, the Caps Lock warning, and
// focus on the error summary. The server applies the same policy; nothing here is trusted.
(function () {
  "use strict";

  var summary = document.getElementById("error-summary");
  if (summary) { summary.focus(); }

  var form = document.getElementById("password-form");
  if (!form) { return; }

  var password = document.getElementById("new_password");
  var confirmation = document.getElementById("new_password_confirmation");
  var button = document.getElementById("change-password-button");
  var list = document.getElementById("policy-checklist");
  var capsWarning = document.getElementById("caps-lock-warning");
  var toggle = document.getElementById("show-password");
  var username = (form.getAttribute("data-username") || "").toLowerCase();
  var metText = list.getAttribute("data-met");
  var unmetText = list.getAttribute("data-unmet");

  // Mirrors functions/reset-core/src/domain/password.rs (the common-password list stays on the server).
  var rules = {
    min_length: function (p) { return p.length >= 8; },
    uppercase: function (p) { return /[A-Z]/.test(p); },
    lowercase: function (p) { return /[a-z]/.test(p); },
    digit: function (p) { return /[0-9]/.test(p); },
    half_width_only: function (p) { return /^[\x20-\x7e]*$/.test(p); },
    not_username: function (p) { return username === "" || p.toLowerCase().indexOf(username) === -1; },
    confirmation_matches: function (p, c) { return p.length > 0 && p === c; }
  };

  function update() {
    var p = password.value;
    var c = confirmation.value;
    var allMet = p.length <= 128;
    var items = list.querySelectorAll("li[data-rule]");
    for (var i = 0; i < items.length; i++) {
      var item = items[i];
      var check = rules[item.getAttribute("data-rule")];
      if (!check) { continue; }
      var met = check(p, c);
      allMet = allMet && met;
      item.className = "rule " + (met ? "met" : "unmet");
      var state = item.querySelector(".rule-state");
      if (state) { state.textContent = met ? metText : unmetText; }
    }
    button.disabled = !allMet;
    button.setAttribute("aria-disabled", allMet ? "false" : "true");
  }

  function capsLock(event) {
    if (!event.getModifierState) { return; }
    var on = event.getModifierState("CapsLock");
    capsWarning.textContent = on ? capsWarning.getAttribute("data-message") : "";
  }

  capsWarning.setAttribute("data-message", list.getAttribute("data-caps") || "");
  password.addEventListener("input", update);
  confirmation.addEventListener("input", update);
  password.addEventListener("keyup", capsLock);
  confirmation.addEventListener("keyup", capsLock);

  if (toggle) {
    toggle.hidden = false;
    var toggleLabel = form.querySelector("label[for='show-password']");
    if (toggleLabel) { toggleLabel.hidden = false; }
    toggle.addEventListener("change", function () {
      var type = toggle.checked ? "text" : "password";
      password.type = type;
      confirmation.type = type;
    });
  }

  update();
})();
