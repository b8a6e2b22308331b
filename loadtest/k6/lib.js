// Shared by fan.js, app.js and bot.js: the target, the open-model arrival, thresholds,
// per-step metrics, and a handleSummary that writes the flash-sale simulator's summary
// fields (null where a load generator cannot see the truth: order and the ledger live on
// the server — run `anteroom-loadtest flash-sale` for those).
import http from 'k6/http';
import { Counter, Rate, Trend } from 'k6/metrics';

export const BASE = __ENV.BASE_URL || 'http://127.0.0.1:8080';
export const ROOM = __ENV.ROOM || 'demo';
export const EVENT = __ENV.EVENT || 'tour-2027';
export const PAGE = __ENV.PAGE || '/';
export const SET_RATE = Number(__ENV.ADMIT_PER_SECOND || '1');
export const WAIT_LIMIT_MS = Number(__ENV.WAIT_LIMIT_SECONDS || '60') * 1000;

export const joins = new Counter('anteroom_joins');
export const admissions = new Counter('anteroom_admissions');
export const booked = new Counter('anteroom_seats_booked');
export const timeToAdmit = new Trend('anteroom_time_to_admit', true);
export const positionGap = new Trend('anteroom_position_update_gap', true);
export const holdWon = new Rate('anteroom_hold_success');
export const confirmLatency = new Trend('anteroom_confirm_latency', true);
export const etaError = new Trend('anteroom_eta_error_pct');
export const botsAdmitted = new Counter('anteroom_bots_admitted');

// Open model: visitors arrive at a rate whatever the server does (a spike, then a tail).
export function arrival(peak) {
  return {
    executor: 'ramping-arrival-rate',
    startRate: 0,
    timeUnit: '1s',
    preAllocatedVUs: Number(__ENV.VUS || '200'),
    maxVUs: Number(__ENV.MAX_VUS || '2000'),
    stages: [
      { target: peak, duration: __ENV.RAMP || '10s' },
      { target: peak, duration: __ENV.HOLD || '20s' },
      { target: 0, duration: __ENV.TAIL || '10s' },
    ],
  };
}

export const thresholds = {
  dropped_iterations: ['count<1'],
  'http_req_failed{expected:yes}': ['rate<0.01'],
  'http_req_duration{step:join}': ['p(99)<2000'],
  'http_req_duration{step:seat_map}': ['p(99)<2000'],
  'http_req_duration{step:hold}': ['p(99)<2000'],
  anteroom_confirm_latency: ['p(99)<3000'],
};

// Statuses that are the waiting room working, not failures.
export const expected = http.expectedStatuses(200, 201, 204, 409, 410, 429);

export function headers(who) {
  const h = { Accept: 'application/json' };
  if (who.visitor) h['X-Anteroom-Visitor'] = who.visitor;
  if (who.pass) h['X-Anteroom-Pass'] = who.pass;
  return h;
}

export function recordJoin(status) {
  joins.add(1);
  const eta = status && status.eta_seconds;
  return { at: Date.now(), eta: eta ? (eta.low + eta.high) / 2 : null };
}

export function recordAdmitted(join) {
  admissions.add(1);
  const waited = Date.now() - join.at;
  timeToAdmit.add(waited);
  if (join.eta !== null && join.eta > 0) {
    etaError.add((100 * Math.abs(waited / 1000 - join.eta)) / join.eta);
  }
}

// Seat map → hold a free seat → confirm with an Idempotency-Key; another seat on 409.
export function buy(who) {
  for (let attempt = 0; attempt < 5; attempt++) {
    const map = http.get(`${BASE}/v1/events/${EVENT}/seats`, {
      headers: headers(who), tags: { step: 'seat_map' }, responseCallback: expected,
    });
    const free = (map.status === 200 ? map.json() : []).filter((s) => s.state === 'free');
    if (free.length === 0) return false;
    const seat = free[Math.floor(Math.random() * free.length)].seat;
    const hold = http.post(`${BASE}/v1/events/${EVENT}/holds`, JSON.stringify({ seats: [seat] }), {
      headers: Object.assign({ 'Content-Type': 'application/json' }, headers(who)),
      tags: { step: 'hold' }, responseCallback: expected,
    });
    holdWon.add(hold.status === 201);
    if (hold.status !== 201) continue;
    const key = `k6-${__VU}-${__ITER}-${attempt}`;
    const confirm = http.post(`${BASE}/v1/bookings`, JSON.stringify({ hold_id: hold.json().hold_id }), {
      headers: Object.assign({ 'Content-Type': 'application/json', 'Idempotency-Key': key }, headers(who)),
      tags: { step: 'confirm' }, responseCallback: expected,
    });
    confirmLatency.add(confirm.timings.duration);
    if (confirm.status === 201) {
      booked.add(1);
      return true;
    }
  }
  return false;
}

export function leave(who) {
  http.post(`${BASE}/_anteroom/leave?room=${ROOM}`, null, {
    headers: headers(who), tags: { step: 'leave' }, responseCallback: expected,
  });
}

function metric(data, name, field) {
  const m = data.metrics[name];
  return m && m.values && m.values[field] !== undefined ? m.values[field] : 0;
}

// The simulator's summary fields (docs/load-testing.md), from what k6 measured.
export function summary(data) {
  const seconds = data.state.testRunDurationMs / 1000;
  const admitted = metric(data, 'anteroom_admissions', 'count');
  const measured = seconds > 0 ? admitted / seconds : 0;
  return {
    joins_per_second: seconds > 0 ? metric(data, 'anteroom_joins', 'count') / seconds : 0,
    // Over the whole run, burst and idle tails included: an upper bound on the error.
    admission_rate_error_pct: SET_RATE > 0 ? (100 * (measured - SET_RATE)) / SET_RATE : null,
    kendall_tau_distance: null,
    double_holds: null,
    double_bookings: null,
    seats_sold: metric(data, 'anteroom_seats_booked', 'count'),
    eta_error_pct: metric(data, 'anteroom_eta_error_pct', 'avg'),
    bots_admitted: metric(data, 'anteroom_bots_admitted', 'count'),
  };
}

export function handleSummary(data) {
  const out = __ENV.SUMMARY || 'k6-summary.json';
  const result = { summary: summary(data), metrics: data.metrics };
  return { [out]: JSON.stringify(result, null, 2), stdout: JSON.stringify(summary(data), null, 2) + '\n' };
}
