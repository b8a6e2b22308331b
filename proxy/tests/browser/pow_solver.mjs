// Runs the waiting page's proof-of-work solver (proxy/src/gateway/pages/pow-worker.js) in
// Node for proxy/tests/pow_solver.rs, exactly as the page loads it (a plain script).
//   node pow_solver.mjs solve CHALLENGE   → prints `NONCES n0,n1,...` and `RATE hashes/s`
//   node pow_solver.mjs digests COUNT     → checks COUNT random messages against Node's
//                                            SHA-256 (OpenSSL); prints `DIGESTS ok COUNT`
//   node pow_solver.mjs rate SECONDS      → hashes/s over about SECONDS (calibration)
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const source = fs.readFileSync(path.join(here, '../../src/gateway/pages/pow-worker.js'), 'utf8');
const context = {};
vm.createContext(context);
vm.runInContext(source, context);
const pow = context.anteroomPow;
const [command, argument] = process.argv.slice(2);

// The payload of `c1.<payload>.<mac>`, as the page reads it.
function payload(challenge) {
  const parts = challenge.split('.');
  if (parts.length !== 3 || parts[0] !== 'c1') { throw new Error(`not a challenge: ${challenge}`); }
  return JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
}

function solve(id, n, bits) {
  const solver = pow.solver(id, n, bits);
  const started = process.hrtime.bigint();
  while (!solver.step(1 << 20)) { /* keep going */ }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { nonces: solver.nonces(), hashes: solver.hashes, seconds };
}

if (command === 'solve') {
  const p = payload(argument);
  const { nonces, hashes, seconds } = solve(p.id, p.n, p.bits);
  console.log(`NONCES ${nonces}`);
  console.log(`RATE ${Math.round(hashes / seconds)} hashes/s (${hashes} hashes in ${seconds.toFixed(3)} s)`);
} else if (command === 'digests') {
  const count = Number(argument);
  for (let t = 0; t < count; t++) {
    const id = crypto.randomBytes(16);
    const index = t & 0xff;
    // Nonces past 2^32 too: the high half has its own path through the message words.
    const hi = t % 2 ? crypto.randomBytes(4).readUInt32BE() : 0;
    const lo = crypto.randomBytes(4).readUInt32BE();
    const message = Buffer.alloc(25);
    id.copy(message);
    message[16] = index;
    message.writeUInt32BE(hi, 17);
    message.writeUInt32BE(lo, 21);
    const want = crypto.createHash('sha256').update(message).digest('hex');
    const got = pow.hex(id.toString('hex'), index, hi, lo);
    if (got !== want) { throw new Error(`SHA-256(${message.toString('hex')}): ${got}, expected ${want}`); }
  }
  console.log(`DIGESTS ok ${count}`);
} else if (command === 'rate') {
  const limit = Number(argument);
  let hashes = 0, seconds = 0;
  for (let round = 0; seconds < limit; round++) {
    const run = solve(crypto.randomBytes(16).toString('hex'), 16, 14);
    hashes += run.hashes;
    seconds += run.seconds;
  }
  console.log(`RATE ${Math.round(hashes / seconds)} hashes/s (${hashes} hashes in ${seconds.toFixed(2)} s)`);
} else {
  throw new Error(`unknown command ${command}`);
}
