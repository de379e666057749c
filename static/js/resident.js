/* Resident pages: SMS resend countdown, on-site status polling, the environment check. */
(function () {
  "use strict";
  var send = document.getElementById("send-otp");
  if (send) {
    var wait = parseInt(send.getAttribute("data-wait") || "0", 10);
    var tick = function () {
      if (wait <= 0) { send.disabled = false; send.textContent = "重新获取验证码"; return; }
      send.disabled = true;
      send.textContent = wait + "秒后可重新获取";
      wait -= 1;
      setTimeout(tick, 1000);
    };
    if (wait > 0) { tick(); }
  }

  var status = document.getElementById("onsite-status");
  if (status && window.fetch) {
    var url = status.getAttribute("data-status-url");
    setInterval(function () {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.json(); })
        .then(function (data) {
          if (data.next) { window.location.assign(data.next); }
          else if (data.state && data.state !== "pending_onsite") { window.location.reload(); }
        })
        .catch(function () {});
    }, 5000);
  }

  var checks = document.getElementById("env-checks");
  if (checks) {
    var result = { type: "erhc-env-check", js: true, cookies: navigator.cookieEnabled, camera: false,
                   secureContext: !!window.isSecureContext };
    var set = function (id, ok, text) {
      var li = document.getElementById(id);
      var span = li.querySelector("span");
      span.className = ok ? "ok" : "warn";
      span.textContent = text;
      while (span.nextSibling) { li.removeChild(span.nextSibling); }
    };
    set("check-js", true, "已开启");
    set("check-cookies", result.cookies, result.cookies ? "可用" : "被禁用 — 请在App设置中允许Cookie");
    var report = function () {
      checks.setAttribute("data-result", JSON.stringify(result));
      if (window.parent && window.parent !== window) { window.parent.postMessage(result, "*"); }
    };
    if (navigator.mediaDevices && navigator.mediaDevices.enumerateDevices && window.isSecureContext) {
      navigator.mediaDevices.enumerateDevices().then(function (devices) {
        result.camera = devices.some(function (d) { return d.kind === "videoinput"; });
        set("check-camera", result.camera, result.camera ? "可用(拍照时会请求授权)"
          : "未发现摄像头 — 可上传照片,或选择到现场认证");
        report();
      }).catch(function () { set("check-camera", false, "无法检测 — 可上传照片,或选择到现场认证"); report(); });
    } else {
      set("check-camera", false, "当前环境不支持页面内拍照 — 可上传照片,或选择到现场认证");
      report();
    }
  }
})();
