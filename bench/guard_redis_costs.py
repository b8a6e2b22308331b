#!/usr/bin/env python3
"""What the bot guard's check costs Redis for a new fan, piece by piece (ADR 0010).

    bench/guard_redis_costs.py                 60,000 calls per probe, two passes
    bench/guard_redis_costs.py --calls 20000 --passes 1
    bench/guard_redis_costs.py --callgrind --calls 5000 --passes 1
                                               instructions per call instead of CPU time

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

The difference between the last new-fan probes is the script's own work (Lua). With
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
# 3 counters (limit, window), then max places and the hold.
LAYOUT = struct.pack("<9d", 3, 20, 10000, 200, 10000, 100, 10000, 4, 3600000)


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


# 4 counters (limit 1,000 per 10 s, so nobody is throttled), then 3 places per subject and the hold.
RETURNING_LAYOUT = struct.pack("<11d", 4, 1000, 10000, 1000, 10000, 1000, 10000, 1000, 10000, 3, 3600000)


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


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=60000)
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--callgrind", action="store_true")
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
