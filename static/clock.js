// Live clock: shows the server's time from /time, refreshed every second. An external script
// (not inline) so the page runs under a Content-Security-Policy without 'unsafe-inline'.
const clock = document.getElementById("clock");

if (clock) {
  const endpoint = clock.dataset.endpoint || "/time";
  let pending = false;

  const tick = async () => {
    if (pending) return;
    pending = true;
    try {
      const response = await fetch(endpoint, {
        headers: { Accept: "application/json" },
        cache: "no-store",
      });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const { time } = await response.json();
      // Show HH:MM:SS; the full date stays in the tooltip.
      clock.textContent = String(time).slice(11) || String(time);
      clock.title = String(time);
    } catch {
      clock.textContent = "offline";
    } finally {
      pending = false;
    }
  };

  tick();
  setInterval(tick, 1000);
}
