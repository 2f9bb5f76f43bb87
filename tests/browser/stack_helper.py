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
    {"op": "stop"}
Everything is stopped on "stop", on end of input (the test runner died), on SIGTERM/SIGHUP,
and on any error; children also die with this process (the harness sets PR_SET_PDEATHSIG).
"""

import json
import secrets
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "harness"))
import stack as harness  # noqa: E402

PARTS = ("redis", "influx", "memdumpd", "poller", "api", "nginx")


def reply(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


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
        reply({"ready": True, "env": st.env()})
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
