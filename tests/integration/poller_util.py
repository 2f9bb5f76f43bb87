"""Helpers for tests/integration/test_poller.py: a poller started from a config file
(so SIGHUP can reload it), a small memdumpd client, and Redis readers that decode the
JSON values of docs/redis-schema.md."""

import json
import time

import redis
import requests

import stack as harness


class ConfPoller(harness.Poller):
    """memdump-poller with `-c FILE` (KEY=value lines) instead of environment only, so
    a test can edit the file and send SIGHUP."""

    def __init__(self, run_dir, config, name="memdump-poller"):
        super().__init__(run_dir, {"MEMDUMP_LOG_LEVEL": config.get("MEMDUMP_LOG_LEVEL",
                                                                     "debug")}, name=name)
        self.conf = self.dir / "poller.conf"
        self.write_conf(config)

    def write_conf(self, config):
        self.conf.write_text("".join(f"{k}={v}\n" for k, v in config.items()
                                     if k != "MEMDUMP_LOG_LEVEL" and v is not None))

    def argv(self):
        return super().argv() + ["-c", str(self.conf)]

    @property
    def lease_id(self):
        """The id this poller writes into memdump:lease (hostname:pid)."""
        import socket
        return f"{socket.gethostname()}:{self.pid}"


def start_poller(run_dir, redis_url, urls, name="memdump-poller", **extra):
    cfg = {"REDIS_URL": redis_url, "MEMDUMP_SERVICE_URL": ",".join(urls),
           "MEMDUMP_POLL_INTERVAL": 1, "MEMDUMP_SERVICE_TIMEOUT": 5, **extra}
    return ConfPoller(run_dir, cfg, name=name).start()


def wait_for(pred, what, timeout=60, logs=()):
    """Poll pred() until it returns something truthy (returned); fail naming `what`
    with the tail of the given services' logs."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = pred()
        except (redis.exceptions.ConnectionError, requests.RequestException) as e:
            last = None
            err = e
        else:
            err = None
        if last:
            return last
        if time.monotonic() > deadline:
            tails = "\n".join(f"--- {s.name} ---\n{s.log_text()[-3000:]}" for s in logs)
            raise AssertionError(f"{what}: not true after {timeout}s (last error {err})\n{tails}")
        time.sleep(0.1)


class Store:
    """Reads of the memdump:* keys, values decoded."""

    def __init__(self, url):
        self.r = redis.Redis.from_url(url, socket_timeout=5)

    def hash(self, key):
        return {k.decode(): json.loads(v) for k, v in self.r.hgetall(key).items()}

    def get(self, key):
        v = self.r.get(key)
        return json.loads(v) if v is not None else None

    def dump(self, dump_id):
        return self.get(f"memdump:dump:{dump_id}")

    def lease(self):
        v = self.r.get("memdump:lease")
        return v.decode() if v is not None else None


def create_dump(service_url, vm, requested_by=None):
    body = {"vm": vm}
    if requested_by is not None:
        body["requested_by"] = requested_by
    r = requests.post(service_url + "/api/dumps", json=body, timeout=30)
    assert r.status_code == 202, r.text
    return r.json()["dump"]


class AuthRedis(harness.Redis):
    """redis-server that requires a password (AUTH), for the URL's credentials."""

    def __init__(self, run_dir, password):
        super().__init__(run_dir)
        self.password = password

    def argv(self):
        return super().argv() + ["--requirepass", self.password]

    def ready(self):
        try:
            return redis.Redis(port=self.port, password=self.password,
                               socket_timeout=1).ping()
        except redis.exceptions.RedisError:
            return False
