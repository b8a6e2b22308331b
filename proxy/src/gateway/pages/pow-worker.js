// Proof of work for the bot guard's challenge (docs/bot-guard.md, "Challenges"): for each
// sub-puzzle i, a nonce such that SHA-256(id (16 bytes) || i (1 byte) || nonce (8 bytes,
// big-endian)) starts with `bits` zero bits. The page runs this file twice: as a plain script
// (defines anteroomPow, used when Workers are unavailable) and, from the same text, as a Web
// Worker. The 25-byte message is one SHA-256 block, so the hash is a single compression
// written out by hand: a call to WebCrypto per hash would be 20-50 times slower.
var anteroomPow = (function () {
  'use strict';
  var K = new Int32Array([
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2]);
  var H = new Int32Array([
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
  var w = new Int32Array(64), out = new Int32Array(8);

  // SHA-256 of id (4 words) || index || nonce (hi, lo: unsigned 32-bit halves) into `out`.
  function hash(id, index, hi, lo) {
    var i, t1, t2, s0, s1, x, y;
    w[0] = id[0]; w[1] = id[1]; w[2] = id[2]; w[3] = id[3];
    w[4] = (index << 24) | (hi >>> 8);
    w[5] = (hi << 24) | (lo >>> 8);
    w[6] = (lo << 24) | 0x800000;
    w[7] = 0; w[8] = 0; w[9] = 0; w[10] = 0; w[11] = 0; w[12] = 0; w[13] = 0; w[14] = 0;
    w[15] = 200; // the message length in bits
    for (i = 16; i < 64; i++) {
      x = w[i - 15]; y = w[i - 2];
      s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
      s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
      w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0;
    }
    var a = H[0], b = H[1], c = H[2], d = H[3], e = H[4], f = H[5], g = H[6], h = H[7];
    for (i = 0; i < 64; i++) {
      s1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      t1 = (h + s1 + ((e & f) ^ (~e & g)) + K[i] + w[i]) | 0;
      s0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      t2 = (s0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
      h = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
    }
    out[0] = a + H[0]; out[1] = b + H[1]; out[2] = c + H[2]; out[3] = d + H[3];
    out[4] = e + H[4]; out[5] = f + H[5]; out[6] = g + H[6]; out[7] = h + H[7];
    return out;
  }

  // The hash starts with `bits` zero bits.
  function enough(digest, bits) {
    for (var i = 0; bits > 0; i++, bits -= 32) {
      var word = digest[i] >>> 0;
      if (bits >= 32 ? word !== 0 : (word >>> (32 - bits)) !== 0) { return false; }
    }
    return true;
  }

  function idWords(hex) {
    if (!/^[0-9a-f]{32}$/.test(hex)) { throw new Error('challenge id is not 32 hex digits'); }
    var words = new Int32Array(4);
    for (var i = 0; i < 4; i++) { words[i] = parseInt(hex.slice(8 * i, 8 * i + 8), 16) | 0; }
    return words;
  }

  // The decimal text of hi * 2^32 + lo (exact while hi < 2^21: far beyond any search).
  function decimal(hi, lo) { return String(hi * 4294967296 + (lo >>> 0)); }

  // A solver for one challenge (id: 32 hex digits, n sub-puzzles, bits zeros each): step(max)
  // tries at most `max` nonces and returns true once every sub-puzzle is solved; nonces()
  // gives them as the page posts them ("n0,n1,..."); solved and hashes say how far it is.
  function solver(id, n, bits) {
    var words = idWords(id), found = [], index = 0, hi = 0, lo = 0;
    var state = { solved: 0, hashes: 0 };
    state.step = function (max) {
      while (index < n && max > 0) {
        max--;
        state.hashes++;
        if (enough(hash(words, index, hi, lo), bits)) {
          found.push(decimal(hi, lo));
          index++; hi = 0; lo = 0;
          state.solved = index;
        } else if (++lo > 0xffffffff) { lo = 0; hi++; }
      }
      return index >= n;
    };
    state.nonces = function () { return found.join(','); };
    return state;
  }

  // The hex digest of the 25-byte message (tests compare it with Rust's).
  function hex(id, index, nonceHi, nonceLo) {
    var digest = hash(idWords(id), index, nonceHi, nonceLo), text = '';
    for (var i = 0; i < 8; i++) { text += ('0000000' + (digest[i] >>> 0).toString(16)).slice(-8); }
    return text;
  }

  return { solver: solver, hex: hex };
})();

// As a Worker: {id, n, bits} in; {solved, n, hashes} after each sub-puzzle, then
// {done: true, nonces, hashes, ms}.
if (typeof WorkerGlobalScope !== 'undefined' && typeof self !== 'undefined' && self instanceof WorkerGlobalScope) {
  self.onmessage = function (event) {
    var job = event.data, started = Date.now(), solver, last = 0;
    try { solver = anteroomPow.solver(job.id, job.n, job.bits); } catch (e) {
      self.postMessage({ error: String(e && e.message) });
      return;
    }
    while (!solver.step(16384)) {
      if (solver.solved !== last) {
        last = solver.solved;
        self.postMessage({ solved: last, n: job.n, hashes: solver.hashes });
      }
    }
    self.postMessage({ done: true, nonces: solver.nonces(), hashes: solver.hashes, ms: Date.now() - started });
  };
}
