/* Trail dashboard: refresh the visible widgets (over HTTP, with the page's filters) when a live frame arrives.
   The frame itself swaps #widget-current by id (htmx ws extension); everything else is re-requested here, at most
   once per data-live-interval ms. No frame is expected on non-live ranges: there is no socket then. */
(function () {
  "use strict";
  htmx.config.scrollIntoViewOnBoost = false;
  htmx.config.wsReconnectDelay = function (n) { return Math.min(5000, 500 * Math.pow(2, n)) * (0.5 + Math.random() / 2); };
  var body = document.body, timer = null, last = 0, skipNext = false;
  function interval() {
    var el = document.getElementById("live-socket");
    return el ? (+el.dataset.liveInterval || 1000) : 1000;
  }
  function refresh() {
    timer = null; last = Date.now();
    document.querySelectorAll("[data-live-refresh]").forEach(function (el) { htmx.trigger(el, "live-refresh"); });
  }
  body.addEventListener("htmx:wsOpen", function () { body.dataset.live = "open"; skipNext = true; });
  body.addEventListener("htmx:wsClose", function () { body.dataset.live = "closed"; });
  // A frame says "the live window changed"; the stats engine sees the same events once the writer has stored
  // them (within its flush interval). So: one refresh soon (throttled), and a trailing one after the frames stop.
  var trailing = null, SETTLE_MS = 2500;
  body.addEventListener("htmx:wsAfterMessage", function () {
    body.dataset.frames = String((+body.dataset.frames || 0) + 1);
    if (skipNext) { skipNext = false; return; }  // the state on connect: the widgets were just loaded
    clearTimeout(trailing);
    trailing = setTimeout(refresh, SETTLE_MS);
    if (timer) return;
    timer = setTimeout(refresh, Math.max(0, interval() - (Date.now() - last)));
  });
  // close an open range/compare menu after a choice, and with Escape
  document.addEventListener("keydown", function (e) {
    if (e.key !== "Escape") return;
    document.querySelectorAll("details.menu[open]").forEach(function (d) { d.open = false; d.querySelector("summary").focus(); });
  });
})();
