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
  // The sync bar follows the link by itself: every few seconds the bar
  // alone is fetched and swapped in, so that a county coming back (or
  // going away) shows without a reload. Only for a logged-in cadre (the
  // bar has the 立即同步 button); a 401 means the login ended: stop.
  function refreshBar() {
    var bar = document.getElementById("syncbar");
    if (!bar || !document.getElementById("sync-now") || document.hidden) { return; }
    var back = location.pathname + location.search;
    fetch("/sync/bar?back=" + encodeURIComponent(back), { credentials: "same-origin", cache: "no-store" })
      .then(function (r) {
        if (r.status === 401) { clearInterval(timer); return null; }
        return r.ok ? r.text() : null;
      })
      .then(function (html) {
        if (!html) { return; }
        var cur = document.getElementById("syncbar");
        var t = document.createElement("template");
        t.innerHTML = html.trim();
        var next = t.content.firstElementChild;
        // An opened 详细 stays open while the bar is swapped.
        var raw = next && next.querySelector("details.rawerr");
        if (raw && cur && cur.querySelector("details.rawerr[open]")) { raw.open = true; }
        if (cur && next && cur.outerHTML !== next.outerHTML) { cur.replaceWith(next); }
      })
      .catch(function () { /* the station's own page server is away: keep the bar */ });
  }
  var timer = setInterval(refreshBar, 5000);
  window.addEventListener("online", refreshBar);
  document.addEventListener("visibilitychange", refreshBar);
  // Put the cursor on the first field with a problem.
  window.addEventListener("DOMContentLoaded", function () {
    var err = document.querySelector(".err");
    if (err) {
      var field = err.parentElement && err.parentElement.querySelector("input, select, textarea");
      if (field) { field.focus(); }
    }
  });
})();
