// 村站通: small helpers only. Every form works without this file.
(function () {
  "use strict";
  // Ask before irreversible buttons (撤回 …).
  document.addEventListener("submit", function (e) {
    var b = e.submitter;
    if (b && b.dataset.confirm && !window.confirm(b.dataset.confirm)) {
      e.preventDefault();
      return;
    }
    // One click saves once: a slow PC invites a second click.
    if (b && !b.dataset.clicked) {
      b.dataset.clicked = "1";
      setTimeout(function () { b.disabled = true; }, 0);
    }
  });
  // Put the cursor on the first field with a problem.
  window.addEventListener("DOMContentLoaded", function () {
    var err = document.querySelector(".err");
    if (err) {
      var field = err.parentElement && err.parentElement.querySelector("input, select, textarea");
      if (field) { field.focus(); }
    }
  });
})();
