"""memdumpd against real libvirt + QEMU (TCG) guests, a real InfluxDB and its own
journal: dumps, hashes, queue limits, cancel, restart, spool, disk guard, token, bad input.
Guests: the session's demo guests (256 MiB), plus this module's "md-big" (2 GiB, so a
dump stays observable while running) and "md-small" (128 MiB, a fourth VM)."""

import hashlib
import json
import os
import signal
import time
from pathlib import Path

import pytest
import requests

import stack as harness

MIB = 1024 * 1024
BIG = "md-big"
BIG_MIB = 2048  # zero pages dump fast: big enough to be seen running, never touched in RAM
SMALL = "md-small"


# ---------------------------------------------------------------------- helpers

class Md:
    """A small client of one memdumpd."""

    def __init__(self, st, token=None):
        self.st = st
        self.url = st.memdumpd.url
        self.s = requests.Session()
        if token:
            self.s.headers["Authorization"] = f"Bearer {token}"

    def req(self, method, path, **kw):
        kw.setdefault("timeout", 30)
        return self.s.request(method, self.url + path, **kw)

    def create(self, vm, fmt=None, requested_by=None):
        body = {"vm": vm}
        if fmt:
            body["format"] = fmt
        if requested_by is not None:
            body["requested_by"] = requested_by
        return self.req("POST", "/api/dumps", json=body)

    def get(self, dump_id):
        r = self.req("GET", f"/api/dumps/{dump_id}")
        assert r.status_code == 200, r.text
        return r.json()["dump"]

    def wait(self, dump_id, pred, what, timeout=120):
        deadline = time.monotonic() + timeout
        while True:
            d = self.get(dump_id)
            if pred(d):
                return d
            assert time.monotonic() < deadline, \
                f"{what}: last {d}\n{self.st.memdumpd.log_text()[-3000:]}"
            time.sleep(0.05)

    def wait_final(self, dump_id, timeout=180):
        return self.wait(dump_id, lambda d: d["state"] in ("completed", "failed", "cancelled"),
                         "dump finished", timeout)

    def wait_streaming(self, dump_id):
        return self.wait(dump_id, lambda d: d["state"] == "running" and d["bytes_written"] > 0
                         or d["state"] in ("completed", "failed", "cancelled"), "dump streaming")


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def files_under(d):
    return sorted(str(p.relative_to(d)) for p in Path(d).rglob("*")
                  if p.is_file() or p.is_fifo()) if Path(d).exists() else []


def dump_files(st):
    """Files in DUMP_DIR outside memdumpd's own .memdumpd folder."""
    return [f for f in files_under(st.dump_dir) if not f.startswith(".memdumpd/")]


def influx_record(influx, db, dump_id, timeout=60):
    deadline = time.monotonic() + timeout
    q = f"SELECT * FROM mem_dumps WHERE dump_id = '{dump_id}'"
    while True:
        res = influx.query(q, db=db)["results"][0]
        if "series" in res:
            s = res["series"][0]
            return dict(zip(s["columns"], s["values"][0]))
        assert time.monotonic() < deadline, f"no InfluxDB record for {dump_id}"
        time.sleep(0.2)


def new_stack(tmp_path, libvirt_session, influx_server=None, name="md", **kw):
    kw.setdefault("libvirt", libvirt_session)
    if influx_server is not None:
        kw.setdefault("influx", influx_server)
        kw.setdefault("influx_db", f"md_{os.getpid()}_{name}_{time.monotonic_ns()}")
    return harness.Stack(tmp_path / name, ["memdumpd"], **kw).start()


# ---------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def guests(libvirt_session, demo_guests):
    for name, mib in ((BIG, BIG_MIB), (SMALL, 128)):
        if name not in libvirt_session.guests:
            libvirt_session.define_guest(name, mib)
    yield demo_guests + [BIG, SMALL]
    for name in (BIG, SMALL):
        libvirt_session.destroy_guest(name)


@pytest.fixture(scope="module")
def shared(tmp_path_factory, libvirt_session, influx_server, guests):
    """One memdumpd (max 2 concurrent) for the tests that need nothing special."""
    st = new_stack(tmp_path_factory.mktemp("md-shared"), libvirt_session, influx_server,
                   name="shared", extra_config={"memdumpd": {"MEMDUMP_DISK_RESERVE_MB": 0}})
    yield st
    st.stop()


@pytest.fixture
def md(shared):
    assert shared.memdumpd.alive(), shared.memdumpd.log_text()[-3000:]
    return Md(shared)


# ---------------------------------------------------------------------- tests

def test_dump_completes_hash_matches_file_and_influx(md, shared, influx_server):
    r = md.create("web-server")
    assert r.status_code == 202, r.text
    d = r.json()["dump"]
    assert d["vm"] == "web-server" and d["format"] == "elf"
    assert d["state"] in ("queued", "running")
    d = md.wait_final(d["dump_id"])
    assert d["state"] == "completed", d
    assert d["progress"] == 100 and d["error"] is None
    path = Path(d["path"])
    assert path.parent.parent == shared.dump_dir and path.name.endswith(".elf")
    st = path.stat()
    assert st.st_mode & 0o777 == 0o600
    assert st.st_size == d["size_bytes"] >= 256 * MIB
    assert sha256_file(path) == d["sha256"]
    with open(path, "rb") as f:
        assert f.read(4) == b"\x7fELF"
    assert not [f for f in dump_files(shared) if f.endswith((".part", ".fifo"))]

    rec = influx_record(influx_server, shared.influx_db, d["dump_id"])
    assert rec["sha256"] == d["sha256"]
    assert rec["size_bytes"] == d["size_bytes"]
    assert rec["vm"] == "web-server" and rec["state"] == "completed" and rec["format"] == "elf"
    assert rec["path"] == d["path"] and rec["duration_s"] >= 0
    assert rec["host"] == d["host"]

    # listed, and the file can be downloaded whole or by range
    listed = md.req("GET", "/api/dumps", params={"vm": "web-server", "state": "completed"})
    assert d["dump_id"] in [x["dump_id"] for x in listed.json()["dumps"]]
    whole = md.req("GET", f"/api/dumps/{d['dump_id']}/file")
    assert whole.status_code == 200
    assert hashlib.sha256(whole.content).hexdigest() == d["sha256"]
    assert whole.headers["X-Dump-SHA256"] == d["sha256"]
    assert whole.headers["Accept-Ranges"] == "bytes"
    assert "attachment" in whole.headers["Content-Disposition"]
    with open(path, "rb") as f:
        f.seek(1000)
        expect = f.read(4001)
        f.seek(st.st_size - 10)
        tail = f.read()
    part = md.req("GET", f"/api/dumps/{d['dump_id']}/file", headers={"Range": "bytes=1000-5000"})
    assert part.status_code == 206 and part.content == expect
    assert part.headers["Content-Range"] == f"bytes 1000-5000/{st.st_size}"
    suffix = md.req("GET", f"/api/dumps/{d['dump_id']}/file", headers={"Range": "bytes=-10"})
    assert suffix.status_code == 206 and suffix.content == tail


def test_requested_by_in_dump_journal_and_influx(md, shared, influx_server):
    r = md.create(SMALL, requested_by="alice")
    assert r.status_code == 202, r.text
    d = r.json()["dump"]
    assert d["requested_by"] == "alice"
    journal = shared.dump_dir / ".memdumpd" / "journal" / f"{d['dump_id']}.json"
    d = md.wait_final(d["dump_id"])
    assert d["state"] == "completed" and d["requested_by"] == "alice", d
    listed = md.req("GET", "/api/dumps", params={"vm": SMALL}).json()["dumps"]
    assert [x["requested_by"] for x in listed if x["dump_id"] == d["dump_id"]] == ["alice"]
    assert json.loads(journal.read_text())["requested_by"] == "alice"
    rec = influx_record(influx_server, shared.influx_db, d["dump_id"])
    assert rec["requested_by"] == "alice"
    # a string field, not a tag: it is not among the series' tag keys
    keys = influx_server.query("SHOW TAG KEYS FROM mem_dumps", db=shared.influx_db)
    tags = [v[0] for s in keys["results"][0].get("series", []) for v in s["values"]]
    assert "requested_by" not in tags and "vm" in tags

    # absent: null everywhere, and no field in the point
    r = md.create(SMALL)
    assert r.status_code == 202, r.text
    d = md.wait_final(r.json()["dump"]["dump_id"])
    assert d["state"] == "completed" and d["requested_by"] is None, d
    rec = influx_record(influx_server, shared.influx_db, d["dump_id"])
    assert rec["requested_by"] is None

    # refused, naming the member; nothing queued
    r = md.create(SMALL, requested_by="bob;drop")
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["code"] == "invalid_field" and "requested_by" in err["message"]


def test_concurrency_limit_two_running_two_queued(md):
    ids = []
    for vm in ("web-server", "db-server", "cache-server", SMALL):
        r = md.create(vm)
        assert r.status_code == 202, r.text
        ids.append(r.json()["dump"]["dump_id"])
    states = [md.get(i)["state"] for i in ids]
    assert states.count("running") <= 2
    health = md.req("GET", "/api/health").json()
    assert health["queue"]["max_concurrent"] == 2
    assert health["queue"]["running"] <= 2
    done = [md.wait_final(i) for i in ids]
    assert [d["state"] for d in done] == ["completed"] * 4, done
    # never more than two running at once, first come first served
    events = sorted([(d["started_at"], 1) for d in done] + [(d["finished_at"], -1) for d in done],
                    key=lambda e: (e[0], e[1]))
    running = peak = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    assert peak <= 2
    starts = [d["started_at"] for d in done]
    assert starts[2] >= min(done[0]["finished_at"], done[1]["finished_at"])
    assert starts[3] >= min(done[0]["finished_at"], done[1]["finished_at"])


def test_cancel_running_dump_keeps_guest_and_leaves_no_file(md, shared, libvirt_session):
    r = md.create(BIG)
    assert r.status_code == 202, r.text
    dump_id = r.json()["dump"]["dump_id"]
    d = md.wait_streaming(dump_id)
    assert d["state"] == "running", "the 2 GiB dump finished before it could be cancelled"
    assert d["bytes_total"] >= BIG_MIB * MIB
    c = md.req("DELETE", f"/api/dumps/{dump_id}")
    assert c.status_code == 200, c.text
    d = c.json()["dump"]
    assert d["state"] == "cancelled" and d["error"]
    assert md.get(dump_id)["state"] == "cancelled"
    vmdir = Path(d["path"]).parent
    assert not any(p.name.startswith(Path(d["path"]).name) or p.name.endswith(".fifo")
                   for p in vmdir.iterdir())
    harness.wait_until(lambda: libvirt_session.domstate(BIG) == "running", 30, "guest running")
    again = md.req("DELETE", f"/api/dumps/{dump_id}")
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
    nofile = md.req("GET", f"/api/dumps/{dump_id}/file")
    assert nofile.status_code == 409
    rec = influx_record(shared.influx, shared.influx_db, dump_id)
    assert rec["state"] == "cancelled"


def test_duplicate_request_is_409_naming_the_dump(md):
    r = md.create(BIG)
    assert r.status_code == 202, r.text
    first = r.json()["dump"]["dump_id"]
    try:
        dup = md.create(BIG)
        assert dup.status_code == 409, dup.text
        err = dup.json()["error"]
        assert err["code"] == "dump_in_progress"
        assert err["dump_id"] == first and first in err["message"]
    finally:
        md.req("DELETE", f"/api/dumps/{first}")
    assert md.wait_final(first)["state"] in ("cancelled", "completed")


def test_unknown_vm_is_404(md):
    r = md.create("no-such-vm")
    assert r.status_code == 404
    assert r.json()["error"] == {"code": "vm_not_found", "message": "Domain not found: no-such-vm"}


def test_vms_and_health(md, guests):
    r = md.req("GET", "/api/vms")
    assert r.status_code == 200
    vms = {v["name"]: v for v in r.json()["vms"]}
    assert set(guests) <= set(vms)
    assert vms[BIG]["memory_bytes"] == BIG_MIB * MIB and vms[BIG]["state"] == "running"
    assert len(vms[BIG]["uuid"]) == 36 and vms[BIG]["vcpus"] == 1
    h = md.req("GET", "/api/health").json()
    assert h["status"] == "ok" and h["libvirt"]["ok"] and h["influx"]["ok"]
    assert h["disk"]["free_bytes"] > 0 and h["host"]


def test_kdump_zlib_completes_and_lzo_reports_qemu_error(md):
    r = md.create("cache-server", "kdump-zlib")
    assert r.status_code == 202, r.text
    d = md.wait_final(r.json()["dump"]["dump_id"])
    assert d["state"] == "completed", d
    assert d["path"].endswith(".kdump") and d["format"] == "kdump-zlib"
    assert sha256_file(d["path"]) == d["sha256"]
    assert 0 < d["size_bytes"] < 256 * MIB  # compressed
    r = md.create("cache-server", "kdump-lzo")
    assert r.status_code == 202, r.text
    d = md.wait_final(r.json()["dump"]["dump_id"])
    assert d["state"] == "failed"
    assert "lzo" in d["error"].lower() and "unsupported" in d["error"].lower(), d["error"]
    assert not [f for f in dump_files(md.st) if f.endswith((".part", ".fifo"))]


BAD_BODIES = [
    (b"{", "invalid_json"),
    (b"[]", "invalid_field"),
    (b'{"vm": 5}', "invalid_field"),
    (b'{"vm": "a/b"}', "invalid_field"),
    (b'{"vm": ".."}', "invalid_field"),
    (b'{"vm": "a\\u0000b"}', "invalid_json"),  # jansson refuses NUL in strings
    (('{"vm": "' + "x" * 10000 + '"}').encode(), "invalid_field"),
    (b'{"vm": "web-server", "format": "zip"}', "invalid_field"),
    (b'{"vm": "web-server", "extra": 1}', "invalid_field"),
    (b'{"vm": "web-server"} trailing', "invalid_json"),
    (b"\xff\xfe", "invalid_json"),
    (b'{"vm": "web-server", "requested_by": ""}', "invalid_field"),
    (b'{"vm": "web-server", "requested_by": "alice smith"}', "invalid_field"),
    (b'{"vm": "web-server", "requested_by": 7}', "invalid_field"),
    (('{"vm": "web-server", "requested_by": "' + "a" * 65 + '"}').encode(), "invalid_field"),
]


@pytest.mark.parametrize("body,code", BAD_BODIES)
def test_bad_bodies_are_400(md, body, code):
    r = md.req("POST", "/api/dumps", data=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == code
    assert md.req("GET", "/api/health").status_code == 200


def test_bad_requests_are_4xx_json_and_daemon_keeps_serving(md):
    big = b'{"vm": "' + b"a" * (1 << 20) + b'"}'
    cases = [
        (("POST", "/api/dumps"), dict(data=big, headers={"Content-Type": "application/json"}), 413),
        (("POST", "/api/dumps"), dict(data=b'{"vm":"web-server"}',
                                      headers={"Content-Type": "text/plain"}), 415),
        (("GET", "/api/dumps/not-an-id"), {}, 400),
        (("GET", "/api/dumps/20261122T183000Z-0123456789ab"), {}, 404),
        (("DELETE", "/api/dumps/20261122T183000Z-0123456789ab"), {}, 404),
        (("GET", "/api/dumps/20261122T183000Z-0123456789AB"), {}, 400),
        (("GET", "/api/dumps/..%2f..%2fetc"), {}, 400),
        (("GET", "/api/dumps/20261122T183000Z-0123456789ab/file"), {}, 404),
        (("GET", "/api/dumps/20261122T183000Z-0123456789ab/other"), {}, 404),
        (("GET", "/api/dumps?limit=0"), {}, 400),
        (("GET", "/api/dumps?limit=abc"), {}, 400),
        (("GET", "/api/dumps?state=done"), {}, 400),
        (("GET", "/api/dumps?vm=a%2Fb"), {}, 400),
        (("GET", "/api/dumps?bogus=1"), {}, 400),
        (("PUT", "/api/dumps"), {}, 405),
        (("GET", "/api/nothing"), {}, 404),
    ]
    for (method, path), kw, status in cases:
        r = md.req(method, path, **kw)
        assert r.status_code == status, (method, path, r.status_code, r.text)
        assert r.headers["Content-Type"] == "application/json"
        assert r.headers["Cache-Control"] == "no-store"
        assert r.json()["error"]["code"], r.text
        if status == 405:
            assert r.headers["Allow"] == "GET, POST"
    # bad ranges on a real file
    r = md.create("db-server")
    d = md.wait_final(r.json()["dump"]["dump_id"])
    assert d["state"] == "completed"
    for rng in ("bytes=5-1", "bytes=abc", "items=0-1", f"bytes={d['size_bytes']}-",
                "bytes=0-1,4-5", "bytes=-0", "bytes=--1"):
        r = md.req("GET", f"/api/dumps/{d['dump_id']}/file", headers={"Range": rng})
        assert r.status_code == 416, (rng, r.status_code)
        assert r.headers["Content-Range"] == f"bytes */{d['size_bytes']}"
    assert md.req("GET", "/api/health").status_code == 200
    assert md.st.memdumpd.alive()


def test_token_required_when_set(tmp_path, libvirt_session, influx_server, guests):
    st = new_stack(tmp_path, libvirt_session, influx_server, name="tok", token="s3cret-token")
    try:
        url = st.memdumpd.url
        assert requests.get(url + "/api/health", timeout=10).status_code == 200
        for hdr in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret-token"},
                    {"Authorization": "Bearer s3cret-token-x"}):
            r = requests.get(url + "/api/vms", headers=hdr, timeout=10)
            assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
            r = requests.post(url + "/api/dumps", json={"vm": "web-server"}, headers=hdr,
                              timeout=10)
            assert r.status_code == 401
        r = requests.get(url + "/api/vms", headers={"Authorization": "Bearer s3cret-token"},
                         timeout=10)
        assert r.status_code == 200
    finally:
        st.stop()


def test_sighup_reloads_token_limits_and_influx(tmp_path, libvirt_session, influx_server,
                                               guests):
    """SIGHUP re-reads the -c file: the token, the queue limit and the InfluxDB database
    apply at once; a changed MEMDUMP_LISTEN is named as needing a restart (and the old
    address keeps serving); a file with an error changes nothing."""
    st = new_stack(tmp_path, libvirt_session, influx_server, name="hup", token="old-token")
    md = st.memdumpd
    conf = libvirt_session.user_dir(f"hup-{md.port}") / "memdumpd.conf"

    def write(text):
        conf.write_text(text)
        os.chmod(conf, 0o600)
        if os.geteuid() == 0 and libvirt_session.private:
            import pwd
            pw = pwd.getpwnam(harness.VIRT_USER)
            os.chown(conf, pw.pw_uid, pw.pw_gid)

    def hup_and_wait(event, n):
        os.kill(md.pid, signal.SIGHUP)
        deadline = time.monotonic() + 10
        while md.log_text().count(f"event={event}") < n:
            assert time.monotonic() < deadline, md.log_text()[-2000:]
            time.sleep(0.05)

    def health_max():
        return requests.get(md.url + "/api/health", timeout=10).json()["queue"]["max_concurrent"]

    try:
        write("MEMDUMP_MAX_CONCURRENT=1\n")
        argv = md.argv
        md.argv = lambda: argv() + ["-c", str(conf)]
        md.restart()
        assert health_max() == 1
        new_db = f"{st.influx_db}_hup"
        write(f"MEMDUMP_SERVICE_TOKEN=new-token\nMEMDUMP_MAX_CONCURRENT=3\n"
              f"INFLUX_DB={new_db}\nMEMDUMP_LISTEN=127.0.0.1:1\n")
        hup_and_wait("reloaded", 1)
        old, new = Md(st, token="old-token"), Md(st, token="new-token")
        assert old.req("GET", "/api/vms").status_code == 401
        assert new.req("GET", "/api/vms").status_code == 200  # still on the old address
        assert health_max() == 3
        log = md.log_text()
        assert "event=reload_needs_restart keys=MEMDUMP_LISTEN" in log
        assert "new-token" not in log and "old-token" not in log
        r = new.create(SMALL)
        assert r.status_code == 202, r.text
        did = r.json()["dump"]["dump_id"]
        new.wait(did, lambda d: d["state"] == "completed", "completed")
        assert influx_record(influx_server, new_db, did)["dump_id"] == did

        write("MEMDUMP_MAX_CONCURRENT=zero\n")
        hup_and_wait("reload_failed", 1)
        assert new.req("GET", "/api/vms").status_code == 200 and health_max() == 3
        assert md.alive()
    finally:
        st.stop()


def test_disk_guard_507(tmp_path, libvirt_session, influx_server, guests):
    st = new_stack(tmp_path, libvirt_session, influx_server, name="disk",
                   extra_config={"memdumpd": {"MEMDUMP_DISK_RESERVE_MB": 1 << 40}})
    try:
        r = Md(st).create("web-server")
        assert r.status_code == 507, r.text
        err = r.json()["error"]
        assert err["code"] == "insufficient_storage" and "MEMDUMP_DISK_RESERVE_MB" in err["message"]
        assert dump_files(st) == []
    finally:
        st.stop()


@pytest.mark.parametrize("how", ["kill", "term"])
def test_restart_queued_resumes_running_fails(tmp_path, libvirt_session, influx_server, guests,
                                              how):
    st = new_stack(tmp_path, libvirt_session, influx_server, name=f"restart-{how}",
                   max_concurrent=1, extra_config={"memdumpd": {"MEMDUMP_DISK_RESERVE_MB": 0}})
    try:
        md = Md(st)
        big = md.create(BIG).json()["dump"]["dump_id"]
        queued = md.create("web-server").json()["dump"]["dump_id"]
        d = md.wait_streaming(big)
        assert d["state"] == "running", "the 2 GiB dump finished before the restart"
        assert md.get(queued)["state"] == "queued"
        if how == "kill":
            st.memdumpd.kill()
        else:
            st.memdumpd.stop()
        st.memdumpd.start()
        md = Md(st)
        b = md.get(big)
        assert b["state"] == "failed" and b["error"] == "interrupted by restart", b
        q = md.wait_final(queued)
        assert q["state"] == "completed", q
        assert sha256_file(q["path"]) == q["sha256"]
        left = dump_files(st)
        assert not [f for f in left if f.endswith((".part", ".fifo"))], left
        assert not Path(b["path"]).exists()
        rec = influx_record(influx_server, st.influx_db, big)
        assert rec["state"] == "failed" and rec["error"] == "interrupted by restart"
        harness.wait_until(lambda: libvirt_session.domstate(BIG) == "running", 30, "guest running")
    finally:
        st.stop()


def test_influx_down_during_dump_record_arrives_later(tmp_path, libvirt_session, guests):
    st = new_stack(tmp_path, libvirt_session, name="spool",
                   extra_config={"memdumpd": {"MEMDUMP_DISK_RESERVE_MB": 0}})
    try:
        md = Md(st)
        st.influx.stop()
        d = md.wait_final(md.create("db-server").json()["dump"]["dump_id"])
        assert d["state"] == "completed"
        h = md.wait(d["dump_id"], lambda _: md.req("GET", "/api/health").json()["influx"]["ok"]
                    is False, "influx reported down")
        health = md.req("GET", "/api/health").json()
        assert health["status"] == "degraded" and health["influx"]["spooled"] >= 1
        spool = st.dump_dir / ".memdumpd" / "spool"
        assert any(p.suffix == ".lp" for p in spool.iterdir())
        st.influx.start()
        rec = influx_record(st.influx, st.influx_db, d["dump_id"], timeout=120)
        assert rec["sha256"] == d["sha256"] and rec["state"] == "completed"
        harness.wait_until(lambda: not any(p.suffix == ".lp" for p in spool.iterdir()), 30,
                           "spool emptied")
        assert h is not None
    finally:
        st.stop()


def test_influx_database_missing_is_created_and_record_arrives(tmp_path, libvirt_session,
                                                              influx_server, guests):
    """InfluxDB 1.x answers a write to a missing database with 404: the spool creates it."""
    st = new_stack(tmp_path, libvirt_session, influx_server, name="nodb",
                   extra_config={"memdumpd": {"MEMDUMP_DISK_RESERVE_MB": 0}})
    try:
        influx_server.query(f'DROP DATABASE "{st.influx_db}"', method="POST")
        md = Md(st)
        d = md.wait_final(md.create("cache-server").json()["dump"]["dump_id"])
        assert d["state"] == "completed", d
        rec = influx_record(influx_server, st.influx_db, d["dump_id"])
        assert rec["sha256"] == d["sha256"] and rec["state"] == "completed"
    finally:
        st.stop()


def test_remote_uri_and_bad_dump_dir_refused_at_start(tmp_path):
    binary = harness.bin_dir() / "memdumpd"
    env = harness.child_env({"LIBVIRT_URI": "qemu+ssh://kvm1/system", "DUMP_DIR": str(tmp_path)})
    import subprocess
    cp = subprocess.run([str(binary)], env=env, capture_output=True, text=True, timeout=30)
    assert cp.returncode == 78 and "remote libvirt URI" in cp.stderr
    env = harness.child_env({"LIBVIRT_URI": "qemu:///session",
                             "DUMP_DIR": str(tmp_path / "missing")})
    cp = subprocess.run([str(binary)], env=env, capture_output=True, text=True, timeout=30)
    assert cp.returncode == 78 and "DUMP_DIR" in cp.stderr
