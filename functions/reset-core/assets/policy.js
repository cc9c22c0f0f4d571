// Progressive enhancement of the server-rendered pages. Without it every page still works; with
// it: focus on the error summary, a live note when a full-width username will be folded, the live
// password checklist and the disabled 「パスワードを変更」 button with a sentence saying why, the
// show-password toggle, and the Caps Lock warning. The server applies the same policy; nothing
// here is trusted.
(function () {
  "use strict";

  // Reveals the controls that only work with JavaScript (their space is already kept: no shift).
  document.documentElement.className += " js";

  var summary = document.getElementById("error-summary");
  if (summary && document.activeElement !== summary) { summary.focus(); }

  // --- Request page: say what a full-width username will be folded to. ---
  var requestForm = document.getElementById("request-form");
  if (requestForm) {
    var usernameInput = document.getElementById("username");
    var folded = document.getElementById("username-folded");
    var foldedText = requestForm.getAttribute("data-folded") || "";
    var showFolded = function () {
      var raw = usernameInput.value;
      // The server's rule: NFKC, then trim (the ideographic space folds to a space).
      var result = raw.normalize ? raw.normalize("NFKC").trim() : raw.trim();
      var message = result !== "" && result !== raw && /^[A-Za-z0-9]+$/.test(result) ? result : "";
      if (message === (folded.getAttribute("data-value") || "")) { return; }
      folded.setAttribute("data-value", message);
      folded.textContent = "";
      if (message !== "") {
        folded.appendChild(document.createTextNode(foldedText + " "));
        var code = document.createElement("code");
        code.textContent = message;
        folded.appendChild(code);
      }
    };
    usernameInput.addEventListener("input", showFolded);
    showFolded();
  }

  // --- New-password page. ---
  var form = document.getElementById("password-form");
  if (!form) { return; }

  var password = document.getElementById("new_password");
  var confirmation = document.getElementById("new_password_confirmation");
  var button = document.getElementById("change-password-button");
  var buttonHint = document.getElementById("button-hint");
  var list = document.getElementById("policy-checklist");
  var capsWarning = document.getElementById("caps-lock-warning");
  var toggle = document.getElementById("show-password");
  var username = (form.getAttribute("data-username") || "").toLowerCase();
  var minLength = parseInt(form.getAttribute("data-min-length"), 10) || 8;
  var metText = list.getAttribute("data-met");
  var unmetText = list.getAttribute("data-unmet");

  // Mirrors functions/reset-core/src/domain/password.rs (the common-password list stays on the server).
  var rules = {
    min_length: function (p) { return p.length >= minLength; },
    uppercase: function (p) { return /[A-Z]/.test(p); },
    lowercase: function (p) { return /[a-z]/.test(p); },
    digit: function (p) { return /[0-9]/.test(p); },
    symbol: function (p) { return /[!-\/:-@\[-`{-~]/.test(p); },
    half_width_only: function (p) { return /^[\x20-\x7e]*$/.test(p); },
    not_username: function (p) { return username === "" || p.toLowerCase().indexOf(username) === -1; },
    confirmation_matches: function (p, c) { return p.length > 0 && p === c; }
  };

  function setText(element, text) {
    // Only real changes reach the live region, so a screen reader hears what changed.
    if (element && element.textContent !== text) { element.textContent = text; }
  }

  function update() {
    var p = password.value;
    var c = confirmation.value;
    var unmet = p.length <= 128 ? 0 : 1;
    var items = list.querySelectorAll("li[data-rule]");
    for (var i = 0; i < items.length; i++) {
      var item = items[i];
      var check = rules[item.getAttribute("data-rule")];
      if (!check) { continue; }
      // Nothing typed meets nothing, not even the rules that only forbid something.
      var met = p.length > 0 && check(p, c);
      if (!met) { unmet += 1; }
      var className = "rule " + (met ? "met" : "unmet");
      if (item.className !== className) { item.className = className; }
      setText(item.querySelector(".rule-state"), met ? metText : unmetText);
    }
    button.disabled = unmet > 0;
    setText(buttonHint, unmet > 0
      ? buttonHint.getAttribute("data-remaining").replace("{n}", String(unmet))
      : buttonHint.getAttribute("data-ready"));
  }

  function clearInvalid(event) {
    // The server's verdict was about the previous submission; typing starts afresh.
    event.target.setAttribute("aria-invalid", "false");
  }

  function capsLock(event) {
    if (!event.getModifierState) { return; }
    setText(capsWarning, event.getModifierState("CapsLock") ? capsWarning.getAttribute("data-message") : "");
  }

  password.addEventListener("input", update);
  confirmation.addEventListener("input", update);
  password.addEventListener("input", clearInvalid);
  confirmation.addEventListener("input", clearInvalid);
  password.addEventListener("keydown", capsLock);
  confirmation.addEventListener("keydown", capsLock);
  password.addEventListener("keyup", capsLock);
  confirmation.addEventListener("keyup", capsLock);

  if (toggle) {
    toggle.addEventListener("change", function () {
      var type = toggle.checked ? "text" : "password";
      password.type = type;
      confirmation.type = type;
    });
    // Never leave a password visible in a form that is being sent.
    form.addEventListener("submit", function () {
      password.type = "password";
      confirmation.type = "password";
    });
  }

  update();
})();
