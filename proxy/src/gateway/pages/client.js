(function () {
  'use strict';
  // Live updates for the waiting page: Server-Sent Events, else a WebSocket, else polling
  // /_anteroom/status at the pace its Retry-After asks. Elements marked data-anteroom="NAME"
  // are kept current; <html data-state> follows the state and data-transport names the
  // transport in use. The pass and the visitor id are never written into the page.
  var d = document, root = d.documentElement;
  var data = JSON.parse(d.getElementById('anteroom-data').textContent);
  var text = data.text, room = data.status.room;
  var roomId = encodeURIComponent(room), statusUrl = '/_anteroom/status?room=' + roomId;
  var firstKey = 'anteroom-first-position:' + room;
  var first = 0, stream = null, timer = null, watchdog = null, backoff = 1, entering = false;
  try { first = Number(sessionStorage.getItem(firstKey)) || 0; } catch (e) { /* storage off */ }

  function fill(name, value) {
    var nodes = d.querySelectorAll('[data-anteroom="' + name + '"]');
    for (var i = 0; i < nodes.length; i++) { nodes[i].textContent = value; }
  }
  function grouped(n) { return n == null ? '' : Number(n).toLocaleString('en-US'); }
  // Mirrors wording.rs: ahead_phrase and eta_phrase.
  function ahead(p) {
    if (p == null) { return ''; }
    if (p <= 1) { return "Nobody is ahead of you: you're next."; }
    return p === 2 ? '1 person is ahead of you.' : grouped(p - 1) + ' people are ahead of you.';
  }
  function eta(e) {
    if (!e) { return ''; }
    if (e.high < 60) { return 'less than a minute'; }
    var unit = e.high >= 7200 ? 3600 : 60, name = unit === 3600 ? 'hour' : 'minute';
    var low = Math.max(1, Math.floor((e.low + unit / 2) / unit));
    var high = Math.max(low, Math.floor((e.high + unit / 2) / unit));
    return 'about ' + (low === high ? low : low + '\u2013' + high) + ' ' + name + (high === 1 ? '' : 's');
  }

  function show(s) {
    var words = text[s.state] || text.waiting;
    root.setAttribute('data-state', s.state);
    d.title = words.headline;
    fill('headline', words.headline);
    fill('detail', words.detail);
    fill('position', grouped(s.position));
    fill('ahead', ahead(s.position));
    fill('waiting', grouped(s.waiting));
    fill('eta', eta(s.eta_seconds));
    fill('message', s.message || '');
    fill('state', s.state);
    var bars = d.querySelectorAll('[data-anteroom="progress"]');
    if (s.position) {
      if (s.position > first) {
        first = s.position;
        try { sessionStorage.setItem(firstKey, String(first)); } catch (e) { /* storage off */ }
      }
    }
    for (var i = 0; i < bars.length; i++) {
      bars[i].max = first || 1;
      bars[i].value = s.state === 'admitted' ? (first || 1) : (s.position ? first - s.position : 0);
    }
    if (s.state === 'admitted') { enter(); }
  }

  function receive(kind, body) {
    var s;
    try { s = JSON.parse(body); } catch (e) { return; }
    if (!s || typeof s.state !== 'string' || entering) { return; }
    root.setAttribute('data-transport', kind);
    backoff = 1;
    show(s);
  }

  function stop() {
    clearTimeout(timer);
    clearTimeout(watchdog);
    if (stream) { var old = stream; stream = null; old.close(); }
  }

  // Admitted: one status call puts the pass in an HttpOnly cookie, then the page the visitor
  // asked for is loaded again, this time reaching the site.
  function enter() {
    if (entering) { return; }
    entering = true;
    stop();
    try { sessionStorage.removeItem(firstKey); } catch (e) { /* storage off */ }
    fetch(statusUrl, { credentials: 'same-origin', cache: 'no-store', headers: { Accept: 'application/json' } })
      .catch(function () { /* the protected URL itself admits a visitor whose turn it is */ })
      .then(function () {
        // Same URL with a #fragment would only scroll: reload instead.
        if (location.hash) { location.reload(); } else { location.replace(location.href); }
      });
  }

  // Streams speak at least every 15 s; silence past this means a dead connection.
  function guard(ms, onSilence) {
    clearTimeout(watchdog);
    watchdog = setTimeout(onSilence, ms);
  }
  function again(start) {
    stop();
    timer = setTimeout(start, backoff * 1000);
    backoff = Math.min(backoff * 2, 30);
  }

  function sse() {
    if (!window.EventSource) { return ws(); }
    var source = new EventSource('/_anteroom/events?room=' + roomId), heard = false;
    stream = source;
    guard(10000, function () { stop(); ws(); });
    source.addEventListener('status', function (e) {
      heard = true;
      guard(40000, function () { again(sse); });
      receive('sse', e.data);
    });
    source.onerror = function () {
      // CONNECTING: the browser reconnects by itself (sending Last-Event-ID). CLOSED: refused.
      if (source.readyState !== 2 || stream !== source) { return; }
      if (heard) { again(sse); } else { stop(); ws(); }
    };
  }

  function ws() {
    if (!window.WebSocket) { return poll(); }
    var socket, heard = false;
    try {
      socket = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/_anteroom/ws?room=' + roomId);
    } catch (e) { return poll(); }
    stream = socket;
    guard(10000, function () { stop(); poll(); });
    socket.onmessage = function (e) {
      heard = true;
      guard(40000, function () { again(sse); });
      receive('ws', e.data);
    };
    socket.onclose = function () {
      if (stream !== socket) { return; }
      stream = null;
      if (heard) { again(sse); } else { stop(); poll(); }
    };
  }

  function poll() {
    if (entering) { return; }
    fetch(statusUrl, { credentials: 'same-origin', cache: 'no-store', headers: { Accept: 'application/json' } })
      .then(function (r) {
        var wait = parseInt(r.headers.get('Retry-After'), 10);
        return r.text().then(function (body) { receive('poll', body); next(wait); });
      })
      .catch(function () { next(5); });
  }
  function next(seconds) {
    if (entering) { return; }
    seconds = isNaN(seconds) ? 5 : Math.min(Math.max(seconds, 1), 60);
    timer = setTimeout(poll, seconds * 1000);
  }

  show(data.status);
  if (!entering) { sse(); }
})();
