// app: the fan's journey in JSON mode — a 429 with the status object, polling
// /_anteroom/status at its Retry-After, the visitor id and pass as X-Anteroom-* headers.
//   k6 run -e BASE_URL=http://127.0.0.1:8080 loadtest/k6/app.js
import http from 'k6/http';
import { sleep } from 'k6';
import {
  BASE, ROOM, PAGE, WAIT_LIMIT_MS, arrival, thresholds, expected, headers,
  recordJoin, recordAdmitted, buy, leave,
} from './lib.js';

export { handleSummary } from './lib.js';

export const options = {
  scenarios: { app: arrival(Number(__ENV.PEAK || '20')) },
  thresholds,
};

export default function () {
  const who = {};
  const page = http.get(`${BASE}${PAGE}`, { headers: headers(who), tags: { step: 'join' }, responseCallback: expected });
  if (page.status === 410) return;
  const pass = page.headers['X-Anteroom-Pass'];
  if (pass) {
    who.pass = pass;
  } else {
    const status = page.json();
    who.visitor = status.visitor;
    const join = recordJoin(status);
    let retry = Number(page.headers['Retry-After'] || '1');
    for (;;) {
      if (Date.now() - join.at > WAIT_LIMIT_MS) return;
      sleep(Math.min(Math.max(retry, 0.5), 5));
      const poll = http.get(`${BASE}/_anteroom/status?room=${ROOM}`, {
        headers: headers(who), tags: { step: 'status' }, responseCallback: expected,
      });
      const s = poll.json();
      if (s.state === 'admitted') { who.pass = s.pass; recordAdmitted(join); break; }
      if (s.state === 'sold_out' || s.state === 'closed') return;
      retry = Number(poll.headers['Retry-After'] || '1');
    }
  }
  buy(who);
  leave(who);
}
