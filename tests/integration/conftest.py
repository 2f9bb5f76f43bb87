"""pytest fixtures for memdump's integration tests, built on tests/harness/stack.py.

Session-scoped (slow or shared): the libvirt session of the unprivileged user with the
demo guests, and one InfluxDB (each test gets its own database in it).
Function-scoped (cheap, so every test starts clean): Redis, stacks of our programs
made by `make_stack(...)`, which tests may stop/kill/restart piece by piece.
Everything is stopped at teardown, even when a test fails.

Credentials (autouse `_api_credentials`): memdump-api refuses requests without them, so a
`requests` call (requests.get/post/..., or any Session) to a live nginx of this process
gets the admin token of that nginx's API (`harness.default_headers`) unless the call
already carries a credential: its own headers (or the Session's) name Authorization or
Cookie, or it passes cookies. Plain http.client / urllib.request connections get the same.
Tests of access control pass explicit headers; `api_util.NO_AUTH`
({"Authorization": None}) makes a `requests` call send none at all.
"""

import http.client
import inspect
import itertools
import os
import sys
from pathlib import Path

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "harness"))
import stack as harness  # noqa: E402

DEMO_GUESTS = ("web-server", "db-server", "cache-server")
_db_counter = itertools.count(1)


@pytest.fixture(scope="session")
def libvirt_session():
    """A private qemu:///session (as user memdump-virt when root); stopped at the end."""
    sess = harness.LibvirtSession().start()
    yield sess
    sess.stop()


@pytest.fixture(scope="session")
def demo_guests(libvirt_session):
    """web-server, db-server and cache-server (256 MiB, diskless, running)."""
    for name in DEMO_GUESTS:
        if name not in libvirt_session.guests:
            libvirt_session.define_guest(name, 256)
    return list(DEMO_GUESTS)


@pytest.fixture(scope="session")
def influx_server(tmp_path_factory):
    """One influxd for the session; tests that stop it must use their own (make_stack
    with share_influx=False or harness.Influx)."""
    srv = harness.Influx(tmp_path_factory.mktemp("influx-session")).start()
    yield srv
    srv.stop()


@pytest.fixture
def influx_db(influx_server):
    """A fresh database name in the session influxd, created."""
    return influx_server.create_db(f"test_{os.getpid()}_{next(_db_counter)}")


@pytest.fixture
def redis_server(tmp_path):
    """A private redis-server for this test."""
    srv = harness.Redis(tmp_path).start()
    yield srv
    srv.stop()


@pytest.fixture
def make_stack(tmp_path, libvirt_session, influx_server, demo_guests):
    """Factory: make_stack(parts="full", share_influx=True, **Stack kwargs) -> started
    harness.Stack sharing the session libvirt (and influxd unless share_influx=False),
    with its own database, Redis and programs. All stacks are stopped at teardown."""
    made = []

    def factory(parts="full", share_influx=True, **kw):
        n = len(made) + 1
        kw.setdefault("libvirt", libvirt_session)
        if share_influx:
            kw.setdefault("influx", influx_server)
            kw.setdefault("influx_db", f"test_{os.getpid()}_{next(_db_counter)}")
        st = harness.Stack(tmp_path / f"stack{n}", parts, **kw)
        made.append(st)
        return st.start()

    yield factory
    for st in reversed(made):
        st.stop()


@pytest.fixture
def stack(make_stack):
    """The full stack (Redis, memdumpd, poller, api, nginx) on the session libvirt/influx."""
    return make_stack("full")


@pytest.fixture
def influxctl():
    """Path of bin/influxctl (the project's InfluxDB client CLI); skips when not built."""
    path = harness.bin_dir() / "influxctl"
    if not os.access(path, os.X_OK):
        pytest.skip(f"{path} not built yet (the InfluxDB client CLI comes with lib/influx)")
    return path


_CREDENTIAL_HEADERS = ("authorization", "cookie")
_session_request = requests.Session.request
_request_sig = inspect.signature(_session_request)
_conn_request = http.client.HTTPConnection.request


def _has_credential(headers):
    return any(str(k).lower() in _CREDENTIAL_HEADERS for k in (headers or {}))


@pytest.fixture(autouse=True)
def _api_credentials(monkeypatch):
    """Give `requests` calls to our nginx the admin Authorization header unless they
    carry a credential of their own (see the module's docstring)."""

    def request(self, method, url, *args, **kwargs):
        bound = _request_sig.bind(self, method, url, *args, **kwargs)
        a = bound.arguments
        headers = a.get("headers")
        if not (_has_credential(headers) or _has_credential(self.headers)
                or a.get("cookies") or len(self.cookies)):
            auth = harness.default_headers(str(url))
            if auth:
                a["headers"] = {**auth, **(headers or {})}
        return _session_request(*bound.args, **bound.kwargs)

    def conn_request(self, method, url, body=None, headers=None, **kwargs):
        # requests' own connections (urllib3) were handled above, NO_AUTH included
        if not type(self).__module__.startswith("urllib3") and not _has_credential(headers):
            auth = harness.default_headers(f"http://{self.host}:{self.port}/")
            if auth:
                headers = {**auth, **(headers or {})}
        return _conn_request(self, method, url, body, headers if headers is not None else {},
                             **kwargs)

    monkeypatch.setattr(requests.Session, "request", request)
    monkeypatch.setattr(http.client.HTTPConnection, "request", conn_request)
