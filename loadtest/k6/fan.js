// fan: a browser's journey — the protected page, a live status stream until admitted
// (SSE through xk6-sse, or WebSocket with STREAM=ws), seat map, hold, confirm, leave.
//   ./k6 run -e BASE_URL=http://127.0.0.1:8080 loadtest/k6/fan.js   (a k6 built with xk6-sse)
import http from 'k6/http';
import sse from 'k6/x/sse';
import { WebSocket } from 'k6/websockets';
import {
  BASE, ROOM, PAGE, WAIT_LIMIT_MS, arrival, thresholds, expected, headers, positionGap,
  recordJoin, recordAdmitted, buy, leave,
} from './lib.js';

export { handleSummary } from './lib.js';

export const options = {
  scenarios: { fan: arrival(Number(__ENV.PEAK || '20')) },
  thresholds: Object.assign({ anteroom_time_to_admit: ['p(95)<120000'] }, thresholds),
};

const STREAM = __ENV.STREAM || 'sse';

// One status object from the stream; returns true when waiting is over.
function onStatus(who, join, last, status) {
  if (status.position !== null && status.position !== last.position) {
    positionGap.add(Date.now() - last.at);
    last.position = status.position;
    last.at = Date.now();
  }
  if (status.state === 'admitted') {
    who.pass = status.pass;
    who.admitted = true;
    recordAdmitted(join);
    return true;
  }
  return status.state === 'sold_out' || status.state === 'closed' || Date.now() - join.at > WAIT_LIMIT_MS;
}

function waitBySse(who, join) {
  const last = { position: null, at: Date.now() };
  sse.open(`${BASE}/_anteroom/events?room=${ROOM}`, { headers: headers(who), tags: { step: 'stream' } }, (client) => {
    client.on('event', (event) => {
      if (event.name === 'status' && onStatus(who, join, last, JSON.parse(event.data))) client.close();
    });
    client.on('error', () => client.close());
  });
}

function waitByWebSocket(who, join) {
  const last = { position: null, at: Date.now() };
  const url = `${BASE.replace(/^http/, 'ws')}/_anteroom/ws?room=${ROOM}`;
  const ws = new WebSocket(url, null, { headers: headers(who), tags: { step: 'stream' } });
  ws.onmessage = (message) => {
    if (!onStatus(who, join, last, JSON.parse(message.data))) return;
    ws.close();
    if (who.admitted) {
      buy(who);
      leave(who);
    }
  };
  ws.onerror = () => ws.close();
}

export default function () {
  const who = {};
  // As a browser: the waiting page (HTML); the visitor id arrives as a cookie k6 keeps.
  const page = http.get(`${BASE}${PAGE}`, { tags: { step: 'join' }, responseCallback: expected });
  if (page.status === 410 || page.status === 503) return;
  if (page.headers['X-Anteroom-Pass']) {
    who.pass = page.headers['X-Anteroom-Pass'];
  } else {
    // The waiting page's status call gives the id (a browser keeps it as a cookie).
    const status = http.get(`${BASE}/_anteroom/status?room=${ROOM}`, {
      headers: headers(who), tags: { step: 'status' }, responseCallback: expected,
    }).json();
    who.visitor = status.visitor;
    const join = recordJoin(status);
    if (status.state === 'admitted') {
      who.pass = status.pass;
      recordAdmitted(join);
    } else if (STREAM === 'ws') {
      waitByWebSocket(who, join);
      return; // k6/websockets runs on the VU's event loop: the handler buys once admitted
    } else {
      waitBySse(who, join);
    }
    if (!who.pass) return;
  }
  buy(who);
  leave(who);
}
