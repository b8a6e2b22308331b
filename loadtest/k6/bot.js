// bot: no JavaScript, one fixed fingerprint, hammering joins and holds without waiting.
//   k6 run -e BASE_URL=http://127.0.0.1:8080 loadtest/k6/bot.js
import http from 'k6/http';
import { BASE, ROOM, EVENT, PAGE, arrival, expected, botsAdmitted } from './lib.js';

export { handleSummary } from './lib.js';

const UA = 'loadtest-bot/1.0 (no javascript)';

export const options = {
  scenarios: { bot: arrival(Number(__ENV.PEAK || '100')) },
  thresholds: { dropped_iterations: ['count<1'], 'http_req_failed{expected:yes}': ['rate<0.01'] },
};

export default function () {
  const h = { Accept: 'application/json', 'User-Agent': UA };
  http.get(`${BASE}${PAGE}`, { headers: h, tags: { step: 'join' }, responseCallback: expected });
  const status = http.get(`${BASE}/_anteroom/status?room=${ROOM}`, {
    headers: h, tags: { step: 'status' }, responseCallback: expected,
  });
  if (status.status === 200 && status.json().state === 'admitted') botsAdmitted.add(1);
  http.post(`${BASE}/v1/events/${EVENT}/holds`, JSON.stringify({ seats: ['A1'] }), {
    headers: Object.assign({ 'Content-Type': 'application/json' }, h),
    tags: { step: 'hold' },
    responseCallback: http.expectedStatuses(401, 403, 409, 429),
  });
}
