"""The audit trail against a real influxd: events written through memdump-admin's
audit functions (bin/audittool until memdump-admin's CLI calls them) are verified
intact; removing one point, editing one, or InfluxDB being down while events are
emitted is seen by `audit verify` or delivered exactly once; GET /audit through
the real API stack filters and pages them."""

import os
import subprocess
import urllib.parse

import pytest
import requests

import stack as harness
from api_util import ReadStack, assert_error, get, wait_for


def tool():
    path = harness.bin_dir() / "audittool"
    if not os.access(path, os.X_OK):
        pytest.skip(f"{path} not built")
    return str(path)


def run(influx, db, spool, *args, user="root-op", check=None):
    env = harness.child_env({"INFLUX_URL": influx.url, "INFLUX_DB": db,
                             "MEMDUMP_AUDIT_SPOOL": str(spool), "SUDO_USER": user})
    p = subprocess.run([tool(), *args], env=env, capture_output=True, text=True, timeout=120)
    if check is not None:
        assert p.returncode == check, (p.returncode, p.stdout, p.stderr)
    return p


def points(influx, db):
    """Every mem_dump_audit point as dicts, with time in ns, oldest first."""
    r = requests.get(influx.url + "/query", timeout=10, params={
        "db": db, "epoch": "ns", "q": "SELECT * FROM mem_dump_audit ORDER BY time ASC"})
    r.raise_for_status()
    res = r.json()["results"][0]
    out = []
    for s in res.get("series", []):
        for row in s["values"]:
            out.append(dict(zip(s["columns"], row)))
    return out


def test_verify_intact_removed_edited(tmp_path, influx_server, influx_db):
    spool = tmp_path / "spool"
    run(influx_server, influx_db, spool, "event", "user.add", "alice", "role=viewer", "20",
        check=0)
    pts = points(influx_server, influx_db)
    assert len(pts) == 20 and [p["seq"] for p in pts] == list(range(1, 21))
    assert len({p["chain"] for p in pts}) == 1
    assert pts[0]["prev"] == "0" * 64 and pts[1]["prev"] == pts[0]["hash"]
    assert pts[0]["user"] == "root-op" and pts[0]["detail"] == "target=alice role=viewer"
    assert not list(spool.glob("*.lp"))
    p = run(influx_server, influx_db, spool, "verify", check=0)
    assert "audit: 20 events in 1 chains, intact" in p.stdout

    # remove seq 5
    chain = pts[0]["chain"]
    influx_server.query(f"DELETE FROM mem_dump_audit WHERE time = {pts[4]['time']}",
                        db=influx_db)
    assert len(points(influx_server, influx_db)) == 19
    p = run(influx_server, influx_db, spool, "verify", check=1)
    assert f"chain {chain}: event seq 5 missing" in p.stdout, p.stdout

    # overwrite seq 9's detail (same series and time)
    t = pts[8]["time"]
    influx_server.write(f'mem_dump_audit,action=user.add,chain={chain},result=ok '
                        f'detail="target=mallory role=admin" {t}', db=influx_db)
    p = run(influx_server, influx_db, spool, "verify", check=1)
    assert f"chain {chain}: event seq 9 edited" in p.stdout, p.stdout
    assert f"chain {chain}: event seq 5 missing" in p.stdout

    # --since after the damage: the rest of the chain is intact
    since = pts[10]["at"]
    p = run(influx_server, influx_db, spool, "verify", "--since", since, check=0)
    assert "audit: 10 events in 1 chains, intact" in p.stdout, p.stdout


def test_influx_down_spooled_then_sent_once(tmp_path):
    influx = harness.Influx(tmp_path / "influx", db="auditdb").start()
    spool = tmp_path / "spool"
    try:
        influx.create_db("auditdb")
        influx.stop()
        p = run(influx, "auditdb", spool, "event", "token.add", "bob", "id=t1", "5", check=0)
        assert "stays in" in p.stderr
        assert len(list(spool.glob("*.lp"))) == 5
        p = run(influx, "auditdb", spool, "verify", check=69)
        influx.start()
        # the next run's sender also sends what the earlier run left
        run(influx, "auditdb", spool, "event", "token.revoke", "bob", "id=t1", check=0)
        wait_for(lambda: not list(spool.glob("*.lp")), 30, "spool emptied")
        pts = points(influx, "auditdb")
        assert len(pts) == 6
        assert sorted(p["action"] for p in pts) == ["token.add"] * 5 + ["token.revoke"]
        p = run(influx, "auditdb", spool, "verify", check=0)
        assert "audit: 6 events in 2 chains, intact" in p.stdout
    finally:
        influx.stop()


def test_get_audit_filters_and_pages(tmp_path, influx_server, influx_db):
    spool = tmp_path / "spool"
    run(influx_server, influx_db, spool, "event", "user.add", "alice", "", "3", user="ann",
        check=0)
    run(influx_server, influx_db, spool, "event", "token.revoke", "bob", "id=x", "2",
        user="o'brien", check=0)
    st = ReadStack(tmp_path / "api", influx_server, influx_db).start()
    try:
        # (the harness's own account setup is in the trail too: look at ann's and o'brien's)
        r = get(st.base, "audit")
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["limit"] == 100 and body["offset"] == 0
        ev = [e for e in body["events"] if e["user"] in ("ann", "o'brien")]
        assert body["total"] >= 5 and len(ev) == 5
        assert [e["action"] for e in ev] == ["token.revoke"] * 2 + ["user.add"] * 3  # newest first
        assert set(ev[0]) >= {"at", "chain", "seq", "action", "result", "request_id", "user",
                              "auth", "role", "client", "vm", "dump_id", "status", "detail",
                              "prev", "hash"}
        r = get(st.base, "audit?user=" + urllib.parse.quote("o'brien"))
        assert [e["user"] for e in r.json()["events"]] == ["o'brien"] * 2
        r = get(st.base, "audit?action=user.add&user=ann&limit=2&offset=1").json()
        assert r["total"] == 3 and [e["seq"] for e in r["events"]] == [2, 1]
        r = get(st.base, "audit?result=refused&user=ann").json()
        assert r["total"] == 0 and r["events"] == []
        assert_error(get(st.base, "audit?limit=0"), 422, "invalid_field")
        assert_error(get(st.base, "audit?result=maybe"), 422, "invalid_field")
        assert_error(get(st.base, "audit?bogus=1"), 400, "invalid_query")
    finally:
        st.stop()


def test_get_audit_influx_down(tmp_path, influx_db):
    influx = harness.Influx(tmp_path / "influx").start()
    st = ReadStack(tmp_path / "api", influx, "x").start()
    try:
        influx.stop()
        assert_error(get(st.base, "audit"), 503, "influx_unavailable")
    finally:
        st.stop()
        influx.stop()
