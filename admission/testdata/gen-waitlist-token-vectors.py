#!/usr/bin/env python3
"""Regenerates waitlist-token-vectors.json with an implementation independent of the Rust
crate (Python stdlib only). admission/tests/waitlist_token_vectors.rs checks the Rust code
against the output.

    python3 admission/testdata/gen-waitlist-token-vectors.py \
        > admission/testdata/waitlist-token-vectors.json
"""
import base64
import hashlib
import hmac
import json

KEYS = {
    "k1": "anteroom-test-vector-secret-k1-0123456789",
    "k2": "anteroom-test-vector-secret-k2-0123456789",
}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def sign(kid: str, payload: bytes) -> str:
    head = f"w1.{kid}.{b64(payload)}"
    tag = hmac.new(KEYS[kid].encode(), head.encode("ascii"), hashlib.sha256).digest()
    return f"{head}.{b64(tag)}"


def payload(room: str, vis: str, exp: int) -> bytes:
    obj = {"room": room, "vis": vis, "exp": exp}
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


EXP = 1767225600 + 900  # 2026-01-01T00:15:00Z
tokens = []
for name, kid, room, vis, exp in [
    ("basic", "k1", "tour-2027", "000102030405060708090a0b0c0d0e0f", EXP),
    ("rotated-key", "k2", "tour-2027", "f0e1d2c3b4a5968778695a4b3c2d1e0f", EXP),
    ("escaped-room", "k1", 'tour "2027"\\\u0001é', "ffffffffffffffffffffffffffffffff", 2**64 - 1),
]:
    tokens.append({"name": name, "kid": kid,
                   "claims": {"room": room, "visitor": vis, "exp": exp},
                   "token": sign(kid, payload(room, vis, exp))})

# The pass's MAC over a waitlist payload: the label is signed, so it must not verify.
relabelled = tokens[0]["token"].replace("w1.", "v1.", 1)

print(json.dumps({
    "description": "Waitlist tokens (w1) of docs/pass.md, computed by "
                   "admission/testdata/gen-waitlist-token-vectors.py (Python hmac/hashlib). "
                   "Each token verifies under `keys` before its exp and names its claims.",
    "keys": KEYS,
    "tokens": tokens,
    "not_a_pass": relabelled,
}, indent=2, ensure_ascii=False))
