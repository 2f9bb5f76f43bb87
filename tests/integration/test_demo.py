"""`make demo`'s launcher (tests/harness/stack.py up/down) as a user runs it: the stack is
started detached and must keep running after the command returns; .run/demo.env holds
what the README promises; .run/demo-credentials (0600) holds a user, password and API token
per role, each token is let in and no credential is refused; a second `up` changes
nothing (same credentials); `down` leaves no process."""

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
ROLES = ("ADMIN", "INVESTIGATOR", "OPERATOR", "VIEWER")
CRED_KEYS = tuple(f"MEMDUMP_DEMO_{r}_{w}" for r in ROLES for w in ("USER", "PASSWORD", "TOKEN"))
NO_AUTH = {"Authorization": None}  # (the demo's nginx is not this process's: nothing added)


def read_env_file(path):
    """KEY=value lines as a shell reads them (comments and blank lines skipped)."""
    env = {}
    for line in path.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        k, _, v = line.partition("=")
        env[k] = shlex.split(v)[0] if v else ""
    return env


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
        assert "demo-credentials" in out and "log in as admin" in out.lower(), out
        assert "Authorization: Bearer $MEMDUMP_DEMO_" in out, out
        env = read_env_file(run_dir / "demo.env")
        assert set(KEYS) <= set(env), env
        assert not any(k.startswith("MEMDUMP_DEMO_") for k in env), "secrets in demo.env"
        creds_path = run_dir / "demo-credentials"
        assert creds_path.stat().st_mode & 0o777 == 0o600
        creds_text = creds_path.read_text()
        creds = read_env_file(creds_path)
        assert set(creds) == set(CRED_KEYS), creds.keys()
        for r in ROLES:
            assert creds[f"MEMDUMP_DEMO_{r}_USER"] == r.lower()
            assert len(creds[f"MEMDUMP_DEMO_{r}_PASSWORD"]) >= 16
            assert creds[f"MEMDUMP_DEMO_{r}_TOKEN"].startswith("mdt_")
        admin = {"Authorization": f"Bearer {creds['MEMDUMP_DEMO_ADMIN_TOKEN']}"}
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
            st = requests.get(base + "status", headers=admin, timeout=10).json()
            vms = requests.get(base + "vms", headers=admin, timeout=10).json()["vms"]
            return (st["services"] and st["services"][0]["reachable"]
                    and [v["name"] for v in vms] == ["web-server"])
        deadline = time.monotonic() + 60
        while not ready():
            assert time.monotonic() < deadline, "the demo's poller never filled Redis"
            time.sleep(0.5)
        assert requests.get(env["DASHBOARD_URL"], timeout=10).status_code == 200

        # every role's token is let in; no credential (or a wrong one) is not
        for r in ROLES:
            h = {"Authorization": f"Bearer {creds[f'MEMDUMP_DEMO_{r}_TOKEN']}"}
            got = requests.get(base + "status", headers=h, timeout=10)
            assert got.status_code == 200, (r, got.status_code, got.text)
        got = requests.get(base + "status", headers=NO_AUTH, timeout=10)
        assert got.status_code == 401, (got.status_code, got.text)
        assert got.json()["error"]["code"] == "unauthenticated", got.text
        wrong = creds["MEMDUMP_DEMO_VIEWER_TOKEN"][:-4] + "AAAA"
        got = requests.get(base + "status", headers={"Authorization": f"Bearer {wrong}"},
                           timeout=10)
        assert got.status_code == 401, (got.status_code, got.text)
        # the admin password logs in to the dashboard
        got = requests.post(base + "session", headers={**NO_AUTH}, timeout=10,
                            json={"user": creds["MEMDUMP_DEMO_ADMIN_USER"],
                                  "password": creds["MEMDUMP_DEMO_ADMIN_PASSWORD"]})
        assert got.status_code == 200 and got.json()["session"]["role"] == "admin", got.text

        before = sorted(pids_under(run_dir))
        out = run("up", "--run-dir", str(run_dir), "--port", str(port),
                  "--memdumpd-port", str(md_port), "--guests", "web-server", "--guest-mib", "128")
        assert "already up" in out
        assert "demo-credentials" in out, out
        assert sorted(pids_under(run_dir)) == before
        assert creds_path.read_text() == creds_text, "a second up changed the credentials"
        assert creds_path.stat().st_mode & 0o777 == 0o600
    finally:
        run("down", "--run-dir", str(run_dir))
    deadline = time.monotonic() + 15
    while pids_under(run_dir) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert pids_under(run_dir) == [], "processes left after down"
    assert not (run_dir / "demo.env").exists()
