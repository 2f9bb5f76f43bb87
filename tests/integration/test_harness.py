"""The first integration test: proves the harness starts every real component and that
the facts memdumpd relies on hold on this machine (ELF memory dumps, dumps into a FIFO
hash exactly like a file dump)."""

import hashlib
import os
import pwd
import subprocess
import threading

import pytest
import redis
import requests

import stack as harness

MIB = 1024 * 1024


def test_redis_answers(redis_server):
    r = redis.Redis.from_url(redis_server.url)
    assert r.ping()
    r.set("memdump:harness", "ok")
    assert r.get("memdump:harness") == b"ok"
    redis_server.restart()  # no persistence: a restart is an empty cache
    assert redis.Redis.from_url(redis_server.url).get("memdump:harness") is None


def test_influx_survives_restart(tmp_path):
    influx = harness.Influx(tmp_path).start()
    try:
        db = influx.create_db("harness")
        assert influx.write("probe,vm=a value=1i", db=db) == 204
        influx.stop()
        with pytest.raises(OSError):
            influx.write("probe,vm=a value=2i", db=db)
        influx.start()
        res = influx.query("SELECT value FROM probe", db=db)
        assert res["results"][0]["series"][0]["values"][0][1] == 1
    finally:
        influx.stop()


def _influxctl(path, env, *args, stdin=None):
    cp = subprocess.run([str(path), *args], input=stdin, capture_output=True, text=True,
                        env=env, timeout=30)
    assert cp.returncode == 0, f"influxctl {' '.join(args)} failed: {cp.stdout}{cp.stderr}"
    return cp.stdout


def test_influx_through_project_client(influx_server, influx_db, influxctl):
    """Write points and read them back with bin/influxctl (lib/influx.c over HTTP)."""
    env = harness.child_env({"INFLUX_URL": influx_server.url, "INFLUX_DB": influx_db})
    _influxctl(influxctl, env, "ping")
    # raw line protocol, then a point built by the project's writer, whose escaping of
    # spaces, commas, quotes, backslashes and '=' must reach InfluxDB intact
    _influxctl(influxctl, env, "write", "harness,vm=raw size=1i")
    tricky = 'a "quoted", \\back\\slashed = value'
    _influxctl(influxctl, env, "point", "harness", "tag", "vm", "web server,1=x",
               "str", "note", tricky, "int", "size", "42")
    stored = influx_server.query("SELECT * FROM harness", db=influx_db)
    series = stored["results"][0]["series"][0]
    rows = {r["vm"]: r for r in (dict(zip(series["columns"], v)) for v in series["values"])}
    assert rows["raw"]["size"] == 1
    assert rows["web server,1=x"]["size"] == 42
    assert rows["web server,1=x"]["note"] == tricky
    out = _influxctl(influxctl, env, "query", "SELECT size, vm FROM harness")
    assert "42" in out and "web server,1=x" in out, out


def test_nginx_serves_static(tmp_path):
    htdocs = tmp_path / "htdocs"
    htdocs.mkdir()
    (htdocs / "index.html").write_text("<h1>memdump harness</h1>\n")
    (htdocs / "app.js").write_text("console.log(1);\n")
    ngx = harness.Nginx(tmp_path, htdocs=htdocs).start()
    try:
        r = requests.get(ngx.url, timeout=5)
        assert r.status_code == 200 and "memdump harness" in r.text
        js = requests.get(ngx.url + "app.js", timeout=5)
        assert js.status_code == 200
        assert "javascript" in js.headers["Content-Type"]
        assert requests.get(ngx.url + "missing", timeout=5).status_code == 404
    finally:
        ngx.stop()
    assert not harness.port_open(ngx.port)


def _fifo_sha256(sess, name, fifo):
    """Dump `name` into a FIFO while this process reads it; returns (sha256, size)."""
    h = hashlib.sha256()
    size = [0]
    errors = []

    def reader():
        try:
            with open(fifo, "rb", buffering=0) as f:
                while True:
                    chunk = f.read(1 << 20)
                    if not chunk:
                        break
                    h.update(chunk)
                    size[0] += len(chunk)
        except OSError as e:  # pragma: no cover - reported below
            errors.append(e)

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    cp = sess.virsh("dump", "--memory-only", "--format", "elf", name, str(fifo),
                    check=False, timeout=60)
    t.join(timeout=30)
    if t.is_alive():  # virsh never opened the FIFO: unblock the reader
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        t.join(timeout=5)
    assert cp.returncode == 0, f"virsh dump to FIFO failed: {cp.stdout}{cp.stderr}"
    assert not errors, errors
    return h.hexdigest(), size[0]


def test_libvirt_dump(libvirt_session):
    sess = libvirt_session
    name = "harness-<script>&'probe'"  # names are XML-escaped text
    mib = 256
    sess.define_guest(name, mib)
    try:
        assert sess.domstate(name) == "running"
        assert name in sess.list_domains()
        ddir = sess.user_dir("harness-dumps")
        if sess.private:
            assert pwd.getpwuid(os.stat(ddir).st_uid).pw_name == harness.VIRT_USER
        assert os.stat(ddir).st_mode & 0o777 == 0o700

        # paused, the guest's memory is stable, so two dumps must hash the same
        sess.virsh("suspend", name)
        path = ddir / "probe.elf"
        sess.virsh("dump", "--memory-only", "--format", "elf", name, str(path))
        st = os.stat(path)
        assert pwd.getpwuid(st.st_uid).pw_name == sess.user
        assert mib * MIB <= st.st_size <= mib * MIB * 1.05
        h = hashlib.sha256()
        with open(path, "rb") as f:
            assert f.read(4) == b"\x7fELF"
            f.seek(0)
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        file_sha = h.hexdigest()

        fifo = ddir / "probe.fifo"
        os.mkfifo(fifo, 0o600)
        if sess.private:
            pw = pwd.getpwnam(harness.VIRT_USER)
            os.chown(fifo, pw.pw_uid, pw.pw_gid)
        fifo_sha, fifo_size = _fifo_sha256(sess, name, fifo)
        assert fifo_size == st.st_size
        assert fifo_sha == file_sha
        sess.virsh("resume", name)
        assert sess.domstate(name) == "running"
        path.unlink()
        fifo.unlink()
    finally:
        sess.destroy_guest(name)
    assert name not in sess.list_domains()


def test_libvirt_session_is_private(libvirt_session):
    """Processes of this run's libvirt are found (and so can be stopped) by the harness."""
    if not libvirt_session.private:
        pytest.skip("not root: the libvirt session is the current user's own")
    pids = libvirt_session.processes()
    assert pids, "no libvirtd of this run found"
    names = {open(f"/proc/{p}/comm").read().strip() for p in pids}
    assert "libvirtd" in names
    for p in pids:
        assert pwd.getpwuid(os.stat(f"/proc/{p}").st_uid).pw_name == harness.VIRT_USER


def test_program_missing_binary_is_clear(tmp_path, monkeypatch):
    monkeypatch.setenv("MEMDUMP_BIN_DIR", str(tmp_path / "nobin"))
    prog = harness.Poller(tmp_path, {"REDIS_URL": "redis://127.0.0.1:1/0"})
    with pytest.raises(harness.HarnessError, match="memdump-poller is missing"):
        prog.start()


def test_wait_reports_log_tail(tmp_path):
    """A service that dies at start is reported with its log, not a bare timeout."""
    bad = harness.Redis(tmp_path, port=harness.free_port())
    bad.argv = lambda: ["redis-server", "--port", "not-a-port"]
    with pytest.raises(harness.HarnessError) as ei:
        bad.start()
    assert "process exited" in str(ei.value)
    assert "not-a-port" in str(ei.value)  # the log tail names the bad value
