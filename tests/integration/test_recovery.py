"""Recovery across the parts: a dependency dies under a running stack and comes back;
the programs notice, say so, and recover by themselves. Real libvirt + QEMU (TCG),
Redis, InfluxDB, nginx, memdumpd, poller and memdump-api from the harness."""

import os
import signal
import time
from pathlib import Path

import pytest
import requests

API = "/api/memory-dumps/"
BIG = "rc-big"  # 2 GiB of zero pages: a dump long enough to be caught running


def wait_for(pred, what, timeout=90, step=0.1):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(step)


def comm(pid):
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


@pytest.fixture(scope="module")
def big_guest(libvirt_session, demo_guests):
    if BIG not in libvirt_session.guests:
        libvirt_session.define_guest(BIG, 2048)
    yield BIG
    libvirt_session.destroy_guest(BIG)


def test_memdumpd_reconnects_when_libvirtd_dies(make_stack, libvirt_session):
    if not libvirt_session.private:
        pytest.skip("needs the harness's private libvirt session (run as root)")
    st = make_stack(["memdumpd"])
    url = st.memdumpd.url

    def vms():
        r = requests.get(url + "/api/vms", timeout=30)
        return r.json()["vms"] if r.status_code == 200 else None

    before = {v["name"]: v["state"] for v in wait_for(vms, "guest list")}
    assert before.get("web-server") == "running"
    daemons = [p for p in libvirt_session.processes() if comm(p) == "libvirtd"]
    assert daemons, "no libvirtd of this run found"
    for pid in daemons:
        os.kill(pid, signal.SIGKILL)

    # memdumpd sees the connection close, reconnects (the session daemon starts again
    # on connect) and lists the same guests, still running: QEMU outlived libvirtd.
    def same_guests_again():
        got = vms()
        return got is not None and {v["name"]: v["state"] for v in got} == before
    wait_for(same_guests_again, "guest list after libvirtd restart", timeout=120, step=0.5)
    assert st.memdumpd.alive(), st.memdumpd.log_text()[-2000:]
    new = [p for p in libvirt_session.processes() if comm(p) == "libvirtd"]
    assert new and not set(new) & set(daemons)
    health = requests.get(url + "/api/health", timeout=30).json()
    assert health["libvirt"]["ok"] is True
    # and a dump works on the new connection
    r = requests.post(url + "/api/dumps", json={"vm": "cache-server"}, timeout=30)
    assert r.status_code == 202, r.text
    dump_id = r.json()["dump"]["dump_id"]

    def final():
        d = requests.get(f"{url}/api/dumps/{dump_id}", timeout=30).json()["dump"]
        return d if d["state"] in ("completed", "failed", "cancelled") else None
    d = wait_for(final, "dump after reconnect", timeout=180, step=0.2)
    assert d["state"] == "completed", d


def test_dump_interrupted_by_memdumpd_crash_is_failed_everywhere(make_stack, big_guest):
    st = make_stack("full")
    base = st.nginx.url + API
    md = st.memdumpd.url
    wait_for(lambda: any(v["name"] == BIG for v in
                         requests.get(base + "vms", timeout=30).json()["vms"]),
             "inventory with the big guest")
    r = requests.post(base + "trigger", json={"vms": [BIG]}, timeout=60)
    assert r.status_code == 202, r.text
    dump_id = r.json()["results"][0]["dump_id"]

    def streaming():
        d = requests.get(f"{md}/api/dumps/{dump_id}", timeout=30).json()["dump"]
        assert d["state"] in ("queued", "running"), f"finished before the crash: {d}"
        return d["state"] == "running" and d["bytes_written"] > 0
    wait_for(streaming, "dump streaming", step=0.02)

    st.memdumpd.kill(signal.SIGKILL)
    wait_for(lambda: not st.memdumpd.alive(), "memdumpd gone")
    st.memdumpd.start()

    # memdumpd's journal turns the running dump into a failed one; the poller carries
    # that into Redis, so the API (and the dashboard) say why.
    def failed_in_api():
        r = requests.get(base + "status/" + BIG, timeout=30)
        if r.status_code != 200:
            return None
        d = r.json()["dump"]
        return d if d["dump_id"] == dump_id and d["state"] == "failed" else None
    d = wait_for(failed_in_api, "failed state through the API", timeout=120, step=0.5)
    assert "interrupted by restart" in d["error"], d
    assert dump_id not in {a["dump_id"] for a in
                           requests.get(base + "status", timeout=30).json()["active"]}
    # nothing partial is left, and the history keeps the failure
    assert not [p for p in Path(st.dump_dir).rglob("*") if p.name.endswith(".part")]

    def recorded():
        recs = requests.get(base + "records", params={"vm": BIG}, timeout=30).json()["records"]
        return [x for x in recs if x["dump_id"] == dump_id]
    rec = wait_for(recorded, "failed record in InfluxDB", timeout=60, step=0.5)[0]
    assert rec["state"] == "failed" and "interrupted by restart" in rec["error"]
    # the guest survived its dump being cut off
    assert st.libvirt.domstate(BIG) == "running"
