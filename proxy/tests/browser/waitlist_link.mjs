// The sold-out page's waitlist link, live, for proxy/tests/browser.rs. Opens TARGET, waits for
// the live transport and prints `READY <json>` (what the page shows while waiting); the Rust
// side then marks the room sold out. Once the page says so without a reload, prints
// `SOLD <json>` (the link as shown), follows the link and prints `RESULT <json>`.
// Any failure exits non-zero with the reason.
import path from 'node:path';
import { env, launch } from './chromium.mjs';

const base = env('GATEWAY_URL');
const artifacts = env('ARTIFACTS');
const say = (...parts) => console.log(parts.join(' '));

// What the page shows of its state and of the waitlist link.
const shown = (page) => page.evaluate(() => {
  const box = document.querySelector('[data-anteroom="waitlist"]');
  const link = document.querySelector('[data-anteroom="waitlist-join"]');
  return {
    state: document.documentElement.dataset.state,
    transport: document.documentElement.dataset.transport,
    headline: document.querySelector('[data-anteroom="headline"]').textContent,
    join: box.getAttribute('data-join'),
    href: link.getAttribute('href'),
    visible: !!(link.offsetWidth || link.offsetHeight),
    text: link.textContent,
  };
});

const browser = await launch();
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  let loads = 0;
  page.on('framenavigated', (frame) => { if (frame === page.mainFrame()) { loads += 1; } });
  await page.goto(base + env('TARGET'));
  await page.waitForFunction(() => document.documentElement.dataset.transport, null, { timeout: 10000 });
  say('READY', JSON.stringify(await shown(page)));

  await page.waitForFunction(() => document.documentElement.dataset.state === 'sold_out', null, { timeout: 15000 });
  await page.locator('[data-anteroom="waitlist-join"]').waitFor({ state: 'visible', timeout: 5000 });
  const sold = { ...(await shown(page)), loads };
  for (const width of [1280, 320]) {
    await page.setViewportSize({ width, height: width === 320 ? 640 : 800 });
    await page.screenshot({ path: path.join(artifacts, `sold-out-waitlist-${width}.png`), fullPage: true });
    sold[`scrollWidth${width}`] = await page.evaluate(() => document.documentElement.scrollWidth);
  }
  say('SOLD', JSON.stringify(sold));

  await Promise.all([page.waitForLoadState('load'), page.click('[data-anteroom="waitlist-join"]')]);
  await page.waitForURL((url) => url.pathname !== new URL(base + env('TARGET')).pathname, { timeout: 10000 });
  say('RESULT', JSON.stringify({ url: page.url(), body: await page.textContent('body') }));
  await context.close();
} finally {
  await browser.close();
}
process.exit(0);
