"""`make demo`'s launcher (tests/harness/stack.py up/down) as a user runs it: the stack is
started detached and must keep running after the command returns; .run/demo.env holds
what the README promises; a second `up` changes nothing; `down` leaves no process."""

import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import requests

import stack as harness

STACK = str(Path(harness.__file__).resolve())
KEYS = ("REDIS_URL", "INFLUX_URL", "INFLUX_DB", "LIBVIRT_URI", "DUMP_DIR",
        "MEMDUMP_SERVICE_URL", "DASHBOARD_URL", "LIBVIRT_AS")


def run(*args, timeout=300):
    cp = subprocess.run([sys.executable, STACK, *args], capture_output=True, text=True,
                        timeout=timeout, env=harness.child_env(), stdin=subprocess.DEVNULL)
    assert cp.returncode == 0, f"stack.py {' '.join(args)}: {cp.stdout}\n{cp.stderr}"
    return cp.stdout


def pids_under(run_dir):
    """Processes whose command line or environment points into run_dir."""
    needle = str(run_dir).encode()
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            blob = Path(f"/proc/{d}/cmdline").read_bytes() + Path(f"/proc/{d}/environ").read_bytes()
            state = Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if needle in blob and state != "Z":
            out.append(int(d))
    return out


def test_demo_up_is_detached_idempotent_and_down_leaves_nothing(tmp_path):
    run_dir = tmp_path / "run"
    port, md_port = harness.free_port(), harness.free_port()
    try:
        out = run("up", "--run-dir", str(run_dir), "--port", str(port),
                  "--memdumpd-port", str(md_port), "--guests", "web-server", "--guest-mib", "128")
        assert f"http://127.0.0.1:{port}/" in out
        env = {}
        for line in (run_dir / "demo.env").read_text().splitlines():
            k, _, v = line.partition("=")
            env[k] = shlex.split(v)[0] if v else ""
        assert set(KEYS) <= set(env), env
        assert env["DASHBOARD_URL"] == f"http://127.0.0.1:{port}/"
        assert env["MEMDUMP_SERVICE_URL"] == f"http://127.0.0.1:{md_port}"
        assert (run_dir / "service-token").stat().st_mode & 0o077 == 0

        # the command has returned: every part must still be there a while later
        # (a child tied to the launcher's life would be gone by now)
        time.sleep(3)
        base = env["DASHBOARD_URL"] + "api/memory-dumps/"
        health = requests.get(env["MEMDUMP_SERVICE_URL"] + "/api/health", timeout=10).json()
        assert health["libvirt"]["ok"] is True

        def ready():
            st = requests.get(base + "status", timeout=10).json()
            vms = requests.get(base + "vms", timeout=10).json()["vms"]
            return (st["services"] and st["services"][0]["reachable"]
                    and [v["name"] for v in vms] == ["web-server"])
        deadline = time.monotonic() + 60
        while not ready():
            assert time.monotonic() < deadline, "the demo's poller never filled Redis"
            time.sleep(0.5)
        assert requests.get(env["DASHBOARD_URL"], timeout=10).status_code == 200

        before = sorted(pids_under(run_dir))
        out = run("up", "--run-dir", str(run_dir), "--port", str(port),
                  "--memdumpd-port", str(md_port), "--guests", "web-server", "--guest-mib", "128")
        assert "already up" in out
        assert sorted(pids_under(run_dir)) == before
    finally:
        run("down", "--run-dir", str(run_dir))
    deadline = time.monotonic() + 15
    while pids_under(run_dir) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert pids_under(run_dir) == [], "processes left after down"
    assert not (run_dir / "demo.env").exists()
