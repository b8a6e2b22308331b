#!/usr/bin/env python3
"""Regenerates pass-vectors.json with an implementation independent of the Rust crate
(Python stdlib only). admission/tests/vectors.rs checks the Rust code against the output.

    python3 admission/testdata/gen-vectors.py > admission/testdata/pass-vectors.json
"""
import base64
import hashlib
import hmac
import json

KEYS = {
    "k1": "anteroom-test-vector-secret-k1-0123456789",
    "k2": "anteroom-test-vector-secret-k2-0123456789",
}
UNLISTED = {"k3": "anteroom-test-vector-secret-k3-0123456789"}
ALL = {**KEYS, **UNLISTED}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def mac(kid: str, data: str) -> bytes:
    return hmac.new(ALL[kid].encode(), data.encode("ascii"), hashlib.sha256).digest()


def sign_payload(kid: str, payload: bytes, version: str = "v1") -> str:
    head = f"{version}.{kid}.{b64(payload)}"
    return f"{head}.{b64(mac(kid, head))}"


def payload(room: str, vis: str, iat: int, exp: int) -> bytes:
    obj = {"room": room, "vis": vis, "iat": iat, "exp": exp}
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sign_visitor(kid: str, vis: str) -> str:
    return f"{vis}.{kid}.{b64(mac(kid, 'vid1.' + vis)[:16])}"


VIS_A = "000102030405060708090a0b0c0d0e0f"
VIS_B = "f0e1d2c3b4a5968778695a4b3c2d1e0f"
IAT = 1767225600  # 2026-01-01T00:00:00Z
EXP = IAT + 600

passes = []


def add_pass(name, kid, room, vis, iat, exp):
    token = sign_payload(kid, payload(room, vis, iat, exp))
    passes.append({"name": name, "kid": kid,
                   "claims": {"room": room, "visitor": vis, "iat": iat, "exp": exp},
                   "token": token})
    return token


t1 = add_pass("basic", "k1", "tour-2027", VIS_A, IAT, EXP)
t2 = add_pass("rotated-key", "k2", "tour-2027", VIS_B, IAT, EXP)
t3 = add_pass("extremes", "k1", "A_z-9", "ffffffffffffffffffffffffffffffff", 0, 2**64 - 1)

head1, mac1 = t1.rsplit(".", 1)
_, _, payload1 = head1.split(".")
checks = []


def check(name, token, room, now, expect, claims=None):
    c = {"name": name, "token": token, "room": room, "now": now, "expect": expect}
    if claims is not None:
        c["claims"] = claims
    checks.append(c)


check("valid at issue time", t1, "tour-2027", IAT, "ok", passes[0]["claims"])
check("valid one second before expiry", t1, "tour-2027", EXP - 1, "ok", passes[0]["claims"])
check("valid under the older listed key", t2, "tour-2027", IAT + 1, "ok", passes[1]["claims"])
check("valid extremes", t3, "A_z-9", 2**64 - 2, "ok", passes[2]["claims"])
check("expired at exp", t1, "tour-2027", EXP, "expired")
check("another room", t1, "tour-2028", IAT, "wrong_room")
check("wrong room is reported before expiry", t1, "tour-2028", EXP + 1, "wrong_room")
check("signed by an unlisted key", sign_payload("k3", payload("tour-2027", VIS_A, IAT, EXP)),
      "tour-2027", IAT, "unknown_key")
forged = b64(payload("tour-2027", VIS_A, IAT, EXP + 86400))
check("payload changed, mac kept", f"v1.k1.{forged}.{mac1}", "tour-2027", IAT, "bad_signature")
check("kid changed to another listed key", f"v1.k2.{payload1}.{mac1}", "tour-2027", IAT,
      "bad_signature")
check("mac of the right key over other bytes", f"v1.k1.{payload1}.{b64(mac('k1', 'v1.k1.'))}",
      "tour-2027", IAT, "bad_signature")
check("version v2", sign_payload("k1", payload("tour-2027", VIS_A, IAT, EXP), "v2"),
      "tour-2027", IAT, "malformed")
check("five parts", f"{t1}.x", "tour-2027", IAT, "malformed")
check("mac truncated", t1[:-1], "tour-2027", IAT, "malformed")
check("padding in mac", f"{head1}.{mac1[:-1]}=", "tour-2027", IAT, "malformed")
check("invalid kid", f"v1.k*1.{payload1}.{mac1}", "tour-2027", IAT, "malformed")
check("signed, iat after exp", sign_payload("k1", payload("tour-2027", VIS_A, EXP + 1, EXP)),
      "tour-2027", IAT, "malformed")
check("signed, exp missing",
      sign_payload("k1", json.dumps({"room": "tour-2027", "vis": VIS_A, "iat": IAT},
                                    separators=(",", ":")).encode()),
      "tour-2027", IAT, "malformed")
check("signed, uppercase visitor", sign_payload("k1", payload("tour-2027", VIS_A.upper(), IAT,
                                                              EXP)),
      "tour-2027", IAT, "malformed")
check("signed, not json", sign_payload("k1", b"room=tour-2027"), "tour-2027", IAT, "malformed")

visitors = [
    {"name": "basic", "kid": "k1", "visitor": VIS_A, "signed": sign_visitor("k1", VIS_A)},
    {"name": "rotated-key", "kid": "k2", "visitor": VIS_B, "signed": sign_visitor("k2", VIS_B)},
]
sv = visitors[0]["signed"]
vmac = sv.rsplit(".", 1)[1]
visitor_checks = [
    {"name": "valid", "signed": sv, "expect": VIS_A},
    {"name": "valid under the older listed key", "signed": visitors[1]["signed"], "expect": VIS_B},
    {"name": "another id with this mac", "signed": f"{VIS_B}.k1.{vmac}", "expect": None},
    {"name": "kid changed", "signed": f"{VIS_A}.k2.{vmac}", "expect": None},
    {"name": "unlisted key", "signed": sign_visitor("k3", VIS_A), "expect": None},
    {"name": "uppercase id", "signed": f"{VIS_A.upper()}.k1.{vmac}", "expect": None},
    {"name": "full 32-byte mac", "signed":
        f"{VIS_A}.k1.{b64(mac('k1', 'vid1.' + VIS_A))}", "expect": None},
    {"name": "pass-domain mac", "signed": f"{VIS_A}.k1.{b64(mac('k1', 'v1.' + VIS_A)[:16])}",
     "expect": None},
]

print(json.dumps({
    "description": "Anteroom pass v1 and signed visitor id test vectors; see docs/pass.md. "
                   "Secrets are the UTF-8 bytes of the strings in `keys`. Checks verify with a "
                   "keyring holding every key in `keys` (not `unlisted_keys`).",
    "keys": KEYS,
    "unlisted_keys": UNLISTED,
    "passes": passes,
    "pass_checks": checks,
    "visitors": visitors,
    "visitor_checks": visitor_checks,
}, indent=2))
