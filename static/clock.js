// Live clock: shows the server's time from /time, refreshed every second. An external script
// (not inline) so the page runs under a Content-Security-Policy without 'unsafe-inline'.
"use strict";
(function () {
  var clock = document.getElementById("clock");
  if (!clock) return;
  var endpoint = clock.getAttribute("data-endpoint") || "/time";
  var pending = false;

  function tick() {
    if (pending) return;
    pending = true;
    fetch(endpoint, { headers: { Accept: "application/json" }, cache: "no-store" })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (body) {
        var time = String(body.time || "");
        // Show HH:MM:SS; the full date stays in the tooltip.
        clock.textContent = time.slice(11) || time;
        clock.title = time;
      })
      .catch(function () {
        clock.textContent = "offline";
      })
      .finally(function () {
        pending = false;
      });
  }

  tick();
  setInterval(tick, 1000);
})();
