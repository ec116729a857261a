/* Trail dashboard: refresh the visible widgets (over HTTP, with the page's filters) when a live frame arrives.
   The frame itself swaps #widget-current by id (htmx ws extension); everything else is re-requested here, at most
   once per data-live-interval ms. No frame is expected on non-live ranges: there is no socket then.
   A refresh must never get in the viewer's way, so its answer is not swapped in when
   - it is the widget's current content (no DOM churn: hover, selection and focus stay),
   - its widget has left the page (a boosted navigation replaced it),
   - a pointer is pressed (a swap between press and release would swallow the click), or a request the viewer
     started is in flight (swapping out the link or tab that sent it would lose its answer's URL push or its
     target): it is asked again once the pointer is released and those requests have ended, unless the page
     was navigated away meanwhile.
   When a changed widget is swapped, the link or button that had the focus in it gets it back. */
(function () {
  "use strict";
  htmx.config.scrollIntoViewOnBoost = false;
  htmx.config.wsReconnectDelay = function (n) { return Math.min(5000, 500 * Math.pow(2, n)) * (0.5 + Math.random() / 2); };
  var body = document.body, timer = null, last = 0, skipNext = false;
  var shown = {};          // widget id -> the HTML last swapped into it
  var pressed = false, asked = 0, deferred = false, refocus = null;
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

  function isRefresh(detail) {
    var cause = detail.requestConfig && detail.requestConfig.triggeringEvent;
    return !!cause && cause.type === "live-refresh";
  }
  function focusKey(el) {
    if (el.hasAttribute("href")) return "[href=\"" + CSS.escape(el.getAttribute("href")) + "\"]";
    if (el.dataset.tab) return "[data-tab=\"" + CSS.escape(el.dataset.tab) + "\"]";
    return null;
  }
  body.addEventListener("htmx:beforeSwap", function (e) {
    var d = e.detail, target = d.target, id = target && target.id;
    if (target === body) { shown = {}; deferred = false; return; }  // a boosted navigation: every widget is new
    if (!id || id.indexOf("widget-") !== 0 || !d.shouldSwap) return;
    if (isRefresh(d)) {
      if (!body.contains(target) || shown[id] === d.serverResponse) { d.shouldSwap = false; return; }
      if (pressed || asked) { d.shouldSwap = false; deferred = true; return; }
    }
    shown[id] = d.serverResponse;
    var active = document.activeElement;
    refocus = active && active !== body && target.contains(active) ? { id: id, key: focusKey(active) } : null;
  });
  body.addEventListener("htmx:afterSwap", function () {
    if (!refocus) return;
    var r = refocus, root = document.getElementById(r.id);
    refocus = null;
    var el = root && r.key && root.querySelector(r.key);
    if (el) el.focus({ preventScroll: true });
  });
  function askAgain() {
    if (pressed || asked || !deferred) return;
    deferred = false;
    setTimeout(refresh, 0);  // after the click that a release completes
  }
  // the viewer's own requests (navigations, tabs, first loads), counted until their XHR ends however it ends
  body.addEventListener("htmx:beforeSend", function (e) {
    if (isRefresh(e.detail)) return;
    asked++;
    e.detail.xhr.addEventListener("loadend", function () { asked--; askAgain(); });
  });
  function release() { pressed = false; askAgain(); }
  document.addEventListener("pointerdown", function () { pressed = true; }, true);
  document.addEventListener("pointerup", release, true);
  document.addEventListener("pointercancel", release, true);

  // close an open range/compare menu after a choice, and with Escape
  document.addEventListener("keydown", function (e) {
    if (e.key !== "Escape") return;
    document.querySelectorAll("details.menu[open]").forEach(function (d) { d.open = false; d.querySelector("summary").focus(); });
  });
})();
