// Live updates: /api/stream (Server-Sent Events, session cookie) -> the shell's live-event store.
// The connection indicator says live / polling / offline; while the stream is down the shell's
// dcc.Interval polls instead. Reconnects resume after the last event seen (Last-Event-ID).
(function () {
  "use strict";
  var STORE = "shell-live-event", STATUS = "shell-live-status", WRAP = "shell-live-status-wrap",
      POLL = "shell-poll";
  var source = null, state = "connecting", shown = null, lastId = "", pending = null, lastFlush = 0,
      queued = null, retryTimer = null;

  function ready() {
    return !!(document.getElementById(STATUS) && window.dash_clientside && window.dash_clientside.set_props);
  }
  function paint() {
    if (!ready() || shown === state) { return; }
    shown = state;
    var sp = window.dash_clientside.set_props;
    sp(STATUS, {children: state});
    sp(WRAP, {className: "live-indicator small me-3 state-" + state});
    sp(POLL, {disabled: state === "live"});
  }
  function setState(next) { state = next; paint(); }
  function flush() {
    pending = null;
    if (!queued) { return; }
    if (!ready()) { pending = setTimeout(flush, 200); return; }
    lastFlush = Date.now();
    var data = queued; queued = null;
    window.dash_clientside.set_props(STORE, {data: data});
  }
  function onEvent(e) {
    var data;
    try { data = JSON.parse(e.data); } catch (err) { return; }
    if (!data || typeof data !== "object") { return; }
    if (e.lastEventId) { lastId = e.lastEventId; }
    data._id = e.lastEventId; data._type = e.type;
    queued = data;
    // At most one refresh every 300 ms, whatever the event rate; the last event wins.
    if (pending) { return; }
    var wait = 300 - (Date.now() - lastFlush);
    pending = setTimeout(flush, wait > 0 ? wait : 0);
  }
  function checkServer() {
    fetch("/api/health", {credentials: "same-origin", cache: "no-store"})
      .then(function (r) { if (state !== "live") { setState(r.ok ? "polling" : "offline"); } })
      .catch(function () { setState("offline"); });
  }
  function connect() {
    clearTimeout(retryTimer);
    if (!window.EventSource) { setState("polling"); return; }
    var url = "/api/stream" + (lastId ? "?lastEventId=" + encodeURIComponent(lastId) : "");
    source = new EventSource(url, {withCredentials: true});
    source.onopen = function () { setState("live"); };
    source.onerror = function () {
      if (!navigator.onLine) { setState("offline"); }
      else { setState("polling"); checkServer(); }
      if (source.readyState === EventSource.CLOSED) {
        // The browser gave up (an error answer): try again a little later, resuming after lastId.
        retryTimer = setTimeout(connect, 5000);
      }
    };
    source.addEventListener("execution", onEvent);
    source.addEventListener("job:trigger", onEvent);
    source.addEventListener("job:state", onEvent);
    source.addEventListener("batch:progress", onEvent);
  }
  window.addEventListener("offline", function () { setState("offline"); });
  window.addEventListener("online", function () { if (!source || source.readyState !== 1) { connect(); } });
  window.addEventListener("beforeunload", function () { if (source) { source.close(); } });
  // Dash renders the navbar after this script runs: paint the state once it is there.
  var tries = 0, timer = setInterval(function () {
    if (ready()) { paint(); if (shown === state && state !== "connecting") { clearInterval(timer); } }
    if (++tries > 120) { clearInterval(timer); }
  }, 250);
  window.chronosLive = {state: function () { return state; }};
  connect();
})();
