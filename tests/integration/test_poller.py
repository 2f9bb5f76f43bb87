"""memdump-poller against real Redis, real memdumpd processes and real guests: dumps'
progress and completion reach Redis (active set, dump key with TTL, latest, events),
several hosts with one stopped, FLUSHALL and Redis restarts rebuilt, two pollers with
a lease and a fail-over, dumps memdumpd does not know failed with a reason, SIGHUP
reload and SIGTERM releasing the lease."""

import json
import os
import signal
import time

import pytest
import redis
import requests

import stack as harness
from poller_util import Store, create_dump, start_poller, wait_for

VM = "web-server"
FINAL = ("completed", "failed", "cancelled")


def new_stack(tmp_path, libvirt_session, influx_server, name):
    return harness.Stack(tmp_path / name, ["redis", "memdumpd"], libvirt=libvirt_session,
                         influx=influx_server,
                         influx_db=f"poller_{os.getpid()}_{name}_{time.monotonic_ns()}",
                         extra_config={"memdumpd": {"MEMDUMP_DISK_RESERVE_MB": 0}}).start()


def second_memdumpd(tmp_path, st):
    """Another memdumpd on the same libvirt session (a second 'KVM host')."""
    md = harness.Memdumpd(tmp_path / "md2", {
        "LIBVIRT_URI": st.libvirt.uri, "INFLUX_URL": st.influx.url, "INFLUX_DB": st.influx_db,
        "MEMDUMP_LOG_LEVEL": "debug", "MEMDUMP_DISK_RESERVE_MB": 0},
        prefix=st.libvirt.as_user)
    ddir = st.libvirt.user_dir(f"dumps-{md.port}")
    md.config["DUMP_DIR"] = str(ddir)
    return md.start()


@pytest.fixture
def st(tmp_path, libvirt_session, influx_server, demo_guests):
    s = new_stack(tmp_path, libvirt_session, influx_server, "p")
    yield s
    s.stop()


def test_dump_progress_and_completion_reach_redis(tmp_path, st):
    store = Store(st.redis.url)
    sub = store.r.pubsub()
    sub.subscribe("memdump:events")
    poller = start_poller(tmp_path, st.redis.url, [st.memdumpd.url])
    url = st.memdumpd.url

    # inventory and health first
    vms = wait_for(lambda: store.hash("memdump:vms"), "inventory written", logs=[poller])
    assert vms[VM]["service"] == url and vms[VM]["reachable"] is True
    assert vms[VM]["memory_bytes"] > 0
    h = wait_for(lambda: store.hash("memdump:health").get(url), "health written")
    assert h["reachable"] is True and h["last_error"] is None and h["last_success"]

    d = create_dump(url, VM, requested_by="alice")
    dump_id = d["dump_id"]
    seen_active = []

    def finished():
        a = store.hash("memdump:active")
        if dump_id in a:
            seen_active.append(a[dump_id])
        rec = store.dump(dump_id)
        return rec if rec and rec["state"] in FINAL else None

    rec = wait_for(finished, "dump completed in Redis", timeout=180, logs=[poller, st.memdumpd])
    assert rec["state"] == "completed", rec
    assert rec["service"] == url and rec["requested_by"] == "alice"
    assert len(rec["sha256"]) == 64 and rec["size_bytes"] > 0 and rec["progress"] == 100
    for a in seen_active:  # whatever was seen while active was a live dump record
        assert a["state"] in ("queued", "running") and 0 <= a["progress"] <= 100
    assert dump_id not in store.hash("memdump:active")
    ttl = store.r.ttl(f"memdump:dump:{dump_id}")
    assert 0 < ttl <= 86400  # finished dumps expire (MEMDUMP_RECORD_TTL)
    latest = store.hash("memdump:latest")[VM]
    assert latest["dump_id"] == dump_id and latest["state"] == "completed"
    assert latest["requested_by"] == "alice"
    poller_key = store.get("memdump:poller")
    assert poller_key["id"] == poller.lease_id and store.r.ttl("memdump:poller") > 0

    events = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not any(
            e.get("dump_id") == dump_id and e["state"] == "completed" for e in events):
        m = sub.get_message(timeout=1)
        if m and m["type"] == "message":
            events.append(json.loads(m["data"]))
    mine = [e for e in events if e.get("dump_id") == dump_id]
    assert mine and mine[-1]["state"] == "completed", events
    assert mine[-1]["vm"] == VM and mine[-1]["service"] == url and mine[-1]["at"]
    assert len({e["state"] for e in mine}) == len(mine)  # one event per state change
    sub.close()

    # FLUSHALL: the next cycles rebuild what a worker needs
    store.r.flushall()
    wait_for(lambda: store.hash("memdump:vms").get(VM), "inventory rebuilt", logs=[poller])
    wait_for(lambda: store.hash("memdump:health").get(url), "health rebuilt")
    rebuilt = wait_for(lambda: store.dump(dump_id), "dump record rebuilt")
    assert rebuilt["state"] == "completed" and rebuilt["sha256"] == rec["sha256"]
    assert rebuilt["requested_by"] == "alice"  # rebuilt from memdumpd, not Redis
    assert 0 < store.r.ttl(f"memdump:dump:{dump_id}") <= 86400
    assert wait_for(lambda: store.hash("memdump:latest").get(VM), "latest rebuilt")[
        "dump_id"] == dump_id
    assert store.hash("memdump:active") == {}

    # SIGTERM: clean exit, lease released
    proc = poller.proc
    poller.stop()
    assert proc.returncode == 0
    assert store.lease() is None
    assert "event=stopped" in poller.log_text()


def test_unknown_dump_is_failed_with_reason(tmp_path, st):
    """An active entry memdumpd never had (or lost in a restart) is failed."""
    store = Store(st.redis.url)
    url = st.memdumpd.url
    poller = start_poller(tmp_path, st.redis.url, [url])
    wait_for(lambda: store.hash("memdump:health").get(url), "first cycle", logs=[poller])
    ghost_id = "20261122T183000Z-00000000dead"
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    ghost = {"dump_id": ghost_id, "vm": "cache-server", "host": "kvm1", "service": url,
             "format": "elf", "state": "queued", "progress": 0, "created_at": now,
             "started_at": None, "finished_at": None, "error": None}
    store.r.hset("memdump:active", ghost_id, json.dumps(ghost))
    store.r.set(f"memdump:dump:{ghost_id}", json.dumps(ghost))

    rec = wait_for(lambda: (store.dump(ghost_id) or {}).get("state") == "failed"
                   and store.dump(ghost_id), "ghost dump failed", logs=[poller])
    assert rec["error"] == f"unknown to memdumpd at {url} (restarted or lost)"
    assert rec["finished_at"]
    assert ghost_id not in store.hash("memdump:active")
    assert store.r.ttl(f"memdump:dump:{ghost_id}") > 0
    assert "state=\"failed\"" in poller.log_text() or "state=failed" in poller.log_text()


def test_two_hosts_one_stopped_and_sighup(tmp_path, st):
    store = Store(st.redis.url)
    md2 = second_memdumpd(tmp_path, st)
    try:
        url1, url2 = st.memdumpd.url, md2.url
        poller = start_poller(tmp_path, st.redis.url, [url1])
        wait_for(lambda: url1 in store.hash("memdump:health"), "host 1 polled", logs=[poller])
        assert url2 not in store.hash("memdump:health")

        # SIGHUP: the file now lists both hosts
        poller.write_conf({"REDIS_URL": st.redis.url, "MEMDUMP_SERVICE_URL": f"{url1},{url2}",
                           "MEMDUMP_POLL_INTERVAL": 1, "MEMDUMP_SERVICE_TIMEOUT": 5})
        os.kill(poller.pid, signal.SIGHUP)
        wait_for(lambda: (store.hash("memdump:health").get(url2) or {}).get("reachable"),
                 "host 2 polled after SIGHUP", logs=[poller])
        assert "event=reloaded" in poller.log_text()

        md2.stop()
        h2 = wait_for(lambda: (lambda h: h if h and h["reachable"] is False else None)(
            store.hash("memdump:health").get(url2)), "host 2 unreachable", logs=[poller])
        assert h2["last_error"] and h2["last_success"] and h2["down_since"]
        # the other host keeps being updated
        c1 = store.hash("memdump:health")[url1]["checked_at"]
        wait_for(lambda: store.hash("memdump:health")[url1]["checked_at"] > c1,
                 "host 1 still polled")
        h1 = store.hash("memdump:health")[url1]
        assert h1["reachable"] is True and h1["last_error"] is None
        # a dump on the live host still flows while the other is down
        d = create_dump(url1, "db-server")
        wait_for(lambda: (store.dump(d["dump_id"]) or {}).get("state") in FINAL,
                 "dump on host 1 finished", timeout=180, logs=[poller])
        # one log line for the outage, not one per cycle
        assert poller.log_text().count("event=host_down") == 1
    finally:
        md2.stop()


def test_sighup_with_unusable_redis_url_keeps_running(tmp_path, st):
    """A REDIS_URL the Redis client cannot use is a configuration error: SIGHUP keeps
    the running configuration (one reload_failed line), and the leader goes on."""
    store = Store(st.redis.url)
    url = st.memdumpd.url
    poller = start_poller(tmp_path, st.redis.url, [url])
    wait_for(lambda: store.lease() == poller.lease_id, "poller leads", logs=[poller])
    poller.write_conf({"REDIS_URL": "redis://127.0.0.1:notaport/0",
                       "MEMDUMP_SERVICE_URL": url, "MEMDUMP_POLL_INTERVAL": 1})
    os.kill(poller.pid, signal.SIGHUP)
    wait_for(lambda: "event=reload_failed" in poller.log_text(), "reload refused",
             logs=[poller])
    assert "REDIS_URL" in poller.log_text()
    c0 = store.hash("memdump:health")[url]["checked_at"]
    time.sleep(3)  # past a lease renewal, which crashed on a half-applied reload
    wait_for(lambda: store.hash("memdump:health")[url]["checked_at"] > c0,
             "still polling after the refused reload", logs=[poller])
    assert poller.alive()
    assert store.lease() == poller.lease_id


def test_two_pollers_failover(tmp_path, st):
    store = Store(st.redis.url)
    url = st.memdumpd.url
    a = start_poller(tmp_path, st.redis.url, [url], name="poller-a")
    wait_for(lambda: store.lease() == a.lease_id, "poller a leads", logs=[a])
    b = start_poller(tmp_path, st.redis.url, [url], name="poller-b")
    wait_for(lambda: "event=standby" in b.log_text(), "poller b stands by", logs=[b])
    assert store.lease() == a.lease_id
    assert store.get("memdump:poller")["id"] == a.lease_id

    a.kill(signal.SIGKILL)
    wait_for(lambda: store.lease() == b.lease_id, "poller b takes over", timeout=30, logs=[b])
    wait_for(lambda: (store.get("memdump:poller") or {}).get("id") == b.lease_id,
             "poller b writes", logs=[b])
    c0 = store.hash("memdump:health")[url]["checked_at"]
    wait_for(lambda: store.hash("memdump:health")[url]["checked_at"] > c0, "b keeps polling")
    assert "event=leader" in b.log_text()
    b.stop()
    assert store.lease() is None


def test_redis_restart_recovers(tmp_path, st):
    store = Store(st.redis.url)
    url = st.memdumpd.url
    poller = start_poller(tmp_path, st.redis.url, [url])
    wait_for(lambda: store.hash("memdump:health").get(url), "first cycle", logs=[poller])

    st.redis.stop()
    wait_for(lambda: "event=redis_down" in poller.log_text(), "outage logged", logs=[poller])
    assert poller.alive()
    st.redis.start()  # same port, empty (no persistence)
    store = Store(st.redis.url)
    wait_for(lambda: store.hash("memdump:health").get(url), "rebuilt after restart",
             timeout=60, logs=[poller])
    wait_for(lambda: store.lease() == poller.lease_id, "lease taken again")
    assert store.hash("memdump:vms").get(VM)
    log = poller.log_text()
    assert log.count("event=redis_down") == 1  # one line per state change, no busy loop
    assert log.count("event=redis_up") == 2
    assert poller.alive()


def test_wrongly_typed_keys_are_rebuilt(tmp_path, st):
    """Our hashes overwritten with other types (a mistaken command, an old schema): one
    warning each, and the next cycle rebuilds them instead of failing forever."""
    store = Store(st.redis.url)
    url = st.memdumpd.url
    poller = start_poller(tmp_path, st.redis.url, [url])
    wait_for(lambda: store.hash("memdump:vms").get(VM), "first cycle", logs=[poller])
    store.r.delete("memdump:vms", "memdump:health")
    store.r.set("memdump:vms", "not a hash")
    store.r.rpush("memdump:health", "not", "a", "hash")
    wait_for(lambda: store.r.type("memdump:vms") == store.r.type("memdump:health") == b"hash"
             and store.hash("memdump:vms").get(VM) and store.hash("memdump:health").get(url),
             "keys rebuilt", logs=[poller])
    log = poller.log_text()
    assert "event=redis_wrong_type key=memdump:vms" in log
    assert "event=redis_wrong_type key=memdump:health" in log
    assert "event=redis_down" not in log
    assert poller.alive()


def test_trigger_through_api_races_poller_safely(make_stack):
    """Dumps queued through memdump-api (which records them in Redis right after
    memdumpd accepted them) while the poller cycles every second are never mistaken
    for lost ones: each ends completed, with its record, event-free of 'unknown'."""
    full = make_stack("full", max_concurrent=2)
    base = full.nginx.url + "api/memory-dumps/"
    store = Store(full.redis.url)
    wait_for(lambda: store.hash("memdump:vms").get(VM), "inventory", logs=[full.poller])
    ids = []
    for _ in range(2):  # two rounds, so a trigger lands during some cycle
        r = requests.post(base + "trigger", json={"vms": ["web-server", "db-server"]},
                          timeout=90)
        assert r.status_code == 202, r.text
        round_ids = [x["dump_id"] for x in r.json()["results"] if x["status"] == "accepted"]
        assert len(round_ids) == 2, r.text
        for i in round_ids:  # recorded by the API before it answered
            assert store.dump(i) is not None
        ids += round_ids
        for i in round_ids:
            wait_for(lambda i=i: (store.dump(i) or {}).get("state") in FINAL,
                     f"dump {i} finished", timeout=240, logs=[full.poller, full.memdumpd])
    for i in ids:
        rec = store.dump(i)
        assert rec["state"] == "completed", rec
        assert "unknown to memdumpd" not in (rec.get("error") or "")
    assert not set(ids) & set(store.hash("memdump:active"))
    assert "unknown to memdumpd" not in full.poller.log_text()


def test_redis_password_and_database(tmp_path, st):
    """AUTH and SELECT from REDIS_URL; a wrong password is one clear log line, no crash."""
    from poller_util import AuthRedis
    pw = "p@ss:w/rd"
    r = AuthRedis(tmp_path / "authredis", pw).start()
    try:
        enc = "p%40ss%3Aw%2Frd"
        url = st.memdumpd.url
        good = start_poller(tmp_path, f"redis://:{enc}@127.0.0.1:{r.port}/3", [url],
                            name="poller-auth")
        db3 = redis.Redis(port=r.port, password=pw, db=3, socket_timeout=5)
        wait_for(lambda: db3.hget("memdump:health", url), "health in db 3", logs=[good])
        assert redis.Redis(port=r.port, password=pw, db=0).dbsize() == 0
        good.stop()

        bad = start_poller(tmp_path, f"redis://:wrong@127.0.0.1:{r.port}/3", [url],
                           name="poller-badauth")
        wait_for(lambda: "event=redis_down" in bad.log_text(), "auth failure logged",
                 logs=[bad])
        assert "refused the credentials" in bad.log_text()
        assert "wrong" not in bad.log_text()  # the password never reaches a log
        assert bad.alive()
        bad.stop()
    finally:
        r.stop()
