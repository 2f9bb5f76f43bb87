"""memdump-api through the real nginx: every endpoint, every refusal, bad inputs,
dependencies going down, the worker pool surviving SIGKILL and SIGHUP, and the
download path (exact bytes, no token leak). Read endpoints run on a stack seeded
through the documented Redis schema and InfluxDB measurement; trigger, cancel and
download run against the real memdumpd + poller."""

import hashlib
import json
import os
import signal
import time

import pytest
import requests

import stack as harness
from api_util import (API, ReadStack, assert_error, children, get, seed_influx, seed_redis,
                      wait_for)

NOW_MS = int(time.time() * 1000)
JSON = {"Content-Type": "application/json"}
# who requested the seeded dump i: REQUESTERS[i % 5] (None: a point written before
# requested_by existed)
REQUESTERS = ("alice", "alice", "bob@corp.example", None, None)


@pytest.fixture(scope="module")
def rs(tmp_path_factory, influx_server):
    """One seeded read stack for the module (the tests here never change it)."""
    db = influx_server.create_db(f"api_{os.getpid()}")
    st = ReadStack(tmp_path_factory.mktemp("api-read"), influx_server, db).start()
    seed_redis(st.r(), st.service_url)
    pts = []
    for i in range(30):  # 30 finished dumps over the last 3 days
        state = ("completed", "failed", "cancelled")[i % 3]
        pts.append((NOW_MS - i * 2 * 3600 * 1000, ("web-server", "db-server")[i % 2], state,
                    1000 + i if state == "completed" else None, 1.0 + i, f"d{i:02d}",
                    REQUESTERS[i % 5]))
    pts.append((NOW_MS + 1000, "we'ird vm", "completed", 7, 0.5, "odd"))
    seed_influx(influx_server, db, pts)
    yield st
    st.stop()


# ---- read endpoints --------------------------------------------------------------------

def test_status(rs):
    r = get(rs.base, "status")
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    b = r.json()
    assert b["active_count"] == 1 and b["active"][0]["dump_id"] == "20261122T183000Z-0123456789ab"
    assert b["services"][0]["service"] == rs.service_url
    assert b["last_trigger"]["vms"] == ["web-server"]
    assert "generated_at" in b and "poller" in b
    assert b["active"][0]["requested_by"] == "alice"  # the poller's copy, passed through


def test_status_vm(rs):
    r = get(rs.base, "status/db-server")
    assert r.status_code == 200
    assert r.json()["vm"] == "db-server" and r.json()["dump"]["state"] == "completed"
    assert "requested_by" in r.json()["dump"] and r.json()["dump"]["requested_by"] is None
    assert get(rs.base, "status/web-server").json()["dump"]["requested_by"] == "alice"
    assert_error(get(rs.base, "status/cache-server"), 404, "not_found")
    assert_error(get(rs.base, "status/.."), 404, "not_found")  # nginx normalises to /status


def test_vms(rs):
    b = get(rs.base, "vms").json()
    assert b["count"] == 3 and [v["name"] for v in b["vms"]] == sorted(
        ["web-server", "db-server", "cache-server"])
    latest = {v["name"]: v["latest"] for v in b["vms"]}
    assert latest["web-server"]["state"] == "running" and latest["cache-server"] is None
    assert b["services_down"] == [rs.service_url]


def test_records_pagination_and_filters(rs):
    b = get(rs.base, "records", params={"limit": 5}).json()
    assert b["total"] == 31 and b["limit"] == 5 and b["offset"] == 0
    assert len(b["records"]) == 5
    times = [x["time"] for x in b["records"]]
    assert times == sorted(times, reverse=True)
    rec = b["records"][0]
    assert set(rec) >= {"time", "dump_id", "vm", "host", "state", "format", "path",
                        "size_bytes", "sha256", "duration_s", "error"}
    page2 = get(rs.base, "records", params={"limit": 5, "offset": 5}).json()
    assert {x["dump_id"] for x in page2["records"]}.isdisjoint({x["dump_id"] for x in b["records"]})
    f = get(rs.base, "records", params={"vm": "db-server", "state": "failed"}).json()
    assert f["total"] == len(f["records"]) > 0
    assert all(x["vm"] == "db-server" and x["state"] == "failed" for x in f["records"])
    # quotes are data, not InfluxQL (backslashes are refused by the VM name rules)
    odd = get(rs.base, "records", params={"vm": "we'ird vm"}).json()
    assert [x["dump_id"] for x in odd["records"]] == ["odd"]
    inj = get(rs.base, "records", params={"vm": "x' OR state = 'failed"}).json()
    assert inj["total"] == 0 and inj["records"] == []
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(NOW_MS / 1000 - 3 * 3600))
    recent = get(rs.base, "records", params={"since": since}).json()
    assert 0 < recent["total"] < 31
    old = get(rs.base, "records", params={"until": "2000-01-01"}).json()
    assert old["total"] == 0


def test_records_requested_by(rs):
    b = get(rs.base, "records", params={"limit": 100}).json()
    by = {x["dump_id"]: x["requested_by"] for x in b["records"]}
    assert len(by) == 31
    assert by["d00"] == "alice" and by["d02"] == "bob@corp.example"
    assert by["d03"] is None and by["odd"] is None  # old points: null, never absent
    alice = get(rs.base, "records", params={"requested_by": "alice"}).json()
    assert alice["total"] == len(alice["records"]) == sum(
        1 for i in range(30) if REQUESTERS[i % 5] == "alice")
    assert all(x["requested_by"] == "alice" for x in alice["records"])
    both = get(rs.base, "records", params={"requested_by": "bob@corp.example",
                                           "vm": "db-server", "limit": 2}).json()
    assert both["total"] == sum(1 for i in range(1, 30, 2) if REQUESTERS[i % 5] ==
                                "bob@corp.example")
    assert len(both["records"]) == 2
    assert all(x["vm"] == "db-server" and x["requested_by"] == "bob@corp.example"
               for x in both["records"])
    nobody = get(rs.base, "records", params={"requested_by": "carol"}).json()
    assert nobody["total"] == 0 and nobody["records"] == []
    for bad in ("", "a b", "x" * 65, "al'ice", "jos\u00e9", "a/b"):
        body = assert_error(get(rs.base, "records", params={"requested_by": bad}), 422,
                            "invalid_field")
        assert "requested_by" in body["error"]["message"]
    assert_error(get(rs.base, "records?requested_by=a&requested_by=b"), 400, "invalid_query")
    # /stats is unchanged: no such filter
    assert_error(get(rs.base, "stats", params={"requested_by": "alice"}), 400, "invalid_query")


def test_stats(rs):
    b = get(rs.base, "stats").json()
    assert b["total"] == 31 and b["completed"] == 11 and b["failed"] == 10
    assert b["cancelled"] == 10
    assert abs(b["success_rate"] - 11 / 21) < 1e-9
    assert b["bytes_total"] == sum(1000 + i for i in range(0, 30, 3)) + 7
    assert b["duration_mean_s"] > 0 and b["duration_p95_s"] >= b["duration_mean_s"]
    assert b["last_dump"]["dump_id"] == "odd"
    per_vm = {x["vm"]: x for x in b["per_vm"]}
    assert per_vm["web-server"]["count"] + per_vm["db-server"]["count"] == 30
    assert len(b["per_day"]) == 30 and sum(d["count"] for d in b["per_day"]) == 31
    assert b["per_day"][-1]["date"] == time.strftime("%Y-%m-%d", time.gmtime())


def test_head_and_static(rs):
    r = requests.head(rs.base + "status", timeout=10)
    assert r.status_code == 200 and r.text == ""
    s = requests.get(rs.nginx.url, timeout=10)
    assert s.headers.get("X-Frame-Options") == "DENY"
    assert "default-src 'self'" in s.headers.get("Content-Security-Policy", "")


# ---- bad inputs: every one a 4xx JSON answer ----------------------------------------------

BAD = [
    # (method, path, kwargs, status, code)
    ("POST", "trigger", {"data": b"{not json", "headers": JSON}, 400, "invalid_json"),
    ("POST", "trigger", {"data": b"", "headers": JSON}, 400, "invalid_json"),
    ("POST", "trigger", {"data": b'{"vms":"web-server"}', "headers": JSON}, 422, "invalid_field"),
    ("POST", "trigger", {"data": b'{"vms":[1]}', "headers": JSON}, 422, "invalid_field"),
    ("POST", "trigger", {"data": b'{"vms":[]}', "headers": JSON}, 422, "invalid_field"),
    ("POST", "trigger", {"data": b'[]', "headers": JSON}, 422, "invalid_field"),
    ("POST", "trigger", {"data": b'{"vms":["a"],"extra":1}', "headers": JSON}, 422,
     "invalid_field"),
    ("POST", "trigger", {"data": b'{"vms":["a","a"]}', "headers": JSON}, 422, "invalid_field"),
    ("POST", "trigger", {"data": b'{"vms":["../etc"]}', "headers": JSON}, 422, "invalid_field"),
    ("POST", "trigger", {"data": b'{"vms":[".."]}', "headers": JSON}, 422, "invalid_field"),
    ("POST", "trigger", {"data": b'{"vms":["a\\u0000b"]}', "headers": JSON}, 400, "invalid_json"),
    ("POST", "trigger", {"data": b'{"vms":["' + b"x" * 129 + b'"]}', "headers": JSON}, 422,
     "invalid_field"),
    ("POST", "trigger", {"data": b'{"vms":["a"],"format":"zip"}', "headers": JSON}, 422,
     "invalid_field"),
    ("POST", "trigger", {"data": b'{"vms":["a"],"format":7}', "headers": JSON}, 422,
     "invalid_field"),
    ("POST", "trigger", {"data": b'{"vms":["a"],"vms":["b"]}', "headers": JSON}, 400,
     "invalid_json"),
    ("POST", "trigger", {"data": json.dumps({"vms": [f"v{i}" for i in range(10000)]}).encode(),
                         "headers": JSON}, 413, "payload_too_large"),
    ("POST", "trigger", {"data": json.dumps({"vms": [f"v{i}" for i in range(65)]}).encode(),
                         "headers": JSON}, 422, "invalid_field"),
    ("POST", "trigger", {"data": b"x" * (10 << 20), "headers": JSON}, 413, "payload_too_large"),
    ("POST", "trigger", {"data": b'{"vms":["a"]}', "headers": {"Content-Type": "text/plain"}},
     415, "unsupported_media_type"),
    ("POST", "trigger", {"data": b'{"vms":["a"]}'}, 415, "unsupported_media_type"),
    ("POST", "trigger", {"data": b'{"vms":["a"]}', "headers": {**JSON,
                         "Origin": "http://evil.example"}}, 403, "forbidden_origin"),
    ("POST", "trigger", {"data": b'{"vms":["a"]}', "headers": {**JSON, "Origin": "null"}},
     403, "forbidden_origin"),
    ("GET", "trigger", {}, 405, "method_not_allowed"),
    ("PUT", "status", {}, 405, "method_not_allowed"),
    ("POST", "records", {"headers": JSON, "data": b"{}"}, 405, "method_not_allowed"),
    ("GET", "dumps/20261122T170000Z-aaaaaaaaaaaa", {}, 405, "method_not_allowed"),
    ("DELETE", "dumps/20261122T170000Z-aaaaaaaaaaaa", {}, 415, "unsupported_media_type"),
    ("DELETE", "dumps/nope", {"headers": JSON}, 404, "not_found"),
    ("DELETE", "dumps/20991122T170000Z-bbbbbbbbbbbb", {"headers": JSON}, 404, "not_found"),
    ("GET", "dumps/20991122T170000Z-bbbbbbbbbbbb/download", {}, 404, "not_found"),
    ("GET", "dumps/..%2Fx/download", {}, 404, "not_found"),
    ("GET", "dumps/%2e%2e/download", {}, 404, "not_found"),
    ("GET", "dumps/20261122T183000Z-0123456789ab/download", {}, 409, "conflict"),
    ("GET", "nothing-here", {}, 404, "not_found"),
    ("GET", "status/a/b", {}, 404, "not_found"),
    ("GET", "records?limit=0", {}, 422, "invalid_field"),
    ("GET", "records?limit=-1", {}, 422, "invalid_field"),
    ("GET", "records?limit=1001", {}, 422, "invalid_field"),
    ("GET", "records?limit=99999999999999999999999", {}, 422, "invalid_field"),
    ("GET", "records?limit=1e3", {}, 422, "invalid_field"),
    ("GET", "records?offset=-5", {}, 422, "invalid_field"),
    ("GET", "records?offset=100001", {}, 422, "invalid_field"),
    ("GET", "records?state=done", {}, 422, "invalid_field"),
    ("GET", "records?since=yesterday", {}, 422, "invalid_field"),
    ("GET", "records?since=2026-01-02&until=2026-01-01", {}, 422, "invalid_field"),
    ("GET", "records?vm=..", {}, 422, "invalid_field"),
    ("GET", "records?vm=a%2Fb", {}, 422, "invalid_field"),
    ("GET", "records?vm=a%00b", {}, 400, "invalid_query"),
    ("GET", "records?vm=a%5Cb", {}, 422, "invalid_field"),
    ("GET", "records?vm=a%5C%27", {}, 422, "invalid_field"),
    ("GET", "records?limit=1&limit=2", {}, 400, "invalid_query"),
    ("GET", "records?bogus=1", {}, 400, "invalid_query"),
    ("GET", "records?vm=" + "x" * 600, {}, 400, "invalid_query"),
    ("GET", "status?x=1", {}, 400, "invalid_query"),
]


@pytest.mark.parametrize("method,path,kw,status,code", BAD,
                         ids=[f"{m} {p[:40]} {s}" for m, p, _, s, _ in BAD])
def test_bad_input(rs, method, path, kw, status, code):
    r = requests.request(method, rs.base + path, timeout=30, **kw)
    body = assert_error(r, status, code)
    if status == 405:
        assert r.headers["Allow"]
    assert "Traceback" not in json.dumps(body)


def test_traversal_never_reaches_files(rs):
    """Paths that climb out of the API are nginx's static 404, never a file."""
    for p in ("dumps/..%2F..%2F..%2F..%2Fetc%2Fpasswd/download", "../../../../etc/passwd",
              "status/..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd"):
        r = requests.get(rs.base + p, timeout=10)
        assert r.status_code in (400, 404) and "root:" not in r.text


def test_malformed_escapes_raw(rs):
    """Bytes a client library would re-encode, sent as is."""
    import http.client
    host, port = rs.nginx.url.rstrip("/").split("//")[1].split(":")
    for target in ("records?vm=%zz", "records?vm=%4", "records?vm=%"):
        c = http.client.HTTPConnection(host, int(port), timeout=10)
        c.request("GET", "/" + API + target)
        resp = c.getresponse()
        body = json.loads(resp.read())
        assert resp.status == 400 and body["error"]["code"] == "invalid_query", (target, body)
        c.close()


def test_same_origin_accepted(rs):
    host = rs.nginx.url.rstrip("/").split("//")[1]
    r = requests.post(rs.base + "trigger", json={"vms": ["nobody-has-me"]},
                      headers={"Origin": f"http://{host}"}, timeout=30)
    assert r.status_code == 202
    b = r.json()
    assert b["requested"] == 1 and b["refused"] == 1 and b["accepted"] == 0
    assert b["results"][0]["error"]["code"] == "vm_not_found"


def test_unknown_host_refused(rs):
    """DNS rebinding: a page served under another name, re-pointed at this server, would
    be same-origin with the API; nginx answers only the dashboard's own names."""
    port = rs.nginx.url.rstrip("/").rsplit(":", 1)[1]
    for path in ("", "api/memory-dumps/status", "api/memory-dumps/trigger",
                 "_memdump/dump-file/20261122T183000Z-0123456789ab"):
        r = requests.get(rs.nginx.url + path, headers={"Host": f"evil.example:{port}"},
                         timeout=30)
        assert r.status_code == 421, (path, r.status_code, r.text)
        assert r.json()["error"]["code"] == "misdirected_request"
    r = requests.post(rs.base + "trigger", json={"vms": ["a"]},
                      headers={"Host": f"evil.example:{port}",
                               "Origin": f"http://evil.example:{port}"}, timeout=30)
    assert r.status_code == 421
    for name in ("127.0.0.1", "localhost"):
        r = requests.get(rs.base + "status", headers={"Host": f"{name}:{port}"}, timeout=30)
        assert r.status_code == 200, name


def test_trigger_service_down_refused(rs):
    """The inventory names a memdumpd that does not answer: refused per VM, 202."""
    r = requests.post(rs.base + "trigger", json={"vms": ["web-server", "db-server"]},
                      timeout=60)
    assert r.status_code == 202
    codes = [x["error"]["code"] for x in r.json()["results"]]
    assert codes == ["service_unavailable", "service_unavailable"]
    assert get(rs.base, "status").status_code == 200


def test_download_needs_known_service(rs):
    """A completed dump whose memdumpd is not answering: nginx reports the proxy failure
    as the JSON 503, without Content-Disposition or a hash (so `curl -OJ --fail` and a
    browser save nothing as the dump); the token header never appears."""
    r = get(rs.base, "dumps/20261122T170000Z-aaaaaaaaaaaa/download")
    assert_error(r, 503, "service_unavailable")
    assert "Content-Disposition" not in r.headers and "X-Dump-SHA256" not in r.headers, r.headers
    assert r.headers["Cache-Control"] == "no-store"
    assert not any(h.lower().startswith("x-memdump") for h in r.headers)


def test_download_header_that_does_not_fit_is_a_clear_error(tmp_path, influx_server, influx_db):
    """A memdumpd token too long for a header: a clear 500, never a half-built redirect
    (which memdumpd would answer with 401) and never the token."""
    token = "t" * 3000
    st = ReadStack(tmp_path, influx_server, influx_db,
                   extra={"MEMDUMP_SERVICE_TOKEN": token}).start()
    try:
        seed_redis(st.r(), st.service_url)
        r = get(st.base, "dumps/20261122T170000Z-aaaaaaaaaaaa/download")
        assert_error(r, 500, "internal")
        assert token[:64] not in r.text
        assert not any(h.lower().startswith("x-memdump") for h in r.headers)
        assert "download_headers" in st.api.log_text()
    finally:
        st.stop()


# ---- dependencies down ----------------------------------------------------------------------

def test_redis_down(tmp_path, influx_server, influx_db):
    st = ReadStack(tmp_path, influx_server, influx_db).start()
    try:
        st.redis.stop()
        for path in ("status", "status/web-server", "vms"):
            assert_error(get(st.base, path), 503, "redis_unavailable")
        r = requests.post(st.base + "trigger", json={"vms": ["web-server"]}, timeout=30)
        assert_error(r, 503, "redis_unavailable")
        assert get(st.base, "records").status_code == 200  # InfluxDB still answers
        assert get(st.base, "stats").status_code == 200
        st.redis.start()  # the store reconnects by itself
        wait_for(lambda: get(st.base, "status").status_code == 200, what="status after Redis")
    finally:
        st.stop()


def test_live_state_cached_for_at_most_two_seconds(tmp_path, influx_server, influx_db):
    """nginx's cache of live state (conf/nginx/memdump.conf.in): GET /status, /status/{vm}
    and /vms are reused for 1-2 s (nginx's cache clock ticks in whole seconds), only 200s,
    never stale; everything else bypasses it."""
    st = ReadStack(tmp_path, influx_server, influx_db).start()
    try:
        seed_redis(st.r(), st.service_url)
        for path in ("status", "status/web-server", "vms"):
            first, again = get(st.base, path), get(st.base, path)
            assert first.status_code == again.status_code == 200
            assert first.headers["X-Cache-Status"] == "MISS"
            assert again.headers["X-Cache-Status"] == "HIT" and again.content == first.content
            assert again.headers["Cache-Control"] == "no-store"  # browsers still never cache
            assert again.headers["X-Frame-Options"] == "DENY"
        assert get(st.base, "records").headers["X-Cache-Status"] == "BYPASS"
        r = requests.post(st.base + "trigger", json={"vms": ["nope"]}, timeout=30)
        assert "X-Cache-Status" not in r.headers  # POST never meets the cache
        site = st.base.split("/api/")[0] + "/"
        assert "X-Cache-Status" not in requests.get(site, timeout=5).headers  # static

        # a change in Redis shows within two seconds
        trig = {"at": "2026-11-22T19:00:00.000Z", "vms": ["db-server"], "accepted": 1,
                "refused": 0}
        assert get(st.base, "status").headers["X-Cache-Status"] == "HIT"
        st.r().set("memdump:last_trigger", json.dumps(trig))
        t0 = time.monotonic()
        wait_for(lambda: get(st.base, "status").json()["last_trigger"] == trig, timeout=5,
                 what="the new last_trigger", interval=0.05)
        assert time.monotonic() - t0 < 2.2

        # an outage shows within two seconds, and its 503 is not cached
        assert get(st.base, "status").status_code == 200
        st.redis.stop()
        t0 = time.monotonic()
        wait_for(lambda: get(st.base, "status").status_code == 503, timeout=5,
                 what="503 after Redis stopped", interval=0.05)
        assert time.monotonic() - t0 < 2.2
        r = get(st.base, "status")
        assert_error(r, 503, "redis_unavailable")
        assert r.headers["X-Cache-Status"] in ("MISS", "EXPIRED")  # asked, not served
        st.redis.start()
        wait_for(lambda: get(st.base, "status").status_code == 200, what="status after Redis")
    finally:
        st.stop()


def test_influx_down(tmp_path):
    influx = harness.Influx(tmp_path / "ix").start()
    db = influx.create_db("api_down")
    st = ReadStack(tmp_path, influx, db).start()
    try:
        influx.stop()
        assert_error(get(st.base, "records"), 503, "influx_unavailable")
        assert_error(get(st.base, "stats"), 503, "influx_unavailable")
        assert get(st.base, "status").status_code == 200  # Redis still answers
        assert get(st.base, "vms").status_code == 200
        influx.start()
        wait_for(lambda: get(st.base, "records").status_code == 200, what="records after Influx")
    finally:
        st.stop()
        influx.stop()


def test_influx_garbage_is_bad_gateway(tmp_path):
    """InfluxDB URL answered by something that is not InfluxDB (nginx serving files)."""
    www = tmp_path / "www"
    (www / "query").mkdir(parents=True)
    ng = harness.Nginx(tmp_path / "static-site", htdocs=www).start()
    (www / "query" / "index.html").write_text("<html>not influx</html>")
    try:
        st = ReadStack(tmp_path, type("I", (), {"url": ng.url.rstrip("/")})(), "x").start()
        try:
            r = get(st.base, "records")
            assert r.status_code in (502, 503)
            assert r.json()["error"]["code"] in ("bad_gateway", "influx_unavailable")
            assert get(st.base, "status").status_code == 200
        finally:
            st.stop()
    finally:
        ng.stop()


# ---- the worker pool -------------------------------------------------------------------------

def test_worker_sigkill_respawned(tmp_path, influx_server, influx_db):
    st = ReadStack(tmp_path, influx_server, influx_db, workers=2).start()
    try:
        before = wait_for(lambda: len(children(st.api.pid)) == 2 and children(st.api.pid),
                          what="two workers")
        os.kill(before[0], signal.SIGKILL)
        for _ in range(20):  # nginx keeps answering while the slot is refilled
            assert get(st.base, "status").status_code == 200
        after = wait_for(lambda: len(children(st.api.pid)) == 2 and children(st.api.pid),
                         what="worker respawned")
        assert before[0] not in after and before[1] in after
        assert "worker_died" in st.api.log_text()
    finally:
        st.stop()


def test_sighup_reload_replaces_workers(tmp_path, influx_server, influx_db):
    st = ReadStack(tmp_path, influx_server, influx_db, workers=2).start()
    try:
        before = set(wait_for(lambda: len(children(st.api.pid)) == 2 and children(st.api.pid),
                              what="two workers"))
        os.kill(st.api.pid, signal.SIGHUP)
        wait_for(lambda: not before & set(children(st.api.pid))
                 and len(children(st.api.pid)) == 2, what="new generation")
        for _ in range(10):
            assert get(st.base, "status").status_code == 200
        assert "reloaded" in st.api.log_text()
        st.api.stop()
        assert "stopped" in st.api.log_text()
        assert st.api.returncode() in (0, None)
    finally:
        st.stop()


def test_unix_socket_mode(tmp_path, influx_server, influx_db):
    sock = tmp_path / "api.sock"
    r = harness.Redis(tmp_path).start()
    api = harness.Api(tmp_path, {"REDIS_URL": r.url, "INFLUX_URL": influx_server.url,
                                 "INFLUX_DB": influx_db, "MEMDUMP_API_WORKERS": 1,
                                 "MEMDUMP_API_LISTEN": f"unix:{sock}"})
    api.ready = lambda: sock.exists()
    try:
        api.start()
        assert oct(os.stat(sock).st_mode & 0o777) == "0o660"
        ng = harness.Nginx(tmp_path, api_upstream=f"unix:{sock}",
                           memdumpd_upstream="127.0.0.1:1").start()
        try:
            assert get(ng.url + API, "status").status_code == 200
        finally:
            ng.stop()
        api.stop()
        assert not sock.exists()
    finally:
        api.stop()
        r.stop()


# ---- end to end with memdumpd and the poller --------------------------------------------------

TOKEN = "s3cret-" + "t" * 40


@pytest.fixture
def full(make_stack):
    return make_stack("full", token=TOKEN)


def _wait_state(base, vm, states, timeout=120):
    def check():
        r = get(base, f"status/{vm}")
        return r.status_code == 200 and r.json()["dump"]["state"] in states and r.json()
    return wait_for(check, timeout=timeout, what=f"{vm} in {states}", interval=0.3)


def test_trigger_download_cancel_end_to_end(full):
    base = full.nginx.url + API
    wait_for(lambda: get(base, "vms").json()["count"] >= 3, what="inventory from poller")
    r = requests.post(base + "trigger", json={"vms": ["web-server", "no-such-vm"]}, timeout=60)
    assert r.status_code == 202, r.text
    b = r.json()
    acc, ref = b["results"]
    assert acc["status"] == "accepted" and acc["vm"] == "web-server" and acc["dump_id"]
    assert ref["status"] == "refused" and ref["error"]["code"] == "vm_not_found"
    dump_id = acc["dump_id"]
    # while it runs, a second trigger for the same VM is refused naming the dump
    again = requests.post(base + "trigger", json={"vms": ["web-server"]}, timeout=60).json()
    res = again["results"][0]
    if res["status"] == "refused":
        assert res["error"]["code"] == "dump_in_progress"
        assert res["error"]["dump_id"] == dump_id
    st = get(base, "status").json()
    assert st["last_trigger"] is not None
    done = _wait_state(base, "web-server", ("completed",))
    dump = done["dump"]
    if res["status"] == "accepted":  # the first one had already finished
        dump = _wait_state(base, "web-server", ("completed",))["dump"]
        dump_id = dump["dump_id"]
    dump_id = dump["dump_id"]
    dl = requests.get(base + f"dumps/{dump_id}/download", timeout=120, stream=True)
    assert dl.status_code == 200, dl.text
    h = hashlib.sha256()
    n = 0
    for chunk in dl.iter_content(1 << 20):
        h.update(chunk)
        n += len(chunk)
    assert h.hexdigest() == dump["sha256"] == dl.headers["X-Dump-SHA256"]
    assert n == dump["size_bytes"]
    assert "attachment" in dl.headers["Content-Disposition"] and dump_id in \
        dl.headers["Content-Disposition"]
    assert dl.headers["Cache-Control"] == "no-store"
    assert len(dl.headers.get_all("Content-Disposition") if hasattr(dl.headers, "get_all")
               else [dl.headers["Content-Disposition"]]) == 1
    for k, v in dl.headers.items():
        assert TOKEN not in v and not k.lower().startswith("x-memdump"), (k, v)
    # a range request is passed through
    rg = requests.get(base + f"dumps/{dump_id}/download", headers={"Range": "bytes=0-3"},
                      timeout=60)
    assert rg.status_code == 206 and rg.content == b"\x7fELF"
    # the internal location cannot be reached from outside
    assert requests.get(full.nginx.url + f"_memdump/dump-file/{dump_id}",
                        timeout=10).status_code == 404
    # cancelling a finished dump is a conflict
    assert_error(requests.delete(base + f"dumps/{dump_id}", headers=JSON, timeout=30), 409,
                 "conflict")
    # the record reaches InfluxDB via memdumpd; records and stats show it
    wait_for(lambda: any(x["dump_id"] == dump_id for x in
                         get(base, "records").json()["records"]), what="record in InfluxDB")
    assert get(base, "stats").json()["completed"] >= 1


def test_cancel_queued_and_running_dumps(make_stack):
    """One dump at a time; the first is frozen mid-way (libvirt's iohelper stopped, as a
    disk that stops taking data): the queued one cancels at once (200), the running one
    cannot stop while frozen, so its cancel is accepted as still stopping (202, state
    running) after memdumpd's 15 s wait, and it ends cancelled once the data flows."""
    st = make_stack("full", token=TOKEN, extra_config={"memdumpd": {"MEMDUMP_MAX_CONCURRENT": 1}})
    base = st.nginx.url + API
    wait_for(lambda: get(base, "vms").json()["count"] >= 3, what="inventory from poller")
    r = requests.post(base + "trigger", json={"vms": ["web-server", "db-server", "cache-server"]},
                      timeout=60).json()
    ids = {x["vm"]: x["dump_id"] for x in r["results"] if x["status"] == "accepted"}
    assert len(ids) == 3, r
    frozen = st.libvirt.stall_dumps(st.dump_dir, after=0)  # 256 MiB: done in ~0.2 s
    try:
        states = {d["vm"]: d["state"] for d in requests.get(
            st.memdumpd.url + "/api/dumps", headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=10).json()["dumps"] if d["dump_id"] in ids.values()}
        running = [vm for vm, s in states.items() if s == "running"]
        queued = [vm for vm, s in states.items() if s == "queued"]
        assert len(running) == 1 and queued, states  # (a first 256 MiB one may be done)
        c = requests.delete(base + f"dumps/{ids[queued[-1]]}", headers=JSON, timeout=30)
        assert c.status_code == 200, c.text
        assert c.json()["dump"]["state"] == "cancelled"
        assert "queued" in c.json()["dump"]["error"]
        t0 = time.monotonic()
        c = requests.delete(base + f"dumps/{ids[running[0]]}", headers=JSON, timeout=60)
        assert c.status_code == 202, c.text
        assert c.json()["dump"]["state"] == "running" and time.monotonic() - t0 > 10
    finally:
        st.libvirt.resume_dumps(frozen)
    _wait_state(base, running[0], ("cancelled",))
    _wait_state(base, queued[-1], ("cancelled",))
    for vm in set(ids) - {running[0], queued[-1]}:
        _wait_state(base, vm, ("completed",))  # the queue goes on


def test_memdumpd_down(full):
    base = full.nginx.url + API
    wait_for(lambda: get(base, "vms").json()["count"] >= 3, what="inventory from poller")
    full.memdumpd.stop()
    r = requests.post(base + "trigger", json={"vms": ["web-server", "db-server"]}, timeout=90)
    assert r.status_code == 202
    assert [x["error"]["code"] for x in r.json()["results"]] == ["service_unavailable"] * 2
    assert get(base, "status").status_code == 200
    assert get(base, "records").status_code == 200
    assert get(base, "vms").status_code == 200

