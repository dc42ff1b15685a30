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
  // A photo from the PC's camera on the attach form (partials/attachments.html):
  // the frame becomes a JPEG in the form's own file field and the form is
  // sent as if the cadre had chosen that file, so the station checks,
  // shrinks and answers it as any other. The button stays hidden where the
  // browser offers no camera (or no JS). Pages come from 127.0.0.1, a
  // secure context, so the camera works offline.
  function webcam() {
    var form = document.getElementById("attach-form");
    var open = document.getElementById("webcam-open");
    var md = navigator.mediaDevices;
    if (!form || !open || !md || typeof md.getUserMedia !== "function" || typeof DataTransfer !== "function") { return; }
    var box = document.getElementById("webcam"), video = document.getElementById("webcam-view");
    var shoot = document.getElementById("webcam-shoot"), cancel = document.getElementById("webcam-cancel");
    var err = document.getElementById("webcam-err"), input = form.querySelector('input[type="file"]');
    var stream = null;
    open.hidden = false;
    // The camera's light goes off as soon as it is not needed.
    function stop() {
      if (stream) { stream.getTracks().forEach(function (t) { t.stop(); }); stream = null; }
      video.srcObject = null;
      box.hidden = true;
      shoot.disabled = true;
      open.disabled = false;
    }
    function fail(msg) {
      stop();
      err.textContent = msg;
      err.hidden = false;
    }
    function why(e) {
      var n = e && e.name;
      if (n === "NotReadableError" || n === "AbortError") {
        return "摄像头正被别的程序使用。请关掉视频聊天等用摄像头的程序后再点「用摄像头拍照」；也可以用手机拍照后复制到电脑再添加。";
      }
      return "没有找到摄像头，或浏览器没有允许使用摄像头。请接好摄像头，在浏览器询问时点「允许」后再试；也可以用手机拍照后复制到电脑再添加。";
    }
    open.addEventListener("click", function () {
      err.hidden = true;
      open.disabled = true;
      var asked;
      try {
        asked = md.getUserMedia({ video: { width: { ideal: 1920 }, height: { ideal: 1080 } }, audio: false });
      } catch (e) {
        asked = Promise.reject(e);
      }
      Promise.resolve(asked).then(function (s) {
        stream = s;
        video.srcObject = s;
        box.hidden = false;
        // autoplay starts it too; 取消 may interrupt this play.
        video.play().catch(function () {});
      }, function (e) { fail(why(e)); });
    });
    // 拍照 only once there is a picture to take.
    video.addEventListener("playing", function () {
      if (stream) { shoot.disabled = false; shoot.focus(); }
    });
    cancel.addEventListener("click", stop);
    window.addEventListener("pagehide", stop);
    shoot.addEventListener("click", function () {
      var w = video.videoWidth, h = video.videoHeight;
      if (!stream || !w || !h) { return; }
      var c = document.createElement("canvas");
      c.width = w;
      c.height = h;
      c.getContext("2d").drawImage(video, 0, 0, w, h);
      shoot.disabled = true;
      stop();
      c.toBlob(function (blob) {
        if (!blob) { fail("没有拍成照片，请再点「用摄像头拍照」试一次；也可以用手机拍照后复制到电脑再添加。"); return; }
        var d = new Date(), p = function (n) { return (n < 10 ? "0" : "") + n; };
        var name = "摄像头照片-" + d.getFullYear() + p(d.getMonth() + 1) + p(d.getDate()) + "-" + p(d.getHours()) + p(d.getMinutes()) + p(d.getSeconds()) + ".jpg";
        var dt = new DataTransfer();
        dt.items.add(new File([blob], name, { type: "image/jpeg", lastModified: d.getTime() }));
        input.files = dt.files;
        var send = document.getElementById("attach");
        if (form.requestSubmit) { form.requestSubmit(send); } else { send.click(); }
      }, "image/jpeg", 0.9);
    });
  }
  // Put the cursor on the first field with a problem.
  window.addEventListener("DOMContentLoaded", function () {
    webcam();
    var err = document.querySelector(".err");
    if (err) {
      var field = err.parentElement && err.parentElement.querySelector("input, select, textarea");
      if (field) { field.focus(); }
    }
  });
})();
