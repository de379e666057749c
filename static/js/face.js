/* Face capture: getUserMedia preview (playsinline) -> JPEG -> the same file input the no-JS form uses.
   Without a preview the camera input (capture=user) and the album input stay; a chosen photo is sent at once. */
(function () {
  "use strict";
  var box = document.getElementById("camera");
  var video = document.getElementById("preview");
  var shoot = document.getElementById("shoot");
  var problem = document.getElementById("camera-problem");
  var form = document.getElementById("face-form");
  var input = form && form.querySelector("input[type=file]");
  if (!box || !video || !form || !input) { return; }
  var stream = null;
  var native = document.getElementById("capture-native");
  var chosen = document.getElementById("photo-chosen");

  function showProblem() { box.hidden = true; problem.hidden = false; if (native) { native.hidden = false; } }

  Array.prototype.forEach.call(form.querySelectorAll("input[type=file]"), function (each) {
    each.addEventListener("change", function () {
      if (!each.files || !each.files.length) { return; }
      if (chosen) { chosen.textContent = "已选好照片,正在上传比对…"; }
      form.submit();
    });
  });

  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia || !window.DataTransfer) {
    showProblem();
    return;
  }
  navigator.mediaDevices.getUserMedia({ video: { facingMode: "user", width: { ideal: 640 } }, audio: false })
    .then(function (s) {
      stream = s;
      video.srcObject = s;
      box.hidden = false;
      if (native) { native.hidden = true; }  // the preview's own button takes the picture
    })
    .catch(showProblem);

  shoot.addEventListener("click", function () {
    if (!stream || !video.videoWidth) { return; }
    shoot.disabled = true;
    shoot.textContent = "正在比对…";
    var canvas = document.createElement("canvas");
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    canvas.getContext("2d").drawImage(video, 0, 0);
    canvas.toBlob(function (blob) {
      stream.getTracks().forEach(function (t) { t.stop(); });
      var transfer = new DataTransfer();
      transfer.items.add(new File([blob], "face.jpg", { type: "image/jpeg" }));
      input.files = transfer.files;
      form.submit();
    }, "image/jpeg", 0.85);
  });
})();
