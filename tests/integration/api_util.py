"""Helpers for tests/integration/test_api.py: a stack of real Redis + InfluxDB +
memdump-api + nginx without memdumpd (for the read endpoints, seeded through the
documented Redis schema and InfluxDB measurement), worker-process lookup, and
seeding functions. Nothing here imitates one of our programs."""

import json
import os
import time

import redis
import requests

import stack as harness

API = "api/memory-dumps/"

# headers of a request that carries no credential at all: conftest's autouse fixture sees
# an Authorization key and adds nothing, and requests drops a header whose value is None
NO_AUTH = {"Authorization": None}


def children(pid):
    """Pids whose parent is pid (the api master's workers)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat", "rb") as f:
                data = f.read().decode("ascii", "replace")
        except OSError:
            continue
        fields = data[data.rindex(")") + 2:].split()
        if int(fields[1]) == pid and fields[0] not in ("Z", "X"):
            out.append(int(d))
    return sorted(out)


def wait_for(pred, timeout=30, what="condition", interval=0.1):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached after {timeout}s")
        time.sleep(interval)


class ReadStack:
    """Redis + memdump-api + nginx on a given influxd; memdumpd is a URL nobody
    listens on (the read endpoints never call it). The API has the harness's accounts
    (`accounts`: as harness.Api; extra={"MEMDUMP_AUTH": "none"} for none): once started,
    `credentials` (role -> user, password, token), `auth_headers(role)`,
    `accounts_path` and `audit_spool` are the API's."""

    def __init__(self, run_dir, influx, influx_db, workers=2, service_url=None, extra=None,
                 accounts="default"):
        self.influx = influx
        self.influx_db = influx_db
        self.redis = harness.Redis(run_dir)
        self.service_url = service_url or f"http://127.0.0.1:{harness.free_port()}"
        self.api = None
        self.nginx = None
        self.run_dir = run_dir
        self.workers = workers
        self.extra = extra or {}
        self.accounts = accounts

    def start(self):
        self.redis.start()
        self.api = harness.Api(self.run_dir, {
            "REDIS_URL": self.redis.url, "INFLUX_URL": self.influx.url,
            "INFLUX_DB": self.influx_db, "MEMDUMP_API_WORKERS": self.workers,
            "MEMDUMP_LOG_LEVEL": "debug", "MEMDUMP_SERVICE_URL": self.service_url,
            "MEMDUMP_SERVICE_TIMEOUT": 5, **self.extra}, accounts=self.accounts).start()
        self.nginx = harness.Nginx(self.run_dir, api_upstream=self.api.upstream,
                                   memdumpd_upstream=self.service_url[len("http://"):],
                                   api=self.api).start()
        return self

    def stop(self):
        for s in (self.nginx, self.api, self.redis):
            if s is not None:
                s.stop()

    @property
    def base(self):
        return self.nginx.url + API

    @property
    def credentials(self):
        return self.api.credentials

    def auth_headers(self, role="admin"):
        return self.api.auth_headers(role)

    @property
    def accounts_path(self):
        return self.api.accounts_path

    @property
    def audit_spool(self):
        return self.api.audit_spool

    def r(self):
        return redis.Redis.from_url(self.redis.url)


def dump_obj(dump_id, vm, state="completed", service="http://127.0.0.1:1", **kw):
    d = {"dump_id": dump_id, "vm": vm, "host": "kvm1", "service": service, "format": "elf",
         "state": state, "progress": 100 if state == "completed" else 40,
         "bytes_written": 1024, "bytes_total": 2048, "rate_bps": None, "eta_s": None,
         "created_at": "2026-11-22T18:30:00.120Z", "started_at": "2026-11-22T18:30:00.180Z",
         "finished_at": None, "duration_s": None,
         "path": f"/var/dumps/{vm}/{vm}-{dump_id}.elf", "size_bytes": None, "sha256": None,
         "error": None}
    d.update(kw)
    return d


def seed_redis(r, service):
    """The documented schema (docs/redis-schema.md) as the poller writes it."""
    active = dump_obj("20261122T183000Z-0123456789ab", "web-server", "running",
                      service=service, requested_by="alice")
    done = dump_obj("20261122T170000Z-aaaaaaaaaaaa", "db-server", "completed",
                    service=service, requested_by=None, size_bytes=2048,
                    sha256="ab" * 32, duration_s=1.5,
                    finished_at="2026-11-22T17:00:02.000Z")
    vms = {
        name: {"name": name, "uuid": f"uuid-{name}", "state": "running",
               "memory_bytes": 268435456, "vcpus": 1, "host": "kvm1", "service": service}
        for name in ("web-server", "db-server", "cache-server")}
    health = {"service": service, "host": "kvm1", "reachable": False,
              "last_success": None, "last_error": "connection refused", "latency_ms": None,
              "checked_at": "2026-11-22T18:30:00.000Z"}
    p = r.pipeline()
    p.hset("memdump:active", active["dump_id"], json.dumps(active))
    for d in (active, done):
        p.set(f"memdump:dump:{d['dump_id']}", json.dumps(d))
    p.hset("memdump:latest", "web-server", json.dumps(active))
    p.hset("memdump:latest", "db-server", json.dumps(done))
    for name, vm in vms.items():
        p.hset("memdump:vms", name, json.dumps(vm))
    p.hset("memdump:health", service, json.dumps(health))
    p.set("memdump:last_trigger", json.dumps({"at": "2026-11-22T18:29:59.000Z",
                                              "vms": ["web-server"], "accepted": 1,
                                              "refused": 0}))
    p.execute()
    return active, done


def seed_influx(influx, db, points):
    """points: (time_ms, vm, state, size_bytes, duration_s, dump_id[, requested_by]) per
    finished dump, in the mem_dumps schema of docs/influxdb.md (no requested_by, or None:
    a point as versions before it wrote them)."""
    lines = []
    for t, vm, state, size, dur, did, *rest in points:
        by = rest[0] if rest else None
        vm_tag = vm.replace(",", "\\,").replace(" ", "\\ ").replace("=", "\\=")
        fields = [f'dump_id="{did}"', f'path="/var/dumps/{did}.elf"', f"duration_s={dur}"]
        if by is not None:
            fields.append(f'requested_by="{by}"')
        if size is not None:
            fields.append(f"size_bytes={size}i")
            fields.append(f'sha256="{"cd" * 32}"')
        if state != "completed":
            fields.append('error="it went wrong"')
        lines.append(f"mem_dumps,format=elf,host=kvm1,state={state},vm={vm_tag} "
                     f"{','.join(fields)} {t * 1000000}")
    assert influx.write(lines, db=db) == 204


def get(base, path, **kw):
    kw.setdefault("timeout", 30)
    return requests.get(base + path, **kw)


def assert_error(resp, status, code):
    assert resp.status_code == status, (resp.status_code, resp.text)
    assert resp.headers["Content-Type"].startswith("application/json"), resp.headers
    body = resp.json()
    assert body["error"]["code"] == code, body
    assert body["error"]["message"]
    return body
