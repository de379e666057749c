// Ops dashboard: reload every data-refresh seconds while the tab is visible (no inline script under the CSP).
(function () {
  "use strict";
  var root = document.getElementById("ops-dashboard");
  if (!root) { return; }
  var seconds = parseInt(root.getAttribute("data-refresh"), 10) || 30;
  function tick() {
    if (document.visibilityState === "visible") { window.location.reload(); }
    else { window.setTimeout(tick, seconds * 1000); }
  }
  window.setTimeout(tick, seconds * 1000);
})();
