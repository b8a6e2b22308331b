(function () {
  'use strict';
  // Live updates for the waiting page: Server-Sent Events, else a WebSocket, else polling
  // /_anteroom/status at the pace its Retry-After asks. Elements marked data-anteroom="NAME"
  // are kept current; <html data-state> follows the state and data-transport names the
  // transport in use. The pass and the visitor id are never written into the page.
  // A status with a `challenge` (the bot guard asks for a proof of work before a place) is
  // solved in a Web Worker first, then posted with the client fingerprint (challenge()).
  var d = document, root = d.documentElement;
  var data = JSON.parse(d.getElementById('anteroom-data').textContent);
  var text = data.text, room = data.status.room;
  var roomId = encodeURIComponent(room), statusUrl = '/_anteroom/status?room=' + roomId;
  var challengeUrl = '/_anteroom/challenge?room=' + roomId;
  var firstKey = 'anteroom-first-position:' + room, reportedKey = 'anteroom-fingerprint:' + room;
  var first = 0, stream = null, timer = null, watchdog = null, backoff = 1, entering = false;
  var solving = false, tries = 0;
  try { first = Number(sessionStorage.getItem(firstKey)) || 0; } catch (e) { /* storage off */ }

  function fill(name, value) {
    var nodes = d.querySelectorAll('[data-anteroom="' + name + '"]');
    for (var i = 0; i < nodes.length; i++) { nodes[i].textContent = value; }
  }
  // The waitlist link: a sold-out status with `waitlist` fills it, any other empties it (and
  // the page's CSS hides an empty one).
  function waitlist(s) {
    var join = s.state === 'sold_out' && s.waitlist && s.waitlist.join ? String(s.waitlist.join) : '';
    var boxes = d.querySelectorAll('[data-anteroom="waitlist"]');
    for (var i = 0; i < boxes.length; i++) { boxes[i].setAttribute('data-join', join); }
    var links = d.querySelectorAll('[data-anteroom="waitlist-join"]');
    for (var j = 0; j < links.length; j++) {
      if (join) { links[j].setAttribute('href', join); } else { links[j].removeAttribute('href'); }
    }
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
    if (s.challenge && s.state === 'waiting') { challenge(s.challenge); return; }
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
    waitlist(s);
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
    if (!s || typeof s.state !== 'string' || entering || solving) { return; }
    if (kind) { root.setAttribute('data-transport', kind); }
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

  // What the browser says about itself, as bot-guard's client_fp.rs reads it (camelCase,
  // every field optional, sizes within its bounds so one odd value cannot void the report).
  function fingerprint() {
    var n = navigator, s = window.screen || {}, fp = {};
    var count = function (v) { return typeof v === 'number' && v >= 0 && v < 4294967296 ? Math.floor(v) : undefined; };
    var short = function (v) { return typeof v === 'string' ? v.slice(0, 64) : undefined; };
    if (typeof n.webdriver === 'boolean') { fp.webdriver = n.webdriver; }
    try { fp.timezone = short(Intl.DateTimeFormat().resolvedOptions().timeZone); } catch (e) { /* no Intl */ }
    if (n.languages) {
      fp.languages = Array.prototype.slice.call(n.languages, 0, 16).map(function (l) { return String(l).slice(0, 35); });
    }
    fp.screenWidth = count(s.width);
    fp.screenHeight = count(s.height);
    fp.hardwareConcurrency = count(n.hardwareConcurrency);
    if (typeof n.deviceMemory === 'number' && isFinite(n.deviceMemory)) { fp.deviceMemory = n.deviceMemory; }
    fp.touchPoints = count(n.maxTouchPoints);
    fp.platform = short(n.platform);
    fp.plugins = n.plugins ? count(n.plugins.length) : undefined;
    return fp;
  }

  function post(body) {
    return fetch(challengeUrl, {
      method: 'POST', credentials: 'same-origin', cache: 'no-store',
      headers: { Accept: 'application/json', 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
  }

  function checking(percent) {
    if (percent == null) { root.removeAttribute('data-challenge'); fill('check', ''); return; }
    root.setAttribute('data-challenge', 'solving');
    d.title = text.checking.headline;
    fill('headline', text.checking.headline);
    fill('detail', text.checking.detail);
    fill('position', '');
    fill('ahead', '');
    fill('eta', '');
    fill('check', 'Checking your browser\u2026 ' + percent + '%');
  }

  // The challenge's own payload says what to solve: {id, n, bits} (base64url JSON).
  function puzzle(challengeText) {
    var part = String(challengeText).split('.')[1] || '';
    var b64 = part.replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(b64 + '==='.slice((b64.length + 3) % 4)));
  }

  // The nonces ("n0,n1,...") of a challenge: in a Worker built from the solver's own script
  // in this page, or, where Workers are refused (old browsers, a strict CSP), in this page in
  // slices that leave it responsive.
  function solve(p) {
    return new Promise(function (resolve, reject) {
      var worker = null, source = d.getElementById('anteroom-pow');
      function inPage() {
        if (!window.anteroomPow) { reject(new Error('no solver')); return; }
        var solver = window.anteroomPow.solver(p.id, p.n, p.bits);
        (function slice() {
          if (solver.step(20000)) { resolve(solver.nonces()); return; }
          checking(Math.floor(100 * solver.solved / p.n));
          setTimeout(slice, 0);
        })();
      }
      try {
        worker = new Worker(URL.createObjectURL(new Blob([source.textContent], { type: 'text/javascript' })));
      } catch (e) { inPage(); return; }
      worker.onmessage = function (e) {
        var m = e.data || {};
        if (m.done) { worker.terminate(); resolve(m.nonces); } else if (m.error) { worker.terminate(); reject(new Error(m.error)); } else { checking(Math.floor(100 * m.solved / m.n)); }
      };
      worker.onerror = function (e) { if (e && e.preventDefault) { e.preventDefault(); } worker.terminate(); inPage(); };
      worker.postMessage({ id: p.id, n: p.n, bits: p.bits });
    });
  }

  // Fetch a challenge, solve it, post the solution with the fingerprint: the answer is the
  // status (a place now). A refused or stale challenge is replaced by a fresh one, with a
  // growing pause; live updates resume once the guard is satisfied.
  function challenge(info) {
    if (solving || entering) { return; }
    solving = true;
    stop();
    checking(0);
    // The level the status asked for: priced with this page's fingerprint, it may be above
    // what the request headers alone would price (the gateway never issues below its own).
    var url = (info.url || challengeUrl) + (info.difficulty ? '&difficulty=' + encodeURIComponent(info.difficulty) : '');
    fetch(url, { credentials: 'same-origin', cache: 'no-store', headers: { Accept: 'application/json' } })
      .then(function (r) { if (!r.ok) { throw new Error('challenge ' + r.status); } return r.json(); })
      .then(function (c) {
        return solve(puzzle(c.challenge)).then(function (nonces) {
          checking(100);
          return post({ challenge: c.challenge, nonces: nonces, fingerprint: fingerprint() });
        });
      })
      .then(function (r) {
        return r.text().then(function (body) {
          solving = false;
          if (r.status === 409) { live(); return; }
          if (!r.ok) { throw new Error('solution ' + r.status); }
          tries = 0;
          try { sessionStorage.setItem(reportedKey, '1'); } catch (e) { /* storage off */ }
          checking(null);
          receive(null, body);
          if (!solving) { live(); }
        });
      })
      .catch(function () {
        solving = false;
        tries = Math.min(tries + 1, 5);
        timer = setTimeout(function () { challenge(info); }, 1000 * Math.pow(2, tries - 1));
      });
  }

  // The client fingerprint, once per tab and room, for a visitor the guard let straight in:
  // the answer is the status, which may ask for a challenge after all.
  function report() {
    try { if (sessionStorage.getItem(reportedKey)) { return; } sessionStorage.setItem(reportedKey, '1'); } catch (e) { return; }
    post({ fingerprint: fingerprint() })
      .then(function (r) { return r.ok ? r.text().then(function (body) { receive(null, body); }) : null; })
      .catch(function () { /* the report is a hint, not a step */ });
  }

  function live() {
    if (entering || solving) { return; }
    sse();
    if (data.status.state === 'waiting' || data.status.state === 'prequeue') { report(); }
  }

  show(data.status);
  live();
})();
