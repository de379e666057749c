// The face vendor's script (loaded before this one) defines getMetaInfo(): the device data its check
// needs. Put it in the form as JSON when the resident starts; without it the server says what to do.
(function () {
  "use strict";
  var form = document.getElementById("device-form");
  if (!form) return;
  function deviceInfo() {
    if (typeof window.getMetaInfo !== "function") return "";
    try {
      var info = window.getMetaInfo();
      return typeof info === "string" ? info : JSON.stringify(info);
    } catch (err) {
      return "";
    }
  }
  form.addEventListener("submit", function () {
    form.elements.meta_info.value = deviceInfo();
  });
  window.addEventListener("load", function () {
    if (typeof window.getMetaInfo !== "function") document.getElementById("device-problem").hidden = false;
  });
})();
