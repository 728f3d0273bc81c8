// Live updates: /api/stream (Server-Sent Events) -> the shell's live-event store.
// EventSource reconnects by itself and sends Last-Event-ID; the 15 s poll keeps pages fresh when it can't.
(function () {
  var STORE = "shell-live-event", STATUS = "shell-live-status";
  var source = null, pending = null, lastFlush = 0;

  function setStatus(text) {
    var el = document.getElementById(STATUS);
    if (el) { el.textContent = text; el.parentNode.setAttribute("data-state", text); }
  }
  function flush(data) {
    pending = null; lastFlush = Date.now();
    if (window.dash_clientside && window.dash_clientside.set_props) {
      window.dash_clientside.set_props(STORE, {data: data});
    }
  }
  function onEvent(e) {
    var data;
    try { data = JSON.parse(e.data); } catch (err) { return; }
    data._id = e.lastEventId; data._type = e.type;
    // At most a refresh every 500 ms, whatever the event rate.
    var wait = 500 - (Date.now() - lastFlush);
    if (wait <= 0) { flush(data); }
    else { if (pending) clearTimeout(pending); pending = setTimeout(function () { flush(data); }, wait); }
  }
  function connect() {
    if (!window.EventSource || window.location.pathname === "/login") { setStatus("polling"); return; }
    source = new EventSource("/api/stream");
    source.onopen = function () { setStatus("live"); };
    source.onerror = function () {
      setStatus(source.readyState === EventSource.CLOSED ? "offline" : "polling");
      if (source.readyState === EventSource.CLOSED) { setTimeout(connect, 5000); }
    };
    source.addEventListener("execution", onEvent);
    source.addEventListener("job:trigger", onEvent);
  }
  window.addEventListener("offline", function () { setStatus("offline"); });
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", connect); }
  else { connect(); }
  // The navbar is rendered by Dash after load: repaint the status once it exists.
  var tries = 0, timer = setInterval(function () {
    var el = document.getElementById(STATUS);
    if (el && source) { setStatus(source.readyState === 1 ? "live" : "polling"); clearInterval(timer); }
    if (++tries > 40) clearInterval(timer);
  }, 250);
})();
