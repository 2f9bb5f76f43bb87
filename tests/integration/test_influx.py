"""The project's InfluxDB client (lib/influx*.c through bin/influxctl) against a real
InfluxDB 1.x: what the line-protocol writer sends is exactly what InfluxDB stores,
names it cannot store exactly are refused before anything is sent, and InfluxDB's own
errors come back with the right code and InfluxDB's reason."""

import json
import subprocess

import stack as harness


def run(influxctl, env, *args, ok=True):
    p = subprocess.run([str(influxctl), *args], capture_output=True, text=True, env=env,
                       timeout=30)
    if ok:
        assert p.returncode == 0, f"influxctl {args[0]} failed: {p.stderr}"
    else:
        assert p.returncode == 1, f"influxctl {args[0]} should fail: {p.stdout}{p.stderr}"
    return p


def env_for(url, db):
    return harness.child_env({"INFLUX_URL": url, "INFLUX_DB": db})


def rows(influxctl, env, q):
    series = json.loads(run(influxctl, env, "query", q).stdout)
    return [dict(zip(s["columns"], v)) for s in series for v in s["values"]]


def test_point_round_trip_is_exact(influx_server, influx_db, influxctl):
    env = env_for(influx_server.url, influx_db)
    vm = 'web server,1=x a\\b caf\u00e9'         # spaces, comma, '=', a lone backslash
    note = 'line1\nline2\t"quoted" \\\\ end\\'   # newline, tab, quotes, backslashes
    run(influxctl, env, "point", "lp probe", "tag", "vm", vm, "tag", "host", "kvm1",
        "str", "note", note, "int", "big", "-9223372036854775808", "float", "ratio", "0.1",
        "time", "1795372203250")
    got = rows(influxctl, env, 'SELECT * FROM "lp probe"')
    assert got == [{"time": 1795372203250, "big": -9223372036854775808, "host": "kvm1",
                    "note": note, "ratio": 0.1, "vm": vm}]
    # the same values as filters, quoted by influx_ql_quote's rules
    got = rows(influxctl, env,
               "SELECT note FROM \"lp probe\" WHERE vm = 'web server,1=x a\\\\b caf\u00e9'")
    assert [r["note"] for r in got] == [note]


def test_unstorable_names_are_refused_and_nothing_written(influx_server, influx_db, influxctl):
    env = env_for(influx_server.url, influx_db)
    for vm in ("evil\\", "a\\,b", "a\nb", ""):
        p = run(influxctl, env, "point", "refused", "tag", "vm", vm, "int", "x", "1", ok=False)
        assert "invalid" in p.stderr and "'vm'" in p.stderr, p.stderr
    p = run(influxctl, env, "point", "refused", "float", "x", "nan", ok=False)
    assert "finite" in p.stderr
    assert rows(influxctl, env, "SELECT * FROM refused") == []


def test_influx_errors_keep_code_and_reason(influx_server, influx_db, influxctl):
    env = env_for(influx_server.url, influx_db)
    p = run(influxctl, env, "query", "SELECT FROMM x", ok=False)
    assert "invalid:" in p.stderr and "error parsing query" in p.stderr
    p = run(influxctl, env, "write", "m,vm=a x=", ok=False)
    assert "invalid:" in p.stderr and "missing field" in p.stderr
    missing = env_for(influx_server.url, "no_such_db")
    p = run(influxctl, missing, "write", "m x=1i", ok=False)
    assert "not_found:" in p.stderr and "database not found" in p.stderr
    p = run(influxctl, missing, "query", "SELECT * FROM m", ok=False)
    assert "database not found" in p.stderr


def test_create_db_is_idempotent(influx_server, influxctl):
    env = env_for(influx_server.url, "created_by_client")
    run(influxctl, env, "create-db")
    run(influxctl, env, "create-db")
    run(influxctl, env, "write", "m,vm=a x=7i 1000")
    assert rows(influxctl, env, "SELECT x FROM m") == [{"time": 1000, "x": 7}]


def test_down_influx_is_unavailable(influxctl):
    port = harness.free_port()  # nothing listens there
    env = env_for(f"http://127.0.0.1:{port}", "vmstats")
    for args in (("ping",), ("query", "SELECT * FROM m"), ("write", "m x=1i")):
        p = run(influxctl, env, *args, ok=False)
        assert "unavailable:" in p.stderr, p.stderr


def test_ping(influx_server, influx_db, influxctl):
    run(influxctl, env_for(influx_server.url, influx_db), "ping")
