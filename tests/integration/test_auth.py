"""Access control through the real stack (nginx -> memdump-api workers -> Redis and
InfluxDB; memdumpd is a URL nobody listens on, so actions that pass the gate end in a
503/502 from memdumpd's absence, never in 401/403): the role x endpoint matrix, scopes,
the three ways in, expiry and revocation, CSRF on login, rate limits, and the audit
events each of these leaves (docs/security.md)."""

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
import requests

import api_util as au
import stack as harness

ROLES = ("viewer", "operator", "investigator", "admin")
RANK = {r: i for i, r in enumerate(ROLES)}
ACTIVE_ID = "20261122T183000Z-0123456789ab"  # web-server, running (au.seed_redis)
DONE_ID = "20261122T170000Z-aaaaaaaaaaaa"  # db-server, completed


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def anon():
    """Headers of a request that carries no credential at all."""
    return au.NO_AUTH


def admin_cli(st, *args, stdin=None, check=True):
    env = {**os.environ, "MEMDUMP_ACCOUNTS": st.accounts_path,
           "MEMDUMP_AUDIT_SPOOL": st.audit_spool, "INFLUX_URL": st.influx.url,
           "INFLUX_DB": st.influx_db, "MEMDUMP_LOG_LEVEL": "warn", "REDIS_URL": st.redis.url}
    p = subprocess.run([str(harness.bin_dir() / "memdump-admin"), *args], input=stdin,
                       capture_output=True, text=True, env=env, timeout=60)
    if check:
        assert p.returncode == 0, (args, p.returncode, p.stdout, p.stderr)
    return p


def until(pred, what, timeout=10):
    return au.wait_for(pred, timeout=timeout, what=what)


@pytest.fixture
def st(tmp_path, influx_server, influx_db):
    s = au.ReadStack(tmp_path, influx_server, influx_db,
                     extra={"MEMDUMP_LOGIN_FAILURES_USER": 3,
                            "MEMDUMP_TRIGGER_RATE": 4}).start()
    au.seed_redis(s.r(), s.service_url)
    now = int(time.time() * 1000)
    au.seed_influx(influx_server, influx_db, [
        (now - 60000, "web-server", "completed", 2048, 1.5, "20261122T160000Z-bbbbbbbbbbbb"),
        (now - 50000, "db-server", "completed", 4096, 2.5, "20261122T161000Z-cccccccccccc"),
        (now - 40000, "db-server", "failed", None, 0.5, "20261122T162000Z-dddddddddddd"),
    ])
    yield s
    s.stop()


# Each endpoint: (method, path, body, least role); "allowed" means the gate let it
# through (the answer is then the endpoint's own: 200, 202, 404, 409, 503, ...).
ENDPOINTS = [
    ("GET", "status", None, "viewer"),
    ("GET", "status/db-server", None, "viewer"),
    ("GET", "vms", None, "viewer"),
    ("GET", "records", None, "viewer"),
    ("GET", "stats", None, "viewer"),
    ("POST", "trigger", {"vms": ["db-server"]}, "operator"),
    ("DELETE", f"dumps/{ACTIVE_ID}", None, "operator"),
    ("GET", f"dumps/{DONE_ID}/download", None, "investigator"),
    ("GET", "audit", None, "admin"),
]


def call(st, method, path, body=None, headers=None, **kw):
    h = dict(headers or {})
    if method in ("POST", "DELETE"):
        h.setdefault("Content-Type", "application/json")
    return requests.request(method, st.base + path, headers=h,
                            data=json.dumps(body) if body is not None else None,
                            timeout=30, allow_redirects=False, **kw)


def test_no_credentials_is_401_everywhere(st):
    for method, path, body, _ in ENDPOINTS + [("GET", "session", None, None)]:
        r = call(st, method, path, body, anon())
        au.assert_error(r, 401, "unauthenticated")
        assert "Bearer" in r.headers.get("WWW-Authenticate", ""), path


def test_role_matrix(st):
    for role in ROLES:
        h = bearer(st.credentials[role]["token"])
        for method, path, body, need in ENDPOINTS:
            r = call(st, method, path, body, h)
            if RANK[role] >= RANK[need]:
                assert r.status_code not in (401, 403), (role, path, r.status_code, r.text)
            else:
                body_ = au.assert_error(r, 403, "forbidden")
                assert need in body_["error"]["message"], (role, path, body_)


def test_session_says_who_you_are(st):
    r = call(st, "GET", "session", headers=bearer(st.credentials["operator"]["token"]))
    assert r.status_code == 200, r.text
    s = r.json()["session"]
    assert s["user"] == st.credentials["operator"]["user"]
    assert s["role"] == "operator" and s["auth"] == "token"
    assert s["auth_mode"] == "local"
    r = call(st, "GET", "status", headers=bearer(st.credentials["viewer"]["token"]))
    assert r.json()["auth"] == "local"


def test_token_refusals(st):
    tok = st.credentials["viewer"]["token"]
    # in the query string: refused outright, even when valid
    r = requests.get(st.base + "status", params={"access_token": tok}, headers=anon(), timeout=10)
    au.assert_error(r, 400, "token_in_query")
    # another scheme, a malformed value, an unknown token
    au.assert_error(call(st, "GET", "status", headers={"Authorization": f"Basic {tok}"}),
                    401, "unauthenticated")
    au.assert_error(call(st, "GET", "status", headers=bearer("mdt_000000000000_" + "A" * 43)),
                    401, "unauthenticated")
    # the scheme is case-insensitive
    r = call(st, "GET", "status", headers={"Authorization": f"bearer {tok}"})
    assert r.status_code == 200, r.text


def test_revoked_and_expired_tokens(st):
    user = st.credentials["viewer"]["user"]
    tok = admin_cli(st, "token", "add", user, "--label", "short").stdout.strip()
    assert len(tok) == 60
    assert call(st, "GET", "vms", headers=bearer(tok)).status_code == 200
    tid = tok.split("_")[1]
    admin_cli(st, "token", "revoke", tid)
    # every worker re-reads the file (no restart); nginx may reuse the last answer 1-2 s
    until(lambda: call(st, "GET", "vms", headers=bearer(tok)).status_code == 401,
          "revoked token refused")
    soon = int(time.time()) + 2
    tok2 = admin_cli(st, "token", "add", user, "--expires-at", str(soon)).stdout.strip()
    assert call(st, "GET", "stats", headers=bearer(tok2)).status_code == 200
    until(lambda: call(st, "GET", "stats", headers=bearer(tok2)).status_code == 401,
          "expired token refused")


def test_scoped_account_sees_only_its_vms(st):
    admin_cli(st, "user", "add", "dba", "--role", "investigator", "--vms", "db-*",
              "--no-password")
    tok = admin_cli(st, "token", "add", "dba").stdout.strip()
    h = bearer(tok)
    vms = call(st, "GET", "vms", headers=h).json()
    assert [v["name"] for v in vms["vms"]] == ["db-server"], vms
    status = call(st, "GET", "status", headers=h).json()
    assert status["active"] == [] and status["last_trigger"] is None, status
    au.assert_error(call(st, "GET", "status/web-server", headers=h), 404, "not_found")
    assert call(st, "GET", "status/db-server", headers=h).status_code == 200
    recs = call(st, "GET", "records", headers=h).json()
    assert {x["vm"] for x in recs["records"]} == {"db-server"} and recs["total"] == 2, recs
    recs = call(st, "GET", "records?vm=web-server", headers=h).json()
    assert recs["records"] == [] and recs["total"] == 0, recs
    stats = call(st, "GET", "stats", headers=h).json()
    assert stats["total"] == 2, stats
    # a dump id guessed from elsewhere does not exist for it
    au.assert_error(call(st, "DELETE", f"dumps/{ACTIVE_ID}", headers=h), 404, "not_found")
    r = call(st, "POST", "trigger", {"vms": ["web-server", "db-server"]}, headers=h)
    assert r.status_code == 202, r.text
    res = {x["vm"]: x for x in r.json()["results"]}
    assert res["web-server"]["error"]["code"] == "vm_not_found"
    assert res["db-server"]["error"]["code"] != "vm_not_found"
    # an unscoped admin sees both
    recs = call(st, "GET", "records", headers=bearer(st.credentials["admin"]["token"])).json()
    assert recs["total"] == 3
    # the audit log needs an admin grant without a scope
    admin_cli(st, "user", "add", "dbadmin", "--role", "admin", "--vms", "db-*",
              "--no-password")
    tok = admin_cli(st, "token", "add", "dbadmin").stdout.strip()
    au.assert_error(call(st, "GET", "audit", headers=bearer(tok)), 403, "forbidden")


def test_group_grants_per_vm(st):
    admin_cli(st, "group", "add", "dbops", "--role", "operator", "--vms", "db-*")
    admin_cli(st, "user", "add", "carol", "--role", "viewer", "--groups", "dbops",
              "--no-password")
    h = bearer(admin_cli(st, "token", "add", "carol").stdout.strip())
    # viewer everywhere, operator on db-*: web-server is visible but not triggerable
    r = call(st, "POST", "trigger", {"vms": ["web-server", "db-server"]}, headers=h)
    res = {x["vm"]: x for x in r.json()["results"]}
    assert res["web-server"]["error"]["code"] == "forbidden", res
    assert res["db-server"]["error"]["code"] == "service_unavailable", res
    assert len(call(st, "GET", "vms", headers=h).json()["vms"]) == 3


def login(st, user, password, **kw):
    return call(st, "POST", "session", {"user": user, "password": password}, anon(), **kw)


def test_login_session_logout(st):
    c = st.credentials["investigator"]
    au.assert_error(login(st, c["user"], "wrong"), 401, "invalid_credentials")
    au.assert_error(login(st, "nobody", "x"), 401, "invalid_credentials")
    r = login(st, c["user"], c["password"])
    assert r.status_code == 200, r.text
    assert r.json()["session"]["role"] == "investigator"
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie, cookie
    assert "Path=/api/memory-dumps/" in cookie and "Secure" not in cookie, cookie
    sid = r.cookies["memdump_session"]
    jar = {"Cookie": f"memdump_session={sid}"}
    s = call(st, "GET", "session", headers=jar).json()["session"]
    assert s["user"] == c["user"] and s["auth"] == "password" and s["expires_at"]
    assert call(st, "GET", "status", headers=jar).status_code == 200
    # the session is kept only as a hash of the cookie value
    keys = [k.decode() for k in st.r().keys("memdump:session:*")]
    assert len(keys) == 1 and sid not in keys[0]
    r = call(st, "DELETE", "session", headers=jar)
    assert r.status_code == 200 and "Max-Age=0" in r.headers["Set-Cookie"], r.headers
    au.assert_error(call(st, "GET", "records", headers=jar), 401, "unauthenticated")


def test_session_idle_and_absolute_expiry(st):
    c = st.credentials["viewer"]
    sid = login(st, c["user"], c["password"]).cookies["memdump_session"]
    jar = {"Cookie": f"memdump_session={sid}"}
    assert call(st, "GET", "records", headers=jar).status_code == 200
    rd = st.r()
    (key,) = rd.keys("memdump:session:*")
    # idle: Redis drops the key when its idle TTL runs out (the same as deleting it)
    assert rd.delete(key) == 1
    r = call(st, "GET", "records", headers=jar)
    assert r.status_code == 401, f"after idle expiry: {r.status_code} {r.text[:300]}"
    sid = login(st, c["user"], c["password"]).cookies["memdump_session"]
    jar = {"Cookie": f"memdump_session={sid}"}
    (key,) = rd.keys("memdump:session:*")
    v = json.loads(rd.get(key))
    v["expires"] = int(time.time() * 1000) - 1
    rd.set(key, json.dumps(v), ex=600)
    au.assert_error(call(st, "GET", "records", headers=jar), 401, "unauthenticated")


def test_login_csrf(st):
    c = st.credentials["viewer"]
    body = json.dumps({"user": c["user"], "password": c["password"]})
    r = requests.post(st.base + "session", data=body, timeout=10,
                      headers={**anon(), "Content-Type": "text/plain"})
    au.assert_error(r, 415, "unsupported_media_type")
    r = requests.post(st.base + "session", data=body, timeout=10,
                      headers={**anon(), "Content-Type": "application/json",
                               "Origin": "http://evil.example"})
    assert r.status_code == 403 and "Set-Cookie" not in r.headers, r.text
    r = requests.delete(st.base + "session", timeout=10,
                        headers={**anon(), "Origin": "http://evil.example",
                                 "Content-Type": "application/json"})
    assert r.status_code == 403


def test_failed_logins_are_rate_limited(st):
    c = st.credentials["operator"]
    for _ in range(3):
        au.assert_error(login(st, c["user"], "nope"), 401, "invalid_credentials")
    r = login(st, c["user"], c["password"])  # even the right password now
    au.assert_error(r, 429, "rate_limited")
    assert int(r.headers["Retry-After"]) > 0
    # another user is not affected
    v = st.credentials["viewer"]
    assert login(st, v["user"], v["password"]).status_code == 200


def test_trigger_rate_limit(st):
    h = bearer(st.credentials["operator"]["token"])
    assert call(st, "POST", "trigger", {"vms": ["db-server", "web-server"]}, h).status_code == 202
    assert call(st, "POST", "trigger", {"vms": ["db-server", "web-server"]}, h).status_code == 202
    r = call(st, "POST", "trigger", {"vms": ["db-server"]}, h)
    au.assert_error(r, 429, "rate_limited")
    assert int(r.headers["Retry-After"]) >= 1


def test_accounts_file_readable_by_others_is_refused(st):
    os.chmod(st.accounts_path, 0o644)
    try:
        # the workers keep the accounts they had (and log why)
        r = call(st, "GET", "vms", headers=bearer(st.credentials["viewer"]["token"]))
        assert r.status_code == 200
    finally:
        os.chmod(st.accounts_path, 0o600)


def test_auth_none_is_explicit(tmp_path, influx_server, influx_db):
    s = au.ReadStack(tmp_path, influx_server, influx_db,
                     extra={"MEMDUMP_AUTH": "none"}).start()
    try:
        r = call(s, "GET", "status", headers=anon())
        assert r.status_code == 200 and r.json()["auth"] == "none", r.text
        sess = call(s, "GET", "session", headers=anon()).json()["session"]
        assert sess["user"] == "anonymous" and sess["auth"] == "none"
        assert "auth_disabled" in s.api.log_text()
    finally:
        s.stop()


def test_cache_never_crosses_credentials(st):
    """nginx reuses a /status answer for 1-2 s, per credential: a cached answer of one
    caller is never served to another (nor to no caller)."""
    admin_cli(st, "user", "add", "webonly", "--role", "viewer", "--vms", "web-*",
              "--no-password")
    scoped = bearer(admin_cli(st, "token", "add", "webonly").stdout.strip())
    admin = bearer(st.credentials["admin"]["token"])
    for _ in range(3):
        a = call(st, "GET", "vms", headers=admin)
        assert a.status_code == 200 and a.json()["count"] == 3
        s = call(st, "GET", "vms", headers=scoped)
        assert s.status_code == 200 and [v["name"] for v in s.json()["vms"]] == ["web-server"]
        au.assert_error(call(st, "GET", "vms", headers=anon()), 401, "unauthenticated")
    assert a.headers.get("X-Cache-Status") == "HIT", a.headers


def audit_points(influx, db):
    r = requests.get(influx.url + "/query", timeout=10, params={
        "db": db, "epoch": "ns", "q": "SELECT * FROM mem_dump_audit ORDER BY time ASC"})
    r.raise_for_status()
    out = []
    for s in r.json()["results"][0].get("series", []):
        out += [dict(zip(s["columns"], row)) for row in s["values"]]
    return out


def test_audit_events_name_the_person(st):
    op = st.credentials["operator"]
    inv = st.credentials["investigator"]
    login(st, op["user"], "wrong")
    sid = login(st, op["user"], op["password"]).cookies["memdump_session"]
    jar = {"Cookie": f"memdump_session={sid}"}
    r = call(st, "POST", "trigger", {"vms": ["db-server"]}, jar)
    rid = r.headers["X-Request-Id"]
    call(st, "DELETE", f"dumps/{ACTIVE_ID}", headers=jar)
    call(st, "GET", f"dumps/{DONE_ID}/download", headers=bearer(inv["token"]))
    call(st, "GET", "audit", headers=bearer(st.credentials["viewer"]["token"]))  # 403
    call(st, "GET", "status", headers=anon())  # 401
    call(st, "DELETE", "session", headers=jar)

    def events():
        return audit_points(st.influx, st.influx_db)
    want = {"login", "trigger", "cancel", "download", "refused", "logout"}
    until(lambda: want <= {e["action"] for e in events()}, "audit events in InfluxDB", 30)
    ev = events()
    by = {}
    for e in ev:
        by.setdefault(e["action"], []).append(e)
    logins = {(e["user"], e["result"]) for e in by["login"]}
    assert (op["user"], "failed") in logins and (op["user"], "ok") in logins, logins
    (trig,) = by["trigger"]
    assert trig["user"] == op["user"] and trig["auth"] == "password" and trig["role"] == "operator"
    assert trig["vm"] == "db-server" and trig["request_id"] == rid and trig["client"] == "127.0.0.1"
    assert by["cancel"][0]["dump_id"] == ACTIVE_ID and by["cancel"][0]["user"] == op["user"]
    assert by["download"][0]["user"] == inv["user"] and by["download"][0]["auth"] == "token"
    refused = {(e["user"], int(e["status"])) for e in by["refused"]}
    assert (st.credentials["viewer"]["user"], 403) in refused and ("", 401) in refused, refused
    assert by["logout"][0]["user"] == op["user"]
    # the admin reads them back through the API, filtered
    r = call(st, "GET", f"audit?user={op['user']}&action=trigger",
             headers=bearer(st.credentials["admin"]["token"]))
    assert r.status_code == 200 and [e["vm"] for e in r.json()["events"]] == ["db-server"], r.text
    # and the chains are intact, their heads in Redis included
    p = admin_cli(st, "audit", "verify")
    assert "intact" in p.stdout and "chain heads checked" in p.stderr, (p.stdout, p.stderr)
    # removing a chain's last event (what the chain alone cannot show) is seen by its head
    last = max((e for e in audit_points(st.influx, st.influx_db) if e["action"] == "logout"),
               key=lambda e: e["seq"])
    q = f"DELETE FROM mem_dump_audit WHERE time = {last['time']}"
    requests.post(st.influx.url + "/query", params={"db": st.influx_db, "q": q},
                  timeout=10).raise_for_status()
    p = admin_cli(st, "audit", "verify", check=False)
    assert p.returncode == 1, (p.stdout, p.stderr)
    assert f"chain {last['chain']}: event seq {last['seq']} missing" in p.stdout, p.stdout


def test_audit_spooled_while_influx_is_down(tmp_path):
    influx = harness.Influx(tmp_path / "influx").start()
    try:
        db = influx.create_db("auditdown")
        s = au.ReadStack(tmp_path / "st", influx, db).start()
        try:
            tok = s.credentials["viewer"]["token"]
            influx.stop()
            for _ in range(5):
                au.assert_error(call(s, "GET", "audit", headers=bearer(tok)), 403, "forbidden")
            call(s, "GET", "records", headers=anon())
            assert len(list(Path(s.audit_spool).glob("*.lp"))) >= 6
            influx.start()

            def refused():
                return [e for e in audit_points(influx, db) if e["action"] == "refused"]
            until(lambda: len(refused()) == 6, "spooled events sent", 90)
            until(lambda: not list(Path(s.audit_spool).glob("*.lp")), "spool emptied", 30)
            time.sleep(2)  # nothing arrives twice
            ev = refused()
            assert len(ev) == 6 and len({(e["chain"], e["seq"]) for e in ev}) == 6
        finally:
            s.stop()
    finally:
        influx.stop()


def test_odd_cookies_never_share_a_cache_entry(st):
    """A second memdump_session cookie (any case) is refused; whatever a request with odd
    cookies leaves in nginx's cache is never served to a request without credentials."""
    c = st.credentials["viewer"]
    sid = login(st, c["user"], c["password"]).cookies["memdump_session"]
    odd = {"Cookie": f"MEMDUMP_SESSION=; memdump_session={sid}"}
    au.assert_error(call(st, "GET", "vms", headers=odd), 401, "unauthenticated")
    ok = {"Cookie": f"memdump_session={sid}"}
    assert call(st, "GET", "vms", headers=ok).status_code == 200
    for _ in range(3):
        r = call(st, "GET", "vms", headers=anon())
        au.assert_error(r, 401, "unauthenticated")
        assert r.headers.get("X-Cache-Status") in (None, "", "BYPASS"), r.headers
    # a percent-encoded credential key is still a credential in the query string
    r = requests.get(st.base + "status?to%6Ben=x", headers=anon(), timeout=10)
    au.assert_error(r, 400, "token_in_query")


def test_web_server_identity(tmp_path, influx_server, influx_db):
    """MEMDUMP_TRUST_REMOTE_USER=yes with nginx auth_basic in front: the checked user and
    the groups nginx passes become the identity; without an auth module in the site, a
    client's own Basic header makes nobody."""
    s = au.ReadStack(tmp_path / "st", influx_server, influx_db,
                     extra={"MEMDUMP_TRUST_REMOTE_USER": "yes"}).start()
    try:
        s.api.accounts.admin("group", "add", "sso-dba", "--role", "operator", "--vms", "db-*")
        au.seed_redis(s.r(), s.service_url)
        # the project's site as is: MEMDUMP_REMOTE_USER stays empty, Basic means nothing
        r = requests.get(s.base + "session", auth=("carol", "pw"), timeout=10)
        au.assert_error(r, 401, "unauthenticated")
        # the same site with auth_basic in the API location
        (tmp_path / "htpasswd").write_text("carol:{PLAIN}s3cret\n")
        site = (harness.REPO / "conf/nginx/memdump.conf.in").read_text().replace(
            "    location /api/memory-dumps/ {\n",
            "    location /api/memory-dumps/ {\n"
            "        auth_basic \"memdump\";\n"
            f"        auth_basic_user_file {tmp_path / 'htpasswd'};\n"
            "        set $memdump_remote_user $remote_user;\n"
            "        set $memdump_remote_groups \"sso-dba, nosuchgroup\";\n", 1)
        tpl = tmp_path / "site.conf.in"
        tpl.write_text(site)
        ng = harness.Nginx(tmp_path / "ng", api_upstream=s.api.upstream, template=tpl,
                           api=s.api).start()
        try:
            base = ng.url + au.API
            r = requests.get(base + "session", auth=("carol", "wrong"), timeout=10)
            assert r.status_code == 401  # nginx's own refusal
            r = requests.get(base + "session", auth=("carol", "s3cret"), timeout=10)
            assert r.status_code == 200, r.text
            sess = r.json()["session"]
            assert sess["user"] == "carol" and sess["auth"] == "remote"
            assert sess["role"] == "operator" and "sso-dba" in sess["groups"], sess
            vms = requests.get(base + "vms", auth=("carol", "s3cret"), timeout=10).json()
            assert [v["name"] for v in vms["vms"]] == ["db-server"]
            r = requests.post(base + "trigger", auth=("carol", "s3cret"), timeout=30,
                              json={"vms": ["web-server"]})
            assert r.json()["results"][0]["error"]["code"] == "vm_not_found", r.text
        finally:
            ng.stop()
    finally:
        s.stop()


def test_per_user_cap_on_active_dumps(tmp_path, influx_server, influx_db):
    """MEMDUMP_USER_MAX_ACTIVE counts the caller's queued and running dumps (their
    requested_by in Redis): at the cap every further VM is refused too_many_dumps, while
    another user may still trigger."""
    s = au.ReadStack(tmp_path / "st", influx_server, influx_db,
                     extra={"MEMDUMP_USER_MAX_ACTIVE": 1}).start()
    try:
        au.seed_redis(s.r(), s.service_url)  # web-server's running dump is alice's
        s.api.accounts.admin("user", "add", "alice", "--role", "operator", "--no-password")
        tok = s.api.accounts.admin("token", "add", "alice").stdout.strip()
        r = call(s, "POST", "trigger", {"vms": ["db-server", "cache-server"]}, bearer(tok))
        assert r.status_code == 202, r.text
        codes = {x["vm"]: x["error"]["code"] for x in r.json()["results"]}
        assert codes == {"db-server": "too_many_dumps", "cache-server": "too_many_dumps"}, codes
        r = call(s, "POST", "trigger", {"vms": ["db-server"]},
                 bearer(s.credentials["operator"]["token"]))
        assert r.json()["results"][0]["error"]["code"] == "service_unavailable", r.text
    finally:
        s.stop()
