/* Code face: count down and fetch a fresh code before the shown one expires, without reloading. */
(function () {
  "use strict";
  var img = document.getElementById("code-img");
  if (!img || !window.fetch) { return; }
  var left = document.getElementById("code-left");
  var status = document.getElementById("code-status");
  var url = img.getAttribute("data-refresh-url");
  var expiresAt = Date.now() + Number(img.getAttribute("data-expires-in")) * 1000;
  var LEAD_MS = 8000; // refresh this long before expiry so a scan never meets an expired code
  var busy = false;
  var retryAt = 0;

  function refresh() {
    if (busy || Date.now() < retryAt) { return; }
    busy = true;
    fetch(url, { credentials: "same-origin", cache: "no-store", headers: { "Accept": "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.json(); })
      .then(function (data) {
        img.src = data.src;
        expiresAt = Date.now() + data.expires_in * 1000;
        status.textContent = "";
      })
      .catch(function () { retryAt = Date.now() + 5000; status.textContent = "网络异常,二维码未能更新,请点击“手动刷新”"; })
      .then(function () { busy = false; });
  }
  function tick() {
    var ms = expiresAt - Date.now();
    left.textContent = String(Math.max(0, Math.ceil(ms / 1000)));
    if (ms <= LEAD_MS) { refresh(); }
  }
  // A live clock (Beijing time, seconds), so a screenshot cannot pass for the live page.
  var clock = document.getElementById("code-clock");
  var skew = clock ? Number(clock.getAttribute("data-server-time")) - Date.now() : 0;
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function showClock() {
    if (!clock) { return; }
    var t = new Date(Date.now() + skew + 8 * 3600 * 1000);  // UTC+8, read with the UTC getters
    clock.textContent = t.getUTCFullYear() + "-" + pad(t.getUTCMonth() + 1) + "-" + pad(t.getUTCDate()) + " " +
      pad(t.getUTCHours()) + ":" + pad(t.getUTCMinutes()) + ":" + pad(t.getUTCSeconds());
  }
  setInterval(showClock, 1000);
  showClock();
  document.getElementById("code-refresh").addEventListener("click", function (e) { e.preventDefault(); refresh(); });
  document.addEventListener("visibilitychange", function () { if (!document.hidden) { tick(); } });
  setInterval(tick, 1000);
})();
