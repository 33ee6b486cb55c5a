// Live pages: the region marked data-live (core/live.py) is refreshed by htmx every few seconds. This script
// keeps the status line honest: "updated HH:MM:SS UTC" after each refresh that answered with the region,
// and "not updated since HH:MM:SS UTC" as soon as a refresh fails (server unreachable, an error status, a
// timeout, an answer that is not the region, e.g. the login page) or none has succeeded for three periods.
// While a dialog is open the refresh waits (an operator confirming a change keeps what they read); it
// refreshes at once when the dialog closes and when the tab becomes visible again.
(function () {
  "use strict";

  function clock(iso) {
    var d = new Date(iso);
    if (isNaN(d.getTime())) { return iso; }
    return d.toISOString().slice(11, 19) + " UTC";
  }

  function dialogOpen() { return document.querySelector("dialog[open]") !== null; }

  var state = {region: null, status: null, text: null, lastAt: null, lastOk: Date.now(), period: 5000,
               stalled: false};

  function show(kind, message) {
    if (!state.status) { return; }
    state.status.classList.toggle("stalled", kind === "stalled");
    state.status.classList.toggle("paused", kind === "paused");
    state.status.dataset.liveState = kind;
    state.text.textContent = message;
  }

  function updated(iso) {
    state.lastAt = iso;
    state.lastOk = Date.now();
    state.stalled = false;
    state.status.dataset.liveAt = iso;
    var time = document.createElement("time");
    time.dateTime = iso;
    time.textContent = clock(iso);
    show("ok", "");
    state.text.append("Live: updated ", time, ", every " + state.period / 1000 + " s");
  }

  function stalled(why) {
    state.stalled = true;
    show("stalled", "Not updated since " + clock(state.lastAt) + ": " + why + ". Retrying every "
      + state.period / 1000 + " s; the figures below may be out of date.");
  }

  window.torghutLive = {
    mayRefresh: function () { return !dialogOpen(); },
  };

  function setUp() {
    state.region = document.querySelector("[data-live]");
    state.status = document.querySelector("[data-live-status]");
    if (!state.region || !state.status || !window.htmx) { return; }
    state.text = state.status.querySelector("[data-live-text]");
    state.lastAt = state.status.dataset.liveAt;
    state.period = (parseFloat(state.region.dataset.liveSeconds) || 5) * 1000;

    state.region.addEventListener("htmx:beforeSwap", function (event) {
      var body = event.detail.serverResponse || "";
      if (event.detail.xhr.status === 200 && body.indexOf("data-live-at=") === -1) {
        event.detail.shouldSwap = false;  // not the region: the session ended (login page) or a proxy's page
        stalled("the server answered with another page (signed out?); reload the page");
      }
    });
    state.region.addEventListener("htmx:afterSwap", function () {
      var marker = state.region.querySelector("[data-live-at]");
      if (marker) {
        updated(marker.getAttribute("data-live-at"));
        marker.remove();
      }
    });
    state.region.addEventListener("htmx:responseError", function (event) {
      stalled("the server answered " + event.detail.xhr.status);
    });
    state.region.addEventListener("htmx:sendError", function () { stalled("the server is unreachable"); });
    state.region.addEventListener("htmx:timeout", function () { stalled("the server did not answer in time"); });

    document.addEventListener("close", function (event) {
      if (event.target.tagName === "DIALOG") { window.htmx.trigger(state.region, "live:refresh"); }
    }, true);
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible") {
        state.lastOk = Math.max(state.lastOk, Date.now() - state.period);
        window.htmx.trigger(state.region, "live:refresh");
      }
    });
    // A refresh that never comes back (or a timer the browser throttled) is a stall too.
    window.setInterval(function () {
      if (dialogOpen()) {
        state.lastOk = Date.now();
        if (!state.stalled) { show("paused", "Live refresh paused while the dialog is open (last update "
          + clock(state.lastAt) + ")."); }
        return;
      }
      if (state.status.dataset.liveState === "paused") { updated(state.lastAt); }
      if (!state.stalled && document.visibilityState === "visible" && Date.now() - state.lastOk > 3 * state.period) {
        stalled("no answer for " + Math.round((Date.now() - state.lastOk) / 1000) + " s");
      }
    }, 1000);
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", setUp); } else { setUp(); }
})();
