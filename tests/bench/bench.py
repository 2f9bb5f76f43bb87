#!/usr/bin/python3
"""memdump benchmarks: every result is a ratio against a baseline measured in the same run.

Sections (each independent: one that fails prints its error and the others still run)
    api     wrk through nginx against /api/memory-dumps/status (50 active dumps seeded in
            Redis), /records (10 000 points in InfluxDB) and /trigger (POST, real guest,
            refused as already running while its dump runs), each against nginx serving a
            static file of the same size: requests/s ratio, p50/p99 of both.
    dump    one dump of a 2 GiB TCG guest through memdumpd (POST -> completed -> record in
            InfluxDB) against `virsh dump --memory-only --format elf` to the same disk, and
            against that dump followed by `sha256sum`; the guest's pause time from libvirt's
            lifecycle events (Suspended -> Resumed).
    scale   4 memdumpd on libvirt's test driver (250 domains each = 1 000 VMs), the poller's
            cycle time over them against one plain GET /api/vms round over the same four;
            then /status with 1 000 VMs and 200 active dumps across the 4 service URLs in
            Redis against a static file of the same size.
    memory  VmRSS of memdumpd, memdump-poller and memdump-api (master + workers) at rest
            and under load (wrk on /status, one 2 GiB dump running, the poller polling it).

Everything runs on 127.0.0.1 through tests/harness/stack.py (real Redis, InfluxDB 1.x, nginx,
a private libvirt session with TCG guests, our programs from $MEMDUMP_BIN_DIR). Every process
is stopped at the end; the exit status is 0 unless a section broke (speed never fails it).
Access control is on as in production: every request to one of our nginx (wrk runs and
single requests, static baselines too, so both carry the same header) sends the admin API
token of the harness-made accounts (`with_auth`); nginx's cache key includes the
Authorization header, so one token is one cache entry, as one URL was before.

    /usr/bin/python3 tests/bench/bench.py [--only api,dump,scale,memory] [--quick]
"""

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "tests" / "harness"))
import stack as harness  # noqa: E402

SECTIONS = ("api", "dump", "scale", "memory")
TOKEN = "bench-" + hashlib.sha256(str(os.getpid()).encode()).hexdigest()[:24]
DUMP_GUEST = "bench-2g"
GIB = 1024 * 1024 * 1024
MIB = 1024 * 1024
T0 = time.monotonic()


class BenchError(RuntimeError):
    pass


# --------------------------------------------------------------------------------------
# output
# --------------------------------------------------------------------------------------

RESULTS = []  # (section, line)


def say(msg):
    print(f"[{time.monotonic() - T0:6.1f}s] {msg}", flush=True)


def result(section, text):
    RESULTS.append((section, text))
    print(f"  RESULT {section}: {text}", flush=True)


def ratio(a, b):
    return a / b if b else float("nan")


def fmt_ms(x):
    return "n/a" if x is None else f"{x:.2f} ms"


# --------------------------------------------------------------------------------------
# HTTP and process helpers
# --------------------------------------------------------------------------------------

def with_auth(url, headers=None):
    """`headers` plus, for a URL of a live nginx of ours without its own Authorization,
    the admin token of the API behind it (memdump-api refuses requests without one)."""
    hdrs = dict(headers or {})
    if not any(k.lower() in ("authorization", "cookie") for k in hdrs):
        hdrs = {**harness.default_headers(url), **hdrs}
    return hdrs


def http(method, url, body=None, headers=None, timeout=30):
    """(status, bytes) of one request; never raises for an HTTP status."""
    data = None
    hdrs = with_auth(url, headers)
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def http_json(method, url, body=None, headers=None, timeout=30):
    st, raw = http(method, url, body, headers, timeout)
    try:
        return st, json.loads(raw or b"null")
    except ValueError:
        return st, {"_raw": raw[:300].decode("utf-8", "replace")}


def auth():
    return {"Authorization": f"Bearer {TOKEN}"}


def run(argv, timeout, **kw):
    """subprocess.run with a bound; raises BenchError on timeout or failure."""
    try:
        cp = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                            stdin=subprocess.DEVNULL, **kw)
    except subprocess.TimeoutExpired as e:
        raise BenchError(f"timed out after {timeout}s: {' '.join(argv)}") from e
    if cp.returncode != 0:
        raise BenchError(f"failed ({cp.returncode}): {' '.join(argv)}\n{cp.stdout}{cp.stderr}")
    return cp


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def program_pids(svc):
    """Pids of the program itself in a harness service's process group (skips runuser)."""
    want = svc.binary[:15]
    return sorted(p for p in harness.group_members(svc.pid) if comm(p) == want)


def program_rss(svc):
    """(total KiB, number of processes) of a program (memdump-api: master + workers)."""
    pids = program_pids(svc)
    return sum(rss_kib(p) for p in pids), len(pids)


class RssSampler:
    """Samples program_rss() of some services every 0.1 s in a thread; keeps the max."""

    def __init__(self, services):
        self.services = [s for s in services if s is not None]
        self.peak = {s.binary: (0, 0) for s in self.services}
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._loop, daemon=True)

    def _loop(self):
        while not self._stop.is_set():
            for s in self.services:
                kib, n = program_rss(s)
                if kib > self.peak[s.binary][0]:
                    self.peak[s.binary] = (kib, n)
            self._stop.wait(0.1)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join(timeout=5)


# --------------------------------------------------------------------------------------
# wrk
# --------------------------------------------------------------------------------------

LUA_TEMPLATE = """\
-- generated by tests/bench/bench.py: one request shape, status codes counted per thread
wrk.method = {method}
wrk.body = {body}
{headers}
local threads = {{}}
function setup(thread) table.insert(threads, thread) end
function init(args) codes = {{}} end
function response(status, headers, body) codes[status] = (codes[status] or 0) + 1 end
function done(summary, latency, requests)
  local total = {{}}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("codes")) do total[k] = (total[k] or 0) + v end
  end
  for k, v in pairs(total) do io.write(string.format("status %d %d\\n", k, v)) end
end
"""


def lua_str(s):
    return "nil" if s is None else '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _lat_ms(text):
    m = re.match(r"([\d.]+)(us|ms|s|m)$", text)
    if not m:
        return None
    v = float(m.group(1))
    return {"us": v / 1000, "ms": v, "s": v * 1000, "m": v * 60000}[m.group(2)]


class Wrk:
    def __init__(self, workdir, threads, conns, duration):
        self.workdir = Path(workdir)
        self.threads, self.conns, self.duration = threads, conns, duration
        self.n = 0

    def run(self, url, method="GET", body=None, headers=None, duration=None):
        """One wrk run; returns {rps, p50, p99, codes, errors, requests}."""
        self.n += 1
        hdr = "\n".join(f"wrk.headers[{lua_str(k)}] = {lua_str(v)}"
                        for k, v in with_auth(url, headers).items())
        script = self.workdir / f"wrk-{self.n}.lua"
        script.write_text(LUA_TEMPLATE.format(method=lua_str(method), body=lua_str(body),
                                              headers=hdr))
        d = duration or self.duration
        cp = run(["wrk", f"-t{self.threads}", f"-c{self.conns}", f"-d{d}s", "--latency",
                  "--timeout", "5s", "-s", str(script), url], timeout=d + 30)
        out = cp.stdout
        res = {"rps": None, "p50": None, "p99": None, "codes": {}, "errors": "",
               "requests": 0, "raw": out}
        m = re.search(r"Requests/sec:\s+([\d.]+)", out)
        if m:
            res["rps"] = float(m.group(1))
        for pct, key in (("50", "p50"), ("99", "p99")):
            m = re.search(rf"^\s+{pct}(?:\.000)?%\s+(\S+)", out, re.M)
            if m:
                res[key] = _lat_ms(m.group(1))
        m = re.search(r"(\d+) requests in", out)
        if m:
            res["requests"] = int(m.group(1))
        for code, cnt in re.findall(r"^status (\d+) (\d+)$", out, re.M):
            res["codes"][int(code)] = int(cnt)
        m = re.search(r"Socket errors:.*", out)
        if m:
            res["errors"] = m.group(0)
        if res["rps"] is None:
            raise BenchError(f"wrk printed no Requests/sec for {url}:\n{out}{cp.stderr}")
        return res


def codes_text(codes):
    return ",".join(f"{c}x{n}" for c, n in sorted(codes.items())) or "none"


def compare(section, name, ours, base, note=""):
    """Print one ours-vs-static line: requests/s ratio and latencies of both."""
    r = ratio(ours["rps"], base["rps"])
    result(section,
           f"{name}: rps ratio {r:.2f} (ours {ours['rps']:.0f}/s vs static {base['rps']:.0f}/s); "
           f"p50 {fmt_ms(ours['p50'])} vs {fmt_ms(base['p50'])}; "
           f"p99 {fmt_ms(ours['p99'])} vs {fmt_ms(base['p99'])}; "
           f"status ours {codes_text(ours['codes'])}, static {codes_text(base['codes'])}"
           + (f"; {ours['errors']}" if ours["errors"] else "")
           + (f"; {note}" if note else ""))
    return r


# --------------------------------------------------------------------------------------
# seeding Redis and InfluxDB as the poller and memdumpd would
# --------------------------------------------------------------------------------------

def iso(ts):
    return datetime.utcfromtimestamp(ts).strftime("%Y-%m-%dT%H:%M:%S.") + \
        f"{int(ts * 1000) % 1000:03d}Z"


def dump_id(ts, n):
    return datetime.utcfromtimestamp(ts).strftime("%Y%m%dT%H%M%SZ-") + f"{n:012x}"


def seeded_dump(n, vm, service, host, now, state="running"):
    total = 2 * GIB
    done = (n * 37 % 100) * total // 100
    return {
        "dump_id": dump_id(now - 60 - n, 0xbe0000000000 + n), "vm": vm, "host": host,
        "service": service, "format": "elf", "state": state,
        "progress": done * 100 // total, "bytes_written": done, "bytes_total": total,
        "rate_bps": 251658240, "eta_s": (total - done) // 251658240,
        "created_at": iso(now - 61 - n), "started_at": iso(now - 60 - n), "finished_at": None,
        "duration_s": None,
        "path": f"/var/dumps/{vm}/{vm}-{dump_id(now - 60 - n, 0xbe0000000000 + n)}.elf",
        "size_bytes": None, "sha256": None, "error": None,
    }


def health(service, host, now):
    return {"service": service, "host": host, "reachable": True, "last_success": iso(now),
            "last_error": None, "latency_ms": 1.2, "checked_at": iso(now),
            "libvirt": {"ok": True, "error": None},
            "disk": {"free_bytes": 80 * GIB, "total_bytes": 250 * GIB},
            "queue": {"running": 2, "queued": 0, "max_concurrent": 2},
            "influx": {"ok": True, "spooled": 0}}


def seed_status(r, services, n_active, n_vms, real_vms=()):
    """Write memdump:active/latest/dump:*/vms/health/poller/last_trigger (docs/redis-schema.md).
    `real_vms`: (name, service) of guests that exist, listed first in memdump:vms."""
    now = time.time()
    p = r.pipeline(transaction=False)
    vms = list(real_vms)
    for i in range(n_vms - len(vms)):
        s = services[i % len(services)]
        vms.append((f"vm-{i:04d}", s))
    for i, (name, s) in enumerate(vms):
        host = f"kvm{services.index(s) + 1}"
        p.hset("memdump:vms", name, json.dumps(
            {"name": name, "uuid": f"00000000-0000-4000-8000-{i:012x}", "state": "running",
             "memory_bytes": 2 * GIB, "vcpus": 1, "host": host, "service": s},
            separators=(",", ":")))
    for n in range(n_active):
        name, s = vms[(len(real_vms) + n) % len(vms)]
        d = seeded_dump(n, name, s, f"kvm{services.index(s) + 1}", now,
                      "queued" if n % 10 == 9 else "running")
        raw = json.dumps(d, separators=(",", ":"))
        p.hset("memdump:active", d["dump_id"], raw)
        p.hset("memdump:latest", name, raw)
        p.set(f"memdump:dump:{d['dump_id']}", raw)
    for i, s in enumerate(services):
        p.hset("memdump:health", s, json.dumps(health(s, f"kvm{i + 1}", now),
                                               separators=(",", ":")))
    p.set("memdump:poller", json.dumps({"id": "bench", "last_cycle": iso(now), "cycle_ms": 12,
                                        "hosts": len(services), "leader_since": iso(now - 600)}))
    p.set("memdump:last_trigger", json.dumps({"at": iso(now - 5), "vms": ["vm-0000", "vm-0001"],
                                              "accepted": 2, "refused": 0}))
    p.execute()


def seed_records(influx, db, n, batch=5000):
    """n mem_dumps points shaped like memdumpd's (memdumpd/spool.c), written in batches."""
    now_ms = int(time.time() * 1000)
    lines = []
    for i in range(n):
        vm = f"vm-{i % 97:04d}"
        state = "failed" if i % 20 == 19 else "completed"
        did = dump_id((now_ms - i * 60000) / 1000, 0xec0000000000 + i)
        sha = hashlib.sha256(did.encode()).hexdigest()
        size = 0 if state == "failed" else (256 + i % 4 * 256) * MIB
        err = "virsh dump failed: domain is not running" if state == "failed" else ""
        t = now_ms - i * 60000
        lines.append(
            f'mem_dumps,format=elf,host=kvm{i % 4 + 1},state={state},vm={vm} '
            f'dump_id="{did}",path="/var/dumps/{vm}/{vm}-{did}.elf",size_bytes={size}i,'
            f'sha256="{sha}",duration_s={1.5 + i % 7},error="{err}",'
            f'started_at="{iso(t / 1000 - 2)}",finished_at="{iso(t / 1000)}" {t}')
    url = f"{influx.url}/write?" + urllib.parse.urlencode({"db": db, "precision": "ms"})
    for k in range(0, n, batch):
        st, raw = http("POST", url, "\n".join(lines[k:k + batch]).encode(),
                       {"Content-Type": "text/plain"})
        if st != 204:
            raise BenchError(f"InfluxDB /write answered {st}: {raw[:200]!r}")


# --------------------------------------------------------------------------------------
# shared pieces
# --------------------------------------------------------------------------------------

class Ctx:
    """What sections share: run folder, options, the libvirt session and its 2 GiB guest."""

    def __init__(self, args, run_dir):
        self.args = args
        self.run_dir = run_dir
        self.quick = args.quick
        self.duration = args.duration or (3 if args.quick else 6)
        self.wrk = Wrk(run_dir, args.threads, args.connections, self.duration)
        self._libvirt = None
        # nginx's live-state cache on tmpfs, as operations.md recommends (on the disk,
        # ext4 metadata work for each refreshed entry stalls the nginx worker now and then)
        shm = Path("/dev/shm")
        self.cache_root = Path(tempfile.mkdtemp(
            prefix="memdump-bench-cache-",
            dir=shm if shm.is_dir() and os.access(shm, os.W_OK) else run_dir))

    def nginx_opts(self, name):
        """Keyword arguments for harness.Nginx / harness.Stack's nginx in section `name`."""
        return {"workers": self.args.nginx_workers, "cache_dir": self.cache_root / name}

    def libvirt(self):
        if self._libvirt is None:
            self._libvirt = harness.LibvirtSession().start()
        return self._libvirt

    def dump_guest(self):
        lv = self.libvirt()
        if DUMP_GUEST not in lv.guests:
            say(f"defining guest {DUMP_GUEST} (2048 MiB, "
                f"{'KVM' if lv.can_use_kvm() else 'TCG'})")
            lv.define_guest(DUMP_GUEST, 2048)
        return DUMP_GUEST

    def stop(self):
        if self._libvirt is not None:
            self._libvirt.stop()
            self._libvirt = None
        shutil.rmtree(self.cache_root, ignore_errors=True)


def htdocs_dir(run_dir, name):
    d = Path(run_dir) / name
    d.mkdir(parents=True, exist_ok=True)
    os.chmod(d, 0o755)
    (d / "index.html").write_text("<!doctype html><title>bench</title>\n")
    return d


def static_copy(htdocs, name, body):
    """A static file holding exactly `body` (same size as the endpoint's answer)."""
    (htdocs / name).write_bytes(body)
    os.chmod(htdocs / name, 0o644)
    return name


def uncached_nginx(ctx, run_dir, ngx, name):
    """A second nginx like `ngx` (same site template, API pool and htdocs) with the
    live-state cache switched off: what memdump-api itself answers per request."""
    text = (harness.REPO / "conf/nginx/memdump.conf.in").read_text()
    off = text.replace("        fastcgi_cache memdump_live;\n", "        fastcgi_cache off;\n")
    if off == text:
        raise BenchError("conf/nginx/memdump.conf.in: no 'fastcgi_cache memdump_live;' line")
    tpl = Path(run_dir) / f"{name}.conf.in"
    tpl.write_text(off)
    return harness.Nginx(Path(run_dir) / name, htdocs=ngx.htdocs, api_upstream=ngx.api_upstream,
                         memdumpd_upstream=ngx.memdumpd_upstream, template=tpl,
                         extra=ngx.extra, **ctx.nginx_opts(name)).start()


def compare_uncached(ctx, section, run_dir, ngx, path, name, static):
    """`path` through an nginx without the cache, against the same static file."""
    nc = uncached_nginx(ctx, run_dir, ngx, f"nocache-{section}")
    try:
        url = nc.url + "api/memory-dumps/" + path
        ctx.wrk.run(url, duration=1)
        compare(section, f"{name} without nginx's cache (memdump-api answers every request)",
                ctx.wrk.run(url), static)
    finally:
        nc.stop()


def wait_dump(svc_url, did, states, timeout):
    """Poll memdumpd until the dump reaches one of `states`; returns (dump, t_reached)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st, body = http_json("GET", f"{svc_url}/api/dumps/{did}", headers=auth(), timeout=10)
        if st == 200 and body["dump"]["state"] in states:
            return body["dump"], time.monotonic()
        time.sleep(0.02)
    raise BenchError(f"dump {did} not in {states} after {timeout}s")


def start_dump(svc_url, vm):
    st, body = http_json("POST", f"{svc_url}/api/dumps", {"vm": vm, "format": "elf"},
                         headers=auth())
    if st != 202:
        raise BenchError(f"memdumpd POST /api/dumps {vm}: {st} {body}")
    return body["dump"]["dump_id"]


def wait_running(svc_url, did, timeout=60):
    """Until the dump is running with bytes flowing (or finished)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st, body = http_json("GET", f"{svc_url}/api/dumps/{did}", headers=auth(), timeout=10)
        d = body.get("dump") if st == 200 else None
        if d and (d["state"] in ("completed", "failed", "cancelled") or
                  (d["state"] == "running" and (d.get("bytes_written") or 0) > 0)):
            return d
        time.sleep(0.05)
    raise BenchError(f"dump {did} not running after {timeout}s")


def finish_dumps(svc_url, timeout=120):
    """Wait until memdumpd has no queued or running dump (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st, body = http_json("GET", f"{svc_url}/api/dumps?limit=1000", headers=auth())
        if st == 200 and not any(d["state"] in ("queued", "running") for d in body["dumps"]):
            return
        time.sleep(0.2)
    raise BenchError(f"memdumpd still dumping after {timeout}s")


def clear_dir(path):
    """Remove the dump files the bench left in a folder (memdumpd's journal stays) and
    flush the page cache's dirty pages, so the next run starts from the same disk state."""
    for p in Path(path).rglob("*"):
        if p.is_file() and p.suffix in (".elf", ".part", ".kdump", ".zlib"):
            p.unlink(missing_ok=True)
    run(["sync"], timeout=120)


def warm_page_cache(path, size=(2 << 30) + (512 << 20)):
    """Write `size` bytes to a file in `path` and delete it unsynced, right before a dump.

    On a virtual test machine with a free-page-reporting balloon, memory that stayed free
    for a few seconds goes back to the hypervisor, and the next 2 GiB of page cache then
    costs a host fault per page: the same buffered write of 2 GiB took 0.4 s or 2.6 s
    depending on what ran before it. Both sides get this warm-up, so the buffered
    baseline (`virsh dump`) always meets warm memory, its best case."""
    chunk = bytes(8 << 20)
    f = Path(path) / ".bench-warm"
    with open(f, "wb") as out:
        for _ in range(size // len(chunk)):
            out.write(chunk)
    f.unlink()


# --------------------------------------------------------------------------------------
# section: api
# --------------------------------------------------------------------------------------

def section_api(ctx):
    run_dir = ctx.run_dir / "api"
    htdocs = htdocs_dir(run_dir, "htdocs")
    guest = ctx.dump_guest()
    # the per-user trigger limit would answer most of the /trigger run 429: it measures
    # the trigger path, so the bench's user may trigger without limit
    st = harness.Stack(run_dir, ["redis", "influx", "libvirt", "memdumpd", "api", "nginx"],
                       libvirt=ctx.libvirt(), token=TOKEN, htdocs=htdocs, log_level="info",
                       api_workers=ctx.args.api_workers,
                       extra_config={"api": {"MEMDUMP_TRIGGER_RATE": 100000}},
                       **{f"nginx_{k}": v for k, v in ctx.nginx_opts("api").items()}).start()
    try:
        import redis
        r = redis.Redis.from_url(st.redis.url)
        svc = st.memdumpd.url
        seed_status(r, [svc], 50, 200, real_vms=[(guest, svc)])
        say("seeding 10 000 records into InfluxDB")
        seed_records(st.influx, st.influx_db, 10000)
        base = st.nginx.url.rstrip("/")
        api = base + "/api/memory-dumps"
        out = {}

        # /status
        code, body = http("GET", api + "/status")
        if code != 200:
            raise BenchError(f"/status answered {code}: {body[:300]!r}")
        n_active = len(json.loads(body).get("active", []))
        static_copy(htdocs, "status.json", body)
        ctx.wrk.run(api + "/status", duration=1)  # warm-up (connections, workers)
        ours = ctx.wrk.run(api + "/status")
        static = ctx.wrk.run(base + "/status.json")
        out["status"] = compare("api", f"/status ({n_active} active, {len(body)} B)", ours,
                                static, note="through the site's 1-2 s cache")
        if ours["p99"] is not None:
            verdict = "met" if out["status"] >= 0.5 and ours["p99"] < 5 else "MISSED"
            result("api", f"target /status >= 0.5x static rps and p99 < 5 ms at "
                          f"{ctx.args.connections} connections: {verdict}")
        compare_uncached(ctx, "api", run_dir, st.nginx, "status", "/status", static)

        # /records
        url = api + "/records?limit=100&offset=0"
        code, body = http("GET", url)
        if code != 200:
            raise BenchError(f"/records answered {code}: {body[:300]!r}")
        doc = json.loads(body)
        static_copy(htdocs, "records.json", body)
        ours = ctx.wrk.run(url)
        static = ctx.wrk.run(base + "/records.json")
        compare("api", f"/records?limit=100 ({len(doc.get('records', []))} of "
                       f"{doc.get('total')} records, {len(body)} B)", ours, static)
        # the same two InfluxQL statements the API sends (fcgi/history.c), straight to
        # InfluxDB: what the API costs on top of its database
        q = urllib.parse.urlencode({
            "db": st.influx_db,
            "q": "SELECT * FROM mem_dumps ORDER BY time DESC LIMIT 100 OFFSET 0; "
                 "SELECT COUNT(dump_id) FROM mem_dumps"})
        direct = ctx.wrk.run(f"{st.influx.url}/query?{q}")
        result("api", f"/records vs InfluxDB /query alone (same 2 statements): rps ratio "
                      f"{ratio(ours['rps'], direct['rps']):.2f} (ours {ours['rps']:.0f}/s vs "
                      f"{direct['rps']:.0f}/s); p50 {fmt_ms(ours['p50'])} vs "
                      f"{fmt_ms(direct['p50'])}; p99 {fmt_ms(ours['p99'])} vs "
                      f"{fmt_ms(direct['p99'])}")

        # /trigger: a dump of the guest runs during both runs (so both share the CPU with
        # it); every trigger then goes nginx -> worker -> Redis -> memdumpd and is refused
        # as already running.
        trig = json.dumps({"vms": [guest]})
        hdrs = {"Content-Type": "application/json"}
        finish_dumps(svc)
        did = start_dump(svc, guest)
        wait_running(svc, did)
        code, body = http("POST", api + "/trigger", trig.encode(), hdrs)
        static_copy(htdocs, "trigger.json", body)
        before = _dump_count(svc)
        ours = ctx.wrk.run(api + "/trigger", "POST", trig, hdrs)
        started = _dump_count(svc) - before
        d = http_json("GET", f"{svc}/api/dumps/{did}", headers=auth())[1]["dump"]
        bg = d["state"]
        finish_dumps(svc)
        did = start_dump(svc, guest)
        wait_running(svc, did)
        static = ctx.wrk.run(base + "/trigger.json")
        finish_dumps(svc)
        compare("api", f"/trigger ({code} {len(body)} B: {_trigger_summary(body)})", ours,
                static, note=f"{started} new dump(s) accepted during the run, background "
                             f"dump {bg} at its end; static baseline is GET")
        clear_dir(st.dump_dir)
    finally:
        st.stop()


def _dump_count(svc):
    st, body = http_json("GET", f"{svc}/api/dumps?limit=1000", headers=auth())
    return len(body.get("dumps", [])) if st == 200 else 0


def _trigger_summary(raw):
    try:
        doc = json.loads(raw)
        res = doc.get("results") or []
        errs = {(x.get("error") or {}).get("code") for x in res if x.get("status") != "accepted"}
        return f"accepted {doc.get('accepted')}, refused {doc.get('refused')}" + \
            (f" ({','.join(sorted(e for e in errs if e))})" if errs else "")
    except (ValueError, AttributeError):
        return raw[:80].decode("utf-8", "replace")


# --------------------------------------------------------------------------------------
# section: dump
# --------------------------------------------------------------------------------------

class PauseWatch:
    """`virsh event --loop --timestamp` on the guest: Suspended/Resumed times."""

    EV = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)([+-]\d{4}): event 'lifecycle' "
                    r"for domain '?([^':]+)'?: (\w+)")

    def __init__(self, lv, guest):
        self.lv, self.guest = lv, guest
        self.events = []
        self.proc = None

    def __enter__(self):
        self.proc = subprocess.Popen(
            self.lv.as_user + ["virsh", "-c", self.lv.uri, "event", "--domain", self.guest,
                               "--event", "lifecycle", "--loop", "--timestamp"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
            text=True, env=harness.child_env(), cwd="/", start_new_session=True)
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()
        time.sleep(0.5)  # registered before the dump starts
        return self

    def _read(self):
        for line in self.proc.stdout:
            m = self.EV.match(line.strip())
            if m:
                t = datetime.strptime(m.group(1) + m.group(2), "%Y-%m-%d %H:%M:%S.%f%z")
                self.events.append((t.timestamp(), m.group(4)))

    def __exit__(self, *exc):
        time.sleep(0.3)
        harness.stop_group(self.proc.pid, timeout=3)
        self.proc.wait(timeout=5)
        self._t.join(timeout=3)

    def pause_s(self):
        """Seconds between the first Suspended and the next Resumed, or None."""
        t0 = None
        for t, ev in self.events:
            if ev == "Suspended" and t0 is None:
                t0 = t
            elif ev == "Resumed" and t0 is not None:
                return t - t0
        return None


def section_dump(ctx):
    run_dir = ctx.run_dir / "dump"
    lv = ctx.libvirt()
    guest = ctx.dump_guest()
    st = harness.Stack(run_dir, ["influx", "libvirt", "memdumpd"], libvirt=lv, token=TOKEN,
                       log_level="info", max_concurrent=1).start()
    try:
        svc = st.memdumpd.url
        bare_dir = lv.user_dir("bench-bare")  # same filesystem as DUMP_DIR (lv.base)
        reps = 1 if ctx.quick else 3
        m = {"virsh": [], "virsh_sync": [], "virsh_hash": [], "ours": [], "ours_done": [],
             "pause_virsh": [], "pause_ours": []}
        for rep in range(reps):
            # alternate the order so neither side always runs on a warmer machine
            order = (dump_bare, dump_ours) if rep % 2 == 0 else (dump_ours, dump_bare)
            for fn in order:
                fn(ctx, lv, guest, st, svc, bare_dir, rep, reps, m)
        pick = {k: min((x for x in v if x is not None), default=None) for k, v in m.items()}
        v, vs, vh = pick["virsh"], pick["virsh_sync"], pick["virsh_hash"]
        o, od = pick["ours"], pick["ours_done"]
        result("dump", f"memdumpd (POST -> completed -> record in InfluxDB) {o:.2f}s vs bare "
                       f"virsh dump {v:.2f}s: ratio {ratio(o, v):.3f} (target <= 1.10: "
                       f"{'met' if ratio(o, v) <= 1.10 else 'MISSED'})")
        result("dump", f"memdumpd {o:.2f}s vs virsh dump + sync of the file {vs:.2f}s "
                       f"(memdumpd fsyncs before 'completed'): ratio {ratio(o, vs):.3f}")
        result("dump", f"memdumpd {o:.2f}s vs virsh dump + sha256sum {vh:.2f}s: ratio "
                       f"{ratio(o, vh):.3f} (target < 1: {'met' if o < vh else 'MISSED'})")
        pv, pm = pick["pause_virsh"], pick["pause_ours"]
        if pv and pm:
            result("dump", f"guest paused {pm:.2f}s under memdumpd vs {pv:.2f}s under bare "
                           f"virsh dump: ratio {ratio(pm, pv):.3f}")
        else:
            result("dump", f"guest pause not seen in libvirt events: {pv} {pm}")
        spread = "; ".join(f"{k}={[round(x, 2) for x in v if x is not None]}"
                           for k, v in m.items())
        result("dump", f"best of {reps} (2 GiB guest, {'KVM' if lv.can_use_kvm() else 'TCG'}, "
                       f"ELF); all runs in s: {spread}")
    finally:
        st.stop()
        shutil.rmtree(lv.base / "bench-bare", ignore_errors=True)


def dump_bare(ctx, lv, guest, st, svc, bare_dir, rep, reps, m):
    """virsh dump --memory-only to a file, then sync of it, then sha256sum of it."""
    path = bare_dir / f"bench-{rep}.elf"
    warm_page_cache(bare_dir)
    with PauseWatch(lv, guest) as pw:
        t0 = time.monotonic()
        lv.run(["virsh", "-c", lv.uri, "dump", "--memory-only", "--format", "elf",
                guest, str(path)], timeout=600)
        t1 = time.monotonic()
    size = path.stat().st_size
    run(["sync", str(path)], timeout=300)
    t2 = time.monotonic()
    sha = run(["sha256sum", str(path)], timeout=600).stdout.split()[0]
    t3 = time.monotonic()
    m["virsh"].append(t1 - t0)
    m["virsh_sync"].append(t2 - t0)
    m["virsh_hash"].append((t1 - t0) + (t3 - t2))
    m["pause_virsh"].append(pw.pause_s())
    say(f"virsh dump {rep + 1}/{reps}: {t1 - t0:.2f}s for {size / GIB:.2f} GiB, sync "
        f"{t2 - t1:.2f}s, sha256sum {t3 - t2:.2f}s ({sha[:12]}…), pause {pw.pause_s()}")
    path.unlink()
    run(["sync"], timeout=120)


def dump_ours(ctx, lv, guest, st, svc, bare_dir, rep, reps, m):
    """memdumpd: POST, completed (dump + SHA-256 + fsync), record visible in InfluxDB."""
    warm_page_cache(bare_dir)
    with PauseWatch(lv, guest) as pw:
        t0 = time.monotonic()
        did = start_dump(svc, guest)
        d, t_done = wait_dump(svc, did, ("completed", "failed", "cancelled"), 600)
        if d["state"] != "completed":
            raise BenchError(f"memdumpd dump {did} {d['state']}: {d.get('error')}")
        t_rec = wait_record(st.influx, st.influx_db, did, 60)
    m["ours_done"].append(t_done - t0)
    m["ours"].append(t_rec - t0)
    m["pause_ours"].append(pw.pause_s())
    say(f"memdumpd dump {rep + 1}/{reps}: completed after {t_done - t0:.2f}s, record after "
        f"{t_rec - t0:.2f}s, size {(d.get('size_bytes') or 0) / GIB:.2f} GiB, sha256 "
        f"{str(d.get('sha256'))[:12]}…, duration_s {d.get('duration_s')}, pause {pw.pause_s()}")
    clear_dir(st.dump_dir)


def wait_record(influx, db, did, timeout):
    q = f"SELECT dump_id FROM mem_dumps WHERE dump_id = '{did}'"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        res = influx.query(q, db=db)
        if res.get("results", [{}])[0].get("series"):
            return time.monotonic()
        time.sleep(0.02)
    raise BenchError(f"no mem_dumps record for {did} after {timeout}s")


# --------------------------------------------------------------------------------------
# section: scale
# --------------------------------------------------------------------------------------

def test_driver_xml(host, n):
    doms = "\n".join(
        f"  <domain type='test'><name>{host}-vm{j:03d}</name>"
        f"<memory unit='MiB'>{256 << (j % 4)}</memory><vcpu>1</vcpu>"
        f"<os><type>hvm</type></os></domain>" for j in range(n))
    return f"<node>\n{doms}\n</node>\n"


def section_scale(ctx):
    run_dir = ctx.run_dir / "scale"
    lv = ctx.libvirt()
    htdocs = htdocs_dir(run_dir, "htdocs")
    n_hosts, per_host = 4, 250
    started = []
    try:
        redis_srv = harness.Redis(run_dir).start()
        started.append(redis_srv)
        influx = harness.Influx(run_dir).start()
        started.append(influx)
        influx.create_db("vmstats")
        common = {"MEMDUMP_LOG_LEVEL": "info", "MEMDUMP_SERVICE_TOKEN": TOKEN,
                  "INFLUX_URL": influx.url, "INFLUX_DB": "vmstats", "REDIS_URL": redis_srv.url}
        services = []
        for h in range(n_hosts):
            d = lv.user_dir(f"scale-{h}")
            xml = d / "node.xml"
            xml.write_text(test_driver_xml(f"kvm{h + 1}", per_host))
            os.chmod(xml, 0o644)
            m = harness.Memdumpd(run_dir, {**common, "LIBVIRT_URI": f"test://{xml}",
                                           "DUMP_DIR": str(d / "dumps"),
                                           "MEMDUMP_HOST_NAME": f"kvm{h + 1}"},
                                 prefix=lv.as_user)
            m.name = f"memdumpd-{h}"
            m.dir = run_dir / m.name
            m.dir.mkdir(exist_ok=True)
            m.log_path = m.dir / "memdumpd.log"
            lv.user_dir(f"scale-{h}/dumps")
            m.start()
            started.append(m)
            services.append(m)
        urls = [m.url for m in services]
        for u in urls:
            st, body = http_json("GET", u + "/api/vms", headers=auth())
            if st != 200 or len(body.get("vms", [])) != per_host:
                raise BenchError(f"{u}/api/vms: {st}, {len(body.get('vms', []))} VMs "
                                 f"(want {per_host}): {str(body)[:200]}")

        # baseline: one sequential round of the calls a cycle needs, from this script
        t0 = time.monotonic()
        for u in urls:
            for path in ("/api/health", "/api/vms", "/api/dumps?limit=200"):
                http("GET", u + path, headers=auth())
        base_ms = (time.monotonic() - t0) * 1000

        poller = harness.Poller(run_dir, {**common, "MEMDUMP_SERVICE_URL": ",".join(urls),
                                          "MEMDUMP_POLL_INTERVAL": 1})
        poller.start()
        started.append(poller)
        import redis
        r = redis.Redis.from_url(redis_srv.url)
        cycles = poll_cycles(r, 5 if ctx.quick else 10, 60)
        n_vms = r.hlen("memdump:vms")
        poller_rss = program_rss(poller)
        if cycles:
            cyc = sorted(cycles)
            med = cyc[len(cyc) // 2]
            result("scale", f"poller cycle over {n_hosts} memdumpd x {per_host} test-driver "
                            f"domains ({n_vms} VMs in Redis): median {med:.1f} ms, max "
                            f"{cyc[-1]:.1f} ms over {len(cyc)} cycles; ratio "
                            f"{ratio(med, base_ms):.2f} against one sequential round of "
                            f"health+vms+dumps from Python ({base_ms:.1f} ms); poller RSS "
                            f"{poller_rss[0] / 1024:.1f} MiB")
        else:
            result("scale", "poller wrote no memdump:poller cycle_ms within 60 s")
        poller.stop()
        started.remove(poller)

        # /status with 1 000 VMs and 200 active dumps across the four URLs
        r.delete("memdump:active", "memdump:latest")
        seed_status(r, urls, 200, 0 if n_vms >= 1000 else 1000,
                    real_vms=[(k.decode(), json.loads(v)["service"])
                              for k, v in r.hgetall("memdump:vms").items()])
        api = harness.Api(run_dir, {**common, "MEMDUMP_SERVICE_URL": ",".join(urls),
                                    "MEMDUMP_API_WORKERS": ctx.args.api_workers,
                                    "DUMP_DIR": str(lv.base / "scale-0" / "dumps")})
        api.start()
        started.append(api)
        ngx = harness.Nginx(run_dir, htdocs=htdocs, api_upstream=api.upstream,
                            memdumpd_upstream=f"127.0.0.1:{services[0].port}",
                            extra={"DUMP_DIR": str(lv.base / "scale-0" / "dumps")},
                            **ctx.nginx_opts("scale"))
        ngx.start()
        started.append(ngx)
        base = ngx.url.rstrip("/")
        code, body = http("GET", base + "/api/memory-dumps/status")
        if code != 200:
            raise BenchError(f"/status answered {code}: {body[:300]!r}")
        doc = json.loads(body)
        static_copy(htdocs, "status.json", body)
        ctx.wrk.run(base + "/api/memory-dumps/status", duration=1)
        ours = ctx.wrk.run(base + "/api/memory-dumps/status")
        static = ctx.wrk.run(base + "/status.json")
        compare("scale", f"/status with {r.hlen('memdump:vms')} VMs, "
                         f"{len(doc.get('active', []))} active dumps, "
                         f"{len(doc.get('services', []))} services ({len(body)} B)",
                ours, static, note="through the site's 1-2 s cache")
        compare_uncached(ctx, "scale", run_dir, ngx, "status", "/status (scale)", static)
        code, body = http("GET", base + "/api/memory-dumps/vms")
        if code == 200:
            static_copy(htdocs, "vms.json", body)
            ours = ctx.wrk.run(base + "/api/memory-dumps/vms")
            static = ctx.wrk.run(base + "/vms.json")
            compare("scale", f"/vms with {len(json.loads(body).get('vms', []))} VMs "
                             f"({len(body)} B)", ours, static,
                    note="through the site's 1-2 s cache")
            compare_uncached(ctx, "scale", run_dir, ngx, "vms", "/vms (scale)", static)
    finally:
        for s in reversed(started):
            s.stop()


def poll_cycles(r, want, timeout):
    """cycle_ms of `want` distinct poller cycles from memdump:poller (bounded)."""
    seen, out = set(), []
    deadline = time.monotonic() + timeout
    while len(out) < want and time.monotonic() < deadline:
        raw = r.get("memdump:poller")
        if raw:
            doc = json.loads(raw)
            key = doc.get("last_cycle")
            if key not in seen and doc.get("cycle_ms") is not None:
                seen.add(key)
                if len(seen) > 1:  # the first cycle fills an empty Redis: skip it
                    out.append(float(doc["cycle_ms"]))
        time.sleep(0.1)
    return out


# --------------------------------------------------------------------------------------
# section: memory
# --------------------------------------------------------------------------------------

def section_memory(ctx):
    run_dir = ctx.run_dir / "memory"
    guest = ctx.dump_guest()
    st = harness.Stack(run_dir, "full", libvirt=ctx.libvirt(), token=TOKEN, log_level="info",
                       api_workers=ctx.args.api_workers, poll_interval=1,
                       **{f"nginx_{k}": v for k, v in ctx.nginx_opts("memory").items()}).start()
    try:
        progs = (st.memdumpd, st.poller, st.api)
        time.sleep(3)  # a few poller cycles
        rest = {p.binary: program_rss(p) for p in progs}
        svc = st.memdumpd.url
        did = start_dump(svc, guest)
        wait_running(svc, did)
        with RssSampler(progs) as sampler:
            ctx.wrk.run(st.nginx.url + "api/memory-dumps/status")
            d, _ = wait_dump(svc, did, ("completed", "failed", "cancelled"), 600)
            time.sleep(1.5)  # the poller sees it finish
        for p in progs:
            kib0, n0 = rest[p.binary]
            kib1, n1 = sampler.peak[p.binary]
            result("memory", f"{p.binary}: VmRSS at rest {kib0 / 1024:.1f} MiB ({n0} proc), "
                             f"peak under load {kib1 / 1024:.1f} MiB ({n1} proc): ratio "
                             f"{ratio(kib1, kib0):.2f}")
        result("memory", f"load = one 2 GiB dump ({d['state']}) + wrk -c"
                         f"{ctx.args.connections} on /status for {ctx.duration}s + poller at 1 s")
        clear_dir(st.dump_dir)
    finally:
        st.stop()


# --------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", default=",".join(SECTIONS),
                    help=f"comma-separated sections to run: {','.join(SECTIONS)}")
    ap.add_argument("--quick", action="store_true", help="shorter runs, one repetition")
    ap.add_argument("--duration", type=int, default=0, help="seconds per wrk run")
    half = max(1, (os.cpu_count() or 2) // 2)
    ap.add_argument("--threads", type=int, default=half,
                    help="wrk threads (default: half the cores, the other half serves)")
    ap.add_argument("--nginx-workers", type=int, default=half,
                    help="nginx worker_processes (default: half the cores)")
    ap.add_argument("--connections", type=int, default=64, help="wrk connections")
    ap.add_argument("--api-workers", type=int, default=4, help="memdump-api workers")
    ap.add_argument("--keep", action="store_true", help="keep the run folder (logs)")
    args = ap.parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    bad = [s for s in only if s not in SECTIONS]
    if bad:
        ap.error(f"unknown section(s) {','.join(bad)}; known: {','.join(SECTIONS)}")
    missing = [b for b in ("memdumpd", "memdump-poller", "memdump-api")
               if not os.access(harness.bin_dir() / b, os.X_OK)]
    if missing:
        print(f"bench: {', '.join(missing)} not built in {harness.bin_dir()} "
              f"(set MEMDUMP_BIN_DIR or run make)", file=sys.stderr)
        return 1

    run_dir = Path(tempfile.mkdtemp(prefix="memdump-bench-"))
    os.chmod(run_dir, 0o755)
    ctx = Ctx(args, run_dir)
    failed = []
    say(f"memdump bench: sections {','.join(only)}; {os.cpu_count()} cores; wrk -t{args.threads} "
        f"-c{args.connections} -d{ctx.duration}s; nginx {args.nginx_workers} worker(s), cache "
        f"in {ctx.cache_root}; binaries {harness.bin_dir()}; run {run_dir}")
    try:
        for name in only:
            say(f"== {name}")
            t0 = time.monotonic()
            try:
                globals()[f"section_{name}"](ctx)
            except Exception as e:  # noqa: BLE001 - report and go on with the next section
                failed.append(name)
                print(f"  ERROR {name}: {e}", file=sys.stderr)
                traceback.print_exc(limit=3)
            say(f"== {name} took {time.monotonic() - t0:.0f}s")
    finally:
        ctx.stop()
        harness.stop_everything()
        if args.keep or failed:
            print(f"bench: logs kept in {run_dir}")
        else:
            shutil.rmtree(run_dir, ignore_errors=True)
    print("\n== summary (ratios: ours / baseline measured in this run)")
    for sec, text in RESULTS:
        print(f"{sec:7} {text}")
    if failed:
        print(f"\nsections that broke: {', '.join(failed)}")
    print(f"total {time.monotonic() - T0:.0f}s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
