// Drives headless Chromium through the waiting page for proxy/tests/browser.rs.
// Talks to the Rust side over stdio: prints `WAITING <run> <position>` once the page shows a
// place (the Rust side then lets the line move), `RESULT <run> <json>` when the run is over,
// and reads `go` before the next run. Any failure exits non-zero with the reason.
import path from 'node:path';
import readline from 'node:readline';
import { env, landing, launch } from './chromium.mjs';

const base = env('GATEWAY_URL');
const artifacts = env('ARTIFACTS');
const stdin = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const say = (...parts) => console.log(parts.join(' '));

const browser = await launch();

async function run(name, target, javaScriptEnabled) {
  const url = base + target;
  const context = await browser.newContext({ javaScriptEnabled, viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const result = { target, requests: [], positions: [], transports: [] };
  page.on('request', (request) => result.requests.push(request.url()));
  const landed = landing(page, url, result);
  // Positions as the live page changes them, reported from inside the page.
  await page.exposeBinding('reportPosition', (_, position, transport) => {
    result.positions.push(position);
    if (transport && !result.transports.includes(transport)) { result.transports.push(transport); }
  });

  await page.goto(url);
  const first = (await page.textContent('[data-anteroom="position"]')).trim();
  if (!first) { throw new Error(`${name}: the waiting page shows no position`); }
  result.firstPosition = first;
  result.firstEta = (await page.textContent('[data-anteroom="eta"]')).trim();
  result.ahead = (await page.textContent('[data-anteroom="ahead"]')).trim();
  result.progress = await page.getAttribute('progress', 'value');
  result.message = await page.textContent('[data-anteroom="message"]');
  if (javaScriptEnabled) {
    await page.waitForFunction(() => document.documentElement.dataset.transport, null, { timeout: 10000 });
    await page.evaluate(() => {
      const node = document.querySelector('[data-anteroom="position"]');
      const report = () => window.reportPosition(node.textContent, document.documentElement.dataset.transport);
      new MutationObserver(report).observe(node, { childList: true, characterData: true, subtree: true });
      report();
    });
  }
  for (const width of [1280, 320]) {
    await page.setViewportSize({ width, height: width === 320 ? 640 : 800 });
    const file = path.join(artifacts, `waiting-${name}-${width}.png`);
    await page.screenshot({ path: file, fullPage: true });
    result[`scrollWidth${width}`] = await page.evaluate(() => document.documentElement.scrollWidth);
  }
  say('WAITING', name, first);
  const origin = await Promise.race([
    landed,
    new Promise((_, reject) => setTimeout(() => reject(new Error(`${name}: never reached the origin`)), 20000)),
  ]);
  await page.waitForLoadState('load');
  result.origin = origin;
  result.finalUrl = page.url();
  result.finalBody = await page.textContent('body');
  await page.screenshot({ path: path.join(artifacts, `landed-${name}.png`) });
  await context.close();
  say('RESULT', name, JSON.stringify(result));
}

// The page on each stream transport, served here by the browser itself (the gateway's own
// streams may not be in yet): it must pick SSE when SSE answers, WebSocket when only that
// answers, show what they say, and never write the pass or visitor id into the page.
async function transports(target) {
  const fake = (position) => JSON.stringify({
    room: 'tour', visitor: 'VISITOR-ID-NOT-FOR-THE-PAGE', state: 'waiting', position, waiting: 90,
    admit_per_second: 1.0, eta_seconds: { low: 100, high: 250 }, message: null, pass: 'v1.k1.PASS-NOT-FOR-THE-PAGE.x',
  });
  const result = {};
  for (const kind of ['sse', 'ws']) {
    const context = await browser.newContext();
    const page = await context.newPage();
    if (kind === 'sse') {
      await page.route('**/_anteroom/events?*', (route) => route.fulfill({
        status: 200, contentType: 'text/event-stream',
        body: `retry: 60000\nevent: status\nid: 1\ndata: ${fake(77)}\n\n`,
      }));
    } else {
      await page.route('**/_anteroom/events?*', (route) => route.fulfill({ status: 501, body: '' }));
      await page.routeWebSocket('**/_anteroom/ws?*', (socket) => { socket.send(fake(66)); });
    }
    await page.goto(base + target);
    await page.waitForFunction((want) => document.documentElement.dataset.transport === want, kind, { timeout: 10000 });
    result[kind] = {
      transport: await page.evaluate(() => document.documentElement.dataset.transport),
      position: (await page.textContent('[data-anteroom="position"]')).trim(),
      eta: (await page.textContent('[data-anteroom="eta"]')).trim(),
      leaked: /NOT-FOR-THE-PAGE/.test(await page.content()),
    };
    await context.close();
  }
  say('RESULT', 'transports', JSON.stringify(result));
}

try {
  await run('js', env('TARGET_JS'), true);
  if ((await stdin.next()).value !== 'go') { throw new Error('no go for the second run'); }
  await run('nojs', env('TARGET_NOJS'), false);
  await transports(env('TARGET_JS'));
} finally {
  await browser.close();
}
process.exit(0);
