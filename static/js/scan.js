/* Scan console: keep the wedge-scanner input focused; camera scanning where BarcodeDetector exists. */
(function () {
  "use strict";
  // The voucher prints from the page it is on (print CSS shows only the voucher): never a new tab.
  var printLink = document.getElementById("print-voucher");
  if (printLink) {
    printLink.addEventListener("click", function (e) { e.preventDefault(); window.print(); });
  }
  var form = document.getElementById("scan-form");
  if (!form) { return; }
  var input = form.querySelector("input[name=code]");
  var deviceTime = form.querySelector("input[name=device_time]");
  // This device's clock goes with each scan, so a refusal can say when a clock, not the code, is wrong.
  function stamp() { if (deviceTime) { deviceTime.value = String(Date.now() / 1000); } }
  form.addEventListener("submit", stamp);
  window.addEventListener("afterprint", function () { input.focus(); });
  // A wedge scanner types into whatever has focus; bring focus back after any click elsewhere.
  document.addEventListener("click", function (e) {
    if (e.target.closest("a, button, input, video")) { return; }
    input.focus();
  });
  var startBtn = document.getElementById("camera-start");
  var box = document.getElementById("camera");
  var video = document.getElementById("camera-video");
  var status = document.getElementById("camera-status");
  var stopBtn = document.getElementById("camera-stop");
  if (!("BarcodeDetector" in window) || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) { return; }
  var detector, stream, timer;
  try { detector = new window.BarcodeDetector({ formats: ["qr_code"] }); } catch (err) { return; }
  startBtn.hidden = false;

  function stop() {
    if (timer) { clearTimeout(timer); timer = null; }
    if (stream) { stream.getTracks().forEach(function (t) { t.stop(); }); stream = null; }
    box.hidden = true;
    input.focus();
  }
  function tick() {
    detector.detect(video).then(function (codes) {
      if (codes.length && codes[0].rawValue) {
        input.value = codes[0].rawValue;
        stop();
        stamp();
        form.submit();
        return;
      }
      timer = setTimeout(tick, 200);
    }).catch(function () { timer = setTimeout(tick, 400); });
  }
  startBtn.addEventListener("click", function () {
    navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } }).then(function (s) {
      stream = s;
      video.srcObject = s;
      box.hidden = false;
      status.textContent = "请将电子健康码置于画面中央";
      return video.play();
    }).then(tick).catch(function () {
      status.textContent = "无法打开摄像头,请使用扫码枪或检查浏览器权限";
      box.hidden = false;
    });
  });
  stopBtn.addEventListener("click", stop);
})();
