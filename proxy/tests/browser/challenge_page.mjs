// Drives headless Chromium through the waiting page's proof-of-work step for
// proxy/tests/browser.rs. MODE (env) picks the run; each prints one
// `RESULT <json>` line on success and exits non-zero with the reason on failure.
//
// - `fake`: the gateway's real waiting page, with the challenge endpoints and the status
//   stream served by the browser itself from CHALLENGE (issued by the Rust side): the page must
//   fetch the challenge, solve it in a Worker, show its progress, post nonces and the client
//   fingerprint, show the place the POST answered (11), then follow the stream again (12);
//   once with Workers, once with `new Worker` refused (the page solves in slices itself).
// - `real`: a room with `challenge = "always"`: the page solves the gateway's challenge, takes
//   a place and is admitted to the page it asked for, by itself.
import { env, landing, launch } from './chromium.mjs';

const base = env('GATEWAY_URL');
const target = env('TARGET');
const mode = env('MODE');
const limit = (ms, what) => new Promise((_, reject) => setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms));

const browser = await launch();

// Records what the page does with the challenge: requests to the challenge endpoint (method,
// body, answer) and every text the progress line shows.
async function watch(page, result) {
  result.challengeCalls = [];
  result.checks = [];
  page.on('requestfinished', async (request) => {
    if (!request.url().includes('/_anteroom/challenge')) { return; }
    const response = await request.response();
    result.challengeCalls.push({
      method: request.method(),
      body: request.postData(),
      status: response ? response.status() : null,
      answer: response ? await response.text().catch(() => null) : null,
    });
  });
  result.positions = [];
  await page.exposeBinding('reportCheck', (_, text) => { if (text) { result.checks.push(text); } });
  await page.exposeBinding('reportPosition', (_, text) => { if (text) { result.positions.push(text); } });
  await page.addInitScript(() => {
    document.addEventListener('DOMContentLoaded', () => {
      const follow = (name, report) => {
        const node = document.querySelector(`[data-anteroom="${name}"]`);
        if (!node) { return; }
        new MutationObserver(() => report(node.textContent.trim()))
          .observe(node, { childList: true, characterData: true, subtree: true });
      };
      follow('check', window.reportCheck);
      follow('position', window.reportPosition);
    });
  });
}

// `workers`: false makes `new Worker` throw, as a strict Content-Security-Policy does.
async function fake(workers) {
  const challenge = env('CHALLENGE');
  const context = await browser.newContext();
  const page = await context.newPage();
  const result = {};
  await watch(page, result);
  await page.addInitScript((allowed) => {
    const Real = window.Worker;
    window.workersStarted = 0;
    window.Worker = function (url) {
      window.workersStarted++;
      if (!allowed) { throw new DOMException('refused by the test', 'SecurityError'); }
      return new Real(url);
    };
  }, workers);
  let solved = false;
  const status = (extra) => JSON.stringify({
    room: 'tour', state: 'waiting', position: null, waiting: 40, admit_per_second: 1.0,
    eta_seconds: null, message: null, challenge: null, ...extra,
  });
  // The stream asks for a proof of work until one is posted; then it tells the place.
  await page.route('**/_anteroom/events?*', (route) => route.fulfill({
    status: 200, contentType: 'text/event-stream',
    body: `retry: 60000\nevent: status\nid: 1\ndata: ${solved
      ? status({ position: 12, eta_seconds: { low: 100, high: 250 } })
      : status({ challenge: { url: '/_anteroom/challenge?room=tour', difficulty: 2 } })}\n\n`,
  }));
  await page.route('**/_anteroom/challenge?*', (route) => {
    const request = route.request();
    if (request.method() === 'GET') {
      return route.fulfill({
        status: 200, contentType: 'application/json',
        body: JSON.stringify({ challenge, difficulty: 2, sub_puzzles: 16, bits: 12, expires_at: 0 }),
      });
    }
    const body = request.postDataJSON() || {};
    if (!body.challenge) { return route.fulfill({ status: 200, contentType: 'application/json', body: status({}) }); }
    solved = true;
    return route.fulfill({ status: 200, contentType: 'application/json', body: status({ position: 11 }) });
  });
  await page.goto(base + target);
  await Promise.race([
    page.waitForFunction(() => document.querySelector('[data-anteroom="position"]').textContent.trim() === '12', null, { timeout: 20000 }),
    limit(21000, 'no position after the challenge'),
  ]);
  result.position = (await page.textContent('[data-anteroom="position"]')).trim();
  result.challengeAttribute = await page.evaluate(() => document.documentElement.dataset.challenge || null);
  result.checkRole = await page.getAttribute('[data-anteroom="check"]', 'role');
  result.workersStarted = await page.evaluate(() => window.workersStarted);
  await context.close();
  return result;
}

async function real() {
  const url = base + target;
  const context = await browser.newContext();
  const page = await context.newPage();
  const result = { requests: [] };
  await watch(page, result);
  page.on('request', (request) => result.requests.push(request.url()));
  const landed = landing(page, url, result);
  await page.goto(url);
  result.origin = await Promise.race([landed, limit(40000, 'never reached the origin')]).catch((e) => {
    console.error(`what the page did: ${JSON.stringify(result)}`);
    throw e;
  });
  result.firstPosition = result.waitingPages[0];
  await page.waitForLoadState('load');
  result.finalUrl = page.url();
  await context.close();
  return result;
}

try {
  const result = mode === 'fake' ? { worker: await fake(true), inPage: await fake(false) } : await real();
  console.log(`RESULT ${JSON.stringify(result)}`);
} finally {
  await browser.close();
}
process.exit(0);
