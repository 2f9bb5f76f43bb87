#!/usr/bin/python3
"""A real memdump stack for the browser tests, kept by this process (tests/harness/stack.py
used as a library, as the integration tests do).

Usage: stack_helper.py RUN_DIR NGINX_PORT GUESTS_JSON BIG_GUESTS_JSON
Prints one JSON line {"ready": true, "env": {...}} once everything answers, then reads JSON
commands from stdin, one per line, answering each with one JSON line:
    {"op": "kill", "part": "redis" | "influx" | "memdumpd" | "poller" | "api" | "nginx"}
    {"op": "stall"}   freeze the dump being written (libvirt's iohelper: SIGSTOP), so a
                      short dump stays running long enough to watch and cancel
    {"op": "resume"}  let frozen dumps go on (also done on stop)
    {"op": "drop_sessions", "cookie": VALUE}  delete a dashboard session in Redis, as an
                      expiry or a revocation does: the one of that cookie value
                      (memdump:session:<sha256 of it>), or every one without "cookie";
                      answers {"ok": true, "dropped": N}
    {"op": "stop"}
The ready line's env also holds the test accounts the harness created
(MEMDUMP_DEMO_<ROLE>_USER/_PASSWORD/_TOKEN for ADMIN, INVESTIGATOR, OPERATOR, VIEWER), read
from RUN_DIR/demo-credentials.
Everything is stopped on "stop", on end of input (the test runner died), on SIGTERM/SIGHUP,
and on any error; children also die with this process (the harness sets PR_SET_PDEATHSIG).
"""

import hashlib
import json
import secrets
import shlex
import socket
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "harness"))
import stack as harness  # noqa: E402

PARTS = ("redis", "influx", "memdumpd", "poller", "api", "nginx")


def reply(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


ROLES = ("ADMIN", "INVESTIGATOR", "OPERATOR", "VIEWER")


def credentials(st, run_dir):
    """MEMDUMP_DEMO_<ROLE>_* from RUN_DIR/demo-credentials (shell KEY=value lines), or from a
    `credentials` dict the stack may expose instead; {} when the stack has no accounts."""
    out = {}
    path = Path(getattr(st, "run_dir", run_dir)) / "demo-credentials"
    if not path.exists():
        path = Path(run_dir) / "demo-credentials"
    if path.exists():
        for line in path.read_text().splitlines():
            line = line.strip()
            if not line or line.startswith("#") or "=" not in line:
                continue
            key, _, value = line.partition("=")
            key = key.strip().removeprefix("export ").strip()
            if key.startswith("MEMDUMP_DEMO_"):
                parts = shlex.split(value) if value.strip() else [""]
                out[key] = parts[0] if parts else ""
    # the harness's accounts (the same 12 MEMDUMP_DEMO_* values the demo writes)
    if hasattr(st, "credentials_env"):
        for k, v in st.credentials_env().items():
            out.setdefault(k, v)
    return out


def redis_call(port, *args):
    """One Redis command over RESP; returns the first reply line (enough for an integer)."""
    payload = f"*{len(args)}\r\n" + "".join(f"${len(a.encode())}\r\n{a}\r\n" for a in args)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(payload.encode())
        buf = b""
        while b"\r\n" not in buf:
            chunk = s.recv(4096)
            if not chunk:
                break
            buf += chunk
    line = buf.split(b"\r\n", 1)[0].decode(errors="replace")
    if line.startswith("-"):
        raise RuntimeError(f"redis: {line[1:]}")
    return line


DROP_SESSIONS = ("local n = 0 for _, k in ipairs(redis.call('KEYS', ARGV[1])) do "
                 "n = n + redis.call('DEL', k) end return n")


def main():
    run_dir, port = sys.argv[1], int(sys.argv[2])
    guests = json.loads(sys.argv[3])
    big = json.loads(sys.argv[4])
    st = harness.Stack(run_dir, "full", guests=guests, guest_mib=256, ports={"nginx": port},
                       token=secrets.token_hex(32), log_level="info", poll_interval=2,
                       api_workers=4)
    stalled = []
    try:
        st.start()
        for name, mib in big:
            st.libvirt.define_guest(name, mib)
        reply({"ready": True, "env": {**st.env(), **credentials(st, run_dir)}})
        for line in sys.stdin:
            try:
                cmd = json.loads(line)
                if cmd.get("op") == "stop":
                    break
                if cmd.get("op") == "kill" and cmd.get("part") in PARTS:
                    getattr(st, cmd["part"]).kill()
                    reply({"ok": True})
                elif cmd.get("op") == "stall":
                    stalled += st.libvirt.stall_dumps(st.dump_dir)
                    reply({"ok": True})
                elif cmd.get("op") == "drop_sessions":
                    cookie = cmd.get("cookie")
                    if isinstance(cookie, str) and cookie:
                        key = "memdump:session:" + hashlib.sha256(cookie.encode()).hexdigest()
                        n = redis_call(st.redis.port, "DEL", key)
                    else:
                        n = redis_call(st.redis.port, "EVAL", DROP_SESSIONS, "0",
                                       "memdump:session:*")
                    reply({"ok": True, "dropped": int(n.lstrip(":") or 0)})
                elif cmd.get("op") == "resume":
                    st.libvirt.resume_dumps(stalled)
                    stalled.clear()
                    reply({"ok": True})
                else:
                    reply({"ok": False, "error": f"unknown command {line.strip()}"})
            except Exception as e:  # noqa: BLE001 - report and keep serving
                reply({"ok": False, "error": str(e)})
    except BaseException as e:
        reply({"ready": False, "error": str(e)})
        raise
    finally:
        if st.libvirt is not None:
            st.libvirt.resume_dumps(stalled)
        st.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
