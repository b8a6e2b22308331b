// What the browser scripts share: their environment, and headless Debian chromium launched
// through playwright-core from ANTEROOM_NODE_MODULES (scripts/install-test-deps.sh).
import { createRequire } from 'node:module';
import path from 'node:path';

export const env = (name) => {
  const value = process.env[name];
  if (!value) { throw new Error(`${name} is not set`); }
  return value;
};

export async function launch() {
  const require = createRequire(path.join(env('ANTEROOM_NODE_MODULES'), 'resolve-from-here.js'));
  const { chromium } = require('playwright-core');
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

const positionIn = (html) => (html.match(/data-anteroom="position">([^<]*)</) || [])[1];

// Every answer for the protected `url` in `page`: the waiting pages (the position each showed
// first, into result.waitingPages) until one comes from the origin — the promise's value,
// {status, body}.
export function landing(page, url, result) {
  result.waitingPages = [];
  return new Promise((resolve) => {
    page.on('response', async (response) => {
      if (response.url() !== url) { return; }
      const type = response.headers()['content-type'] || '';
      const body = await response.text().catch(() => '');
      if (type.startsWith('text/html')) {
        result.waitingPages.push(positionIn(body));
      } else {
        resolve({ status: response.status(), body });
      }
    });
  });
}
