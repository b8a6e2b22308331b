#!/usr/bin/env python3
"""What the bot guard's check costs Redis for a new fan, piece by piece (ADR 0010).

    bench/guard_redis_costs.py                 60,000 calls per probe, two passes
    bench/guard_redis_costs.py --calls 20000 --passes 1
    bench/guard_redis_costs.py --callgrind --calls 5000 --passes 1
                                               instructions per call instead of CPU time
    bench/guard_redis_costs.py --callgrind --floors --calls 10000 --passes 1
                                               what other layouts' bare commands cost
    bench/guard_redis_costs.py --memory --calls 100000
                                               Redis memory a new fan's check leaves behind

Starts a redis-server of its own on a free loopback port, then for each probe sends
`--calls` EVALSHAs, pipelined 200 at a time over one connection (so the client's round trips
are not what is measured), each with a new random address: every call is a new fan, as in
`bench/join_guard.sh`. It reads the server's CPU time (utime + stime from /proc/<pid>/stat)
before and after each probe and prints Redis CPU per call. The probes build up to the real
check (`guard_check.lua` + `check.lua`, the script `RedisGuardStore::check` runs):

- `return 1`, no arguments: the floor of any script call;
- `return 1` with the check's five keys and two arguments: what passing them costs;
- + `TIME`; + `MGET` of the three counters (none exists yet); + three `SET … PX` of new keys
  with a fixed value; + a `ZCARD`, `ZADD` and `PEXPIRE` of two new sorted sets (what making a
  new fan's keys costs, without any script logic);
- the check itself: IP, subnet and fingerprint-in-subnet counted (GCRA), a place under the
  IP and the fingerprint-in-subnet (a visitor id made on the request is not counted);
- the check for returning subjects: one of 1,000 addresses and 3,000 visitors per call, the
  visitor counted too, at most 3 places per subject (most calls find the subjects' keys and
  holders, many are refused a place).

The difference between the last new-fan probes is the script's own work (Lua).

`--floors` measures instead what other layouts of a new fan's five facts (velocity of IP,
subnet and fingerprint-in-subnet; a place under IP and fingerprint-in-subnet) would cost
Redis with **no logic at all** — only their commands with fixed values, each after the bare
script with its keys and arguments: the layout in use (a string per counter, a zset per
place subject), a zset per place subject also holding that subject's counters (3 keys),
counters and places as fields of shared per-window hashes (no key per fan), and one hash
per subnet holding all five facts (1 key). What a layout's logic would add comes on top.

With
`--callgrind` the server runs under `valgrind --tool=callgrind` and each probe reports the
server's instructions per call (zeroed and dumped around the probe with `callgrind_control`):
noise-free, for comparing versions of the script. Stops its server by pid.
"""

import argparse
import os
import random
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LUA = os.path.join(ROOT, "bot-guard", "src", "store", "lua")
BATCH = 200
# The check's numbers as `RedisGuardStore` sends them (little-endian f64s, `push_check`):
# 3 counters (limit, window), then the hold and the maximum of each place subject.
LAYOUT = struct.pack("<10d", 3, 20, 10000, 200, 10000, 100, 10000, 3600000, 4, 4)


def encode(args):
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


class Redis:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.reader = self.sock.makefile("rb")

    def call(self, *args):
        self.sock.sendall(encode(args))
        return self.read()

    def read(self):
        line = self.reader.readline()
        kind, rest = line[:1], line[1:].strip()
        if kind == b"$":
            size = int(rest)
            return None if size < 0 else self.reader.read(size + 2)[:-2]
        if kind == b"*":
            return [self.read() for _ in range(int(rest))]
        if kind == b":":
            return int(rest)
        if kind == b"-":
            raise RuntimeError(rest.decode())
        return rest


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def new_fan():
    a, b, c, d = (random.randint(1, 254) for _ in range(4))
    ip = "ip:%d.%d.%d.%d" % (a, b, c, d)
    net = "net:%d.%d.%d.0/24" % (a, b, c)
    fp = "fpnet:a9277f427c249d2e@%d.%d.%d.0/24" % (a, b, c)
    keys = ["bg:{bench}:v:10000:" + s for s in (ip, net, fp)]
    keys += ["bg:{bench}:p:" + ip, "bg:{bench}:p:" + fp]
    return keys, [LAYOUT, "%032x" % random.getrandbits(128)]


# 4 counters (limit 1,000 per 10 s, so nobody is throttled), then the hold and 3 places per subject.
RETURNING_LAYOUT = struct.pack("<12d", 4, 1000, 10000, 1000, 10000, 1000, 10000, 1000, 10000, 3600000, 3, 3)


def returning():
    i = random.randrange(1000)
    a, b, c, d = 11, i // 50, i % 50, 7
    visitor = "%032x" % random.randrange(3000)
    ip = "ip:%d.%d.%d.%d" % (a, b, c, d)
    net = "net:%d.%d.%d.0/24" % (a, b, c)
    fp = "fpnet:a9277f427c249d2e@%d.%d.%d.0/24" % (a, b, c)
    keys = ["bg:{bench-r}:v:10000:" + s for s in (ip, net, fp, "vid:" + visitor)]
    keys += ["bg:{bench-r}:p:" + ip, "bg:{bench-r}:p:" + fp]
    return keys, [RETURNING_LAYOUT, visitor]


def new_fan_subjects():
    a, b, c, d = (random.randint(1, 254) for _ in range(4))
    ip = "ip:%d.%d.%d.%d" % (a, b, c, d)
    net = "net:%d.%d.%d.0/24" % (a, b, c)
    fp = "fpnet:a9277f427c249d2e@%d.%d.%d.0/24" % (a, b, c)
    return (a, b, c, d), ip, net, fp


def merged_fan():
    """A zset per place subject holding its counters too; the subnet's counter a string."""
    _, ip, net, fp = new_fan_subjects()
    keys = ["bg:{bench}:s:" + ip, "bg:{bench}:v:10000:" + net, "bg:{bench}:s:" + fp]
    return keys, [LAYOUT, "%032x" % random.getrandbits(128)]


def shared_hashes_fan():
    """Counters and places as fields of shared hashes (this window's and the last one's)."""
    _, ip, net, fp = new_fan_subjects()
    keys = ["bg:{bench}:w:10000:0", "bg:{bench}:w:10000:1", "bg:{bench}:h:0", "bg:{bench}:h:1"]
    return keys, [LAYOUT, "%032x" % random.getrandbits(128), ip, net, fp]


def subnet_hash_fan():
    """One hash per subnet holding every fact of its addresses and fingerprints."""
    (a, b, c, d), _, _, _ = new_fan_subjects()
    return ["bg:{bench}:n:%d.%d.%d" % (a, b, c)], [LAYOUT, "%032x" % random.getrandbits(128), "%d" % d]


def floor_probes(sets, zsets):
    """Each layout's bare script with its keys and arguments, then the same with the commands
    a new fan's five facts need in that layout (fixed values, no logic)."""
    merged = """local t = redis.call('TIME')
redis.call('ZSCORE', KEYS[1], 't')
redis.call('GET', KEYS[2])
redis.call('ZSCORE', KEYS[3], 't')
redis.call('ZADD', KEYS[1], '1796138441287095', 't', '1796138441287', ARGV[2])
redis.call('PEXPIRE', KEYS[1], '3600000')
redis.call('SET', KEYS[2], '1796138441287095', 'PX', '300')
redis.call('ZADD', KEYS[3], '1796138441287095', 't', '1796138441287', ARGV[2])
redis.call('PEXPIRE', KEYS[3], '3600000')
return 1"""
    shared = """local t = redis.call('TIME')
redis.call('HMGET', KEYS[1], ARGV[3], ARGV[4], ARGV[5])
redis.call('HMGET', KEYS[2], '_s', ARGV[3], ARGV[4], ARGV[5])
redis.call('HSET', KEYS[2], ARGV[3], '1', ARGV[4], '1', ARGV[5], '1')
redis.call('HMGET', KEYS[3], ARGV[3], ARGV[5])
redis.call('HMGET', KEYS[4], '_s', ARGV[3], ARGV[5])
redis.call('HSET', KEYS[4], ARGV[3], ARGV[2], ARGV[5], ARGV[2])
return 1"""
    subnet = """local t = redis.call('TIME')
local v, ip, fp = ARGV[2], ARGV[3], 'fa9277f427c249d2e'
redis.call('HMGET', KEYS[1], 't', 'i' .. ip, fp, 'ci' .. ip, 'c' .. fp)
redis.call('HSET', KEYS[1], 't', '1796138441287095', 'i' .. ip, '1796138441287095', fp,
  '1796138441287095', 'hi' .. ip .. v, '1796138441287', 'h' .. fp .. v, '1796138441287')
redis.call('PEXPIRE', KEYS[1], '3600000')
return 1"""
    in_use = "redis.call('TIME') redis.call('MGET', KEYS[1], KEYS[2], KEYS[3]) " + sets + zsets + "return 1"
    return [
        ("in use (5 keys): `return 1` with its keys and arguments", "return 1", new_fan),
        ("in use: + TIME, MGET, 3 `SET … PX`, 2 × (`ZCARD`, `ZADD`, `PEXPIRE`)", in_use, new_fan),
        ("counters inside the place zsets (3 keys): `return 1` with its keys and arguments", "return 1", merged_fan),
        ("counters inside the place zsets: + TIME, 2 × (`ZSCORE`, `ZADD` of 2, `PEXPIRE`), `GET`, `SET … PX`", merged, merged_fan),
        ("shared hashes (4 keys, 3 field names): `return 1` with its keys and arguments", "return 1", shared_hashes_fan),
        ("shared hashes: + TIME, 4 `HMGET`, 2 `HSET`", shared, shared_hashes_fan),
        ("a hash per subnet (1 key): `return 1` with its key and arguments", "return 1", subnet_hash_fan),
        ("a hash per subnet: + TIME, `HMGET` of 5, `HSET` of 5, `PEXPIRE`", subnet, subnet_hash_fan),
    ]


class CpuTime:
    """The server's CPU time over a probe, in µs per call."""

    def __init__(self, pid):
        self.pid = pid

    def start(self):
        self.before = cpu_seconds(self.pid)

    def per_call(self, calls):
        return (cpu_seconds(self.pid) - self.before) * 1e6 / calls


class Instructions:
    """The server's instructions over a probe (callgrind), per call."""

    def __init__(self, pid, out):
        self.pid, self.out = pid, out

    def control(self, flag):
        subprocess.run(["callgrind_control", flag, str(self.pid)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def start(self):
        self.control("-z")

    def per_call(self, calls):
        self.control("-d")
        dumps = [f for f in os.listdir(os.path.dirname(self.out))
                 if f.startswith(os.path.basename(self.out) + ".")]
        newest = max(dumps, key=lambda f: int(f.rsplit(".", 1)[1]))
        with open(os.path.join(os.path.dirname(self.out), newest)) as f:
            total = next(int(line.split()[1]) for line in f if line.startswith("summary:"))
        return total / calls


def send(redis, sha, make_input, count):
    for _ in range(count // BATCH):
        payload = []
        for _ in range(BATCH):
            if make_input:
                keys, args = make_input()
                payload.append(encode(["EVALSHA", sha, len(keys)] + keys + args))
            else:
                payload.append(encode(["EVALSHA", sha, 0]))
        redis.sock.sendall(b"".join(payload))
        for _ in range(BATCH):
            redis.read()


def probe(redis, meter, script, make_input, calls):
    sha = redis.call("SCRIPT", "LOAD", script).decode()
    send(redis, sha, make_input, BATCH)  # warm: the script compiled, the first keys made
    meter.start()
    send(redis, sha, make_input, calls)
    return meter.per_call(calls // BATCH * BATCH)


def used_memory(redis):
    info = redis.call("INFO", "memory").decode()
    return int(next(line for line in info.split("\r\n") if line.startswith("used_memory:")).split(":")[1])


def memory_per_fan(redis, check, calls):
    """Redis memory each new fan's check leaves for the hold: `used_memory` before and after
    `calls` checks, once the velocity counters (≤ 0.5 s) have had 6 s to expire; what the
    expiry cycle has not reclaimed yet is counted too."""
    sha = redis.call("SCRIPT", "LOAD", check).decode()
    before = used_memory(redis)
    send(redis, sha, new_fan, calls)
    time.sleep(6)
    after, keys = used_memory(redis), int(redis.call("DBSIZE"))
    print("| new fans checked | Redis bytes per fan after 6 s | keys per fan |")
    print("|---:|---:|---:|")
    print("| %d | %.0f | %.2f |" % (calls, (after - before) / calls, keys / calls))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=60000)
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--callgrind", action="store_true")
    parser.add_argument("--floors", action="store_true")
    parser.add_argument("--memory", action="store_true")
    options = parser.parse_args()
    if not 1000 <= options.calls <= 1_000_000 or not 1 <= options.passes <= 10:
        sys.exit("--calls 1000..1000000, --passes 1..10")
    needed = ["redis-server"] + (["valgrind", "callgrind_control"] if options.callgrind else [])
    for tool in needed:
        if shutil.which(tool) is None:
            sys.exit("%s is required" % tool)
    with open(os.path.join(LUA, "guard_check.lua")) as f:
        guard_check = f.read()
    with open(os.path.join(LUA, "check.lua")) as f:
        check = guard_check + "\n" + f.read()
    sets = "for i = 1, 3 do redis.call('SET', KEYS[i], '1796138441287095', 'PX', '300') end "
    zsets = ("for i = 4, 5 do redis.call('ZCARD', KEYS[i]) redis.call('ZADD', KEYS[i], '1796138441287', ARGV[2]) "
             "redis.call('PEXPIRE', KEYS[i], '3600000') end ")
    probes = [
        ("`return 1`, no arguments", "return 1", None),
        ("`return 1`, the check's 5 keys and 2 arguments", "return 1", new_fan),
        ("+ `TIME`", "redis.call('TIME') return 1", new_fan),
        ("+ `MGET` of the 3 counters", "redis.call('TIME') redis.call('MGET', KEYS[1], KEYS[2], KEYS[3]) return 1", new_fan),
        ("+ 3 `SET … PX` of new keys", "redis.call('TIME') redis.call('MGET', KEYS[1], KEYS[2], KEYS[3]) " + sets + "return 1", new_fan),
        ("+ 2 new sorted sets (`ZCARD`, `ZADD`, `PEXPIRE`)", "redis.call('TIME') redis.call('MGET', KEYS[1], KEYS[2], KEYS[3]) " + sets + zsets + "return 1", new_fan),
        ("the check for a new fan (`guard_check.lua` + `check.lua`)", check, new_fan),
        ("the check for returning subjects", check, returning),
    ]
    if options.floors:
        probes = floor_probes(sets, zsets)
    work = tempfile.mkdtemp(prefix="anteroom-guard-costs.")
    port = free_port()
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--dir", work]
    callgrind_out = os.path.join(work, "callgrind.out")
    if options.callgrind:
        command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + callgrind_out] + command
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                redis = Redis(port)
                redis.call("PING")
                break
            except OSError:
                if time.monotonic() > deadline:
                    sys.exit("redis-server did not start")
                time.sleep(0.05)
        if options.memory:
            return memory_per_fan(redis, check, options.calls)
        meter = Instructions(server.pid, callgrind_out) if options.callgrind else CpuTime(server.pid)
        results = {name: [] for name, _, _ in probes}
        for _ in range(options.passes):
            for name, script, make_input in probes:
                results[name].append(probe(redis, meter, script, make_input, options.calls))
        unit, shown = ("instructions", "%.0f") if options.callgrind else ("CPU µs", "%.1f")
        print("| probe (%d calls each) | Redis %s per call, pass by pass |" % (options.calls, unit))
        print("|---|---|")
        for name, _, _ in probes:
            print("| %s | %s |" % (name, " / ".join(shown % value for value in results[name])))
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
