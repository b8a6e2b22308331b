// Calibration (docs/bot-guard.md, "Calibration"): the waiting page's solver's hash rate in
// headless Chromium, in a Web Worker built the way the page builds it (a Blob of
// pow-worker.js), solving normal-level challenges (16 × 14 bits) for about SECONDS.
//   ANTEROOM_NODE_MODULES=scripts/node_modules node proxy/tests/browser/pow_rate.mjs [SECONDS]
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
process.env.ANTEROOM_NODE_MODULES ||= path.join(here, '../../../scripts/node_modules');
const { launch } = await import('./chromium.mjs');
const source = fs.readFileSync(path.join(here, '../../src/gateway/pages/pow-worker.js'), 'utf8');
const seconds = Number(process.argv[2] || 10);

const browser = await launch();
try {
  const page = await browser.newPage();
  await page.setContent('<!doctype html><title>calibration</title>');
  const result = await page.evaluate(async ({ source, seconds }) => {
    const url = URL.createObjectURL(new Blob([source], { type: 'text/javascript' }));
    const runs = [];
    const one = (id) => new Promise((resolve, reject) => {
      const worker = new Worker(url);
      worker.onmessage = (e) => { if (e.data.done) { worker.terminate(); resolve(e.data); } };
      worker.onerror = (e) => reject(new Error(e.message));
      worker.postMessage({ id, n: 16, bits: 14 });
    });
    const started = performance.now();
    while (performance.now() - started < seconds * 1000) {
      const id = Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
      runs.push(await one(id));
    }
    const hashes = runs.reduce((sum, r) => sum + r.hashes, 0);
    const ms = runs.reduce((sum, r) => sum + r.ms, 0);
    return { runs: runs.length, hashes, ms, perRunMs: runs.map((r) => r.ms) };
  }, { source, seconds });
  const rate = Math.round(result.hashes / (result.ms / 1000));
  console.log(`chromium ${browser.version()}: RATE ${rate} hashes/s (${result.hashes} hashes in ${(result.ms / 1000).toFixed(2)} s, ${result.runs} level-4 solves, ms each: ${result.perRunMs.join(' ')})`);
} finally {
  await browser.close();
}
