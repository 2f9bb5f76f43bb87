#!/usr/bin/python3
"""Private, real memdump stacks on loopback, for integration tests and `make demo`.

What this module owns
    Starting and stopping real instances of everything memdump talks to, each in its
    own folder under a run directory and on free 127.0.0.1 ports: redis-server,
    influxd (Debian's InfluxDB 1.x), a libvirt ``qemu:///session`` with tiny diskless
    QEMU guests, nginx with the project's site template, and our own programs
    (memdumpd, memdump-poller, memdump-api from $MEMDUMP_BIN_DIR, default <repo>/bin).
    No mocks, no shell: every child is started from an argument list.

Lifetimes
    * In-process (pytest): every started service registers itself; `Stack.stop()`, the
      fixtures' teardown, an `atexit` hook and SIGTERM/SIGHUP handlers stop them in
      reverse start order, so a failing test or an interrupted run leaves nothing behind.
      Children also get PR_SET_PDEATHSIG(SIGTERM), so even a SIGKILLed harness takes
      its children with it; the libvirt session of such a run (daemons outlive it) is
      swept by the next run (owner.json in its /tmp/mdvirt-* folder).
    * Detached (the CLI `up`): children run in their own sessions and outlive the
      command; their pids (with start times, so a recycled pid is never signalled) are
      recorded in <run-dir>/stack.json, and `down` stops them from that record.

libvirt as root
    `qemu:///session` of root can reach the system daemon, so as root the session runs
    as the unprivileged system user ``memdump-virt`` with HOME and XDG_RUNTIME_DIR in a
    per-run folder: each run gets its own session daemon, domain definitions and
    sockets. `LibvirtSession.as_user` is the command prefix that runs a program in that
    session (virsh, memdumpd). Stopping kills only the processes of that user whose
    environment points into this run's folder (libvirtd, virtlogd, qemu).

Access control
    memdump-api refuses requests without credentials (docs/security.md), so every Api
    gets, unless told otherwise, an accounts file made with bin/memdump-admin in its
    folder (0600, owned by the harness's user, which is the API's: Api runs unprefixed)
    with one user per role (admin, investigator, operator, viewer; random passwords)
    and one API token each, plus an audit spool folder (0700). `Api.credentials` /
    `Stack.credentials` map role -> {user, password, token}; `auth_headers(role)` is the
    Bearer header. `default_headers(url)` gives the admin header for a URL of a live
    nginx of this process (tests/integration/conftest.py adds it to `requests` calls).
"""

import argparse
import atexit
import ctypes
import json
import os
import pwd
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from xml.sax.saxutils import escape as xml_escape

REPO = Path(__file__).resolve().parents[2]
VIRT_USER = "memdump-virt"
VIRT_HOME = "/var/lib/memdump-virt"
LIBVIRT_URI = "qemu:///session"
STOP_TIMEOUT = 10.0  # seconds between SIGTERM and SIGKILL

# Environment variables our programs read (CONTRACT.md); never inherited from the
# caller's environment, so a sourced .run/demo.env cannot leak into a test run.
CONFIG_KEYS = (
    "MEMDUMP_SERVICE_URL", "MEMDUMP_SERVICE_TIMEOUT", "MEMDUMP_SERVICE_TOKEN",
    "REDIS_URL", "INFLUX_URL", "INFLUX_DB", "INFLUX_TOKEN", "DUMP_DIR", "LIBVIRT_URI",
    "MEMDUMP_LISTEN", "MEMDUMP_MAX_CONCURRENT", "MEMDUMP_MAX_WAIT",
    "MEMDUMP_POLL_INTERVAL", "MEMDUMP_API_LISTEN", "MEMDUMP_API_WORKERS",
    "MEMDUMP_LOG_LEVEL", "MEMDUMP_HOST_NAME", "MEMDUMP_DISK_RESERVE_MB",
    "MEMDUMP_RECORD_TTL", "MEMDUMP_AUTH", "MEMDUMP_ACCOUNTS", "MEMDUMP_TRUST_REMOTE_USER",
    "MEMDUMP_SESSION_IDLE", "MEMDUMP_SESSION_MAX", "MEMDUMP_COOKIE_SECURE", "MEMDUMP_LOGIN_WINDOW",
    "MEMDUMP_LOGIN_FAILURES_USER", "MEMDUMP_LOGIN_FAILURES_ADDR", "MEMDUMP_TRIGGER_RATE",
    "MEMDUMP_USER_MAX_ACTIVE", "MEMDUMP_AUDIT_SPOOL",
)
# the demo and test accounts: one user per role, named after it (docs/security.md)
ROLES = ("admin", "investigator", "operator", "viewer")


class HarnessError(RuntimeError):
    """A service did not start, stop or answer as expected (message says why)."""


def bin_dir():
    return Path(os.environ.get("MEMDUMP_BIN_DIR") or REPO / "bin")


# --------------------------------------------------------------------------------------
# small helpers: ports, waiting, logs, processes
# --------------------------------------------------------------------------------------

_taken_ports = set()


def free_port():
    """A TCP port free on 127.0.0.1 now and not handed out before in this process."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _taken_ports:
            _taken_ports.add(port)
            return port
    raise HarnessError("no free port found on 127.0.0.1")


def claim_port(port):
    """Reserve a fixed port (demo) so free_port() never hands it out."""
    _taken_ports.add(port)
    return port


def port_open(port, host="127.0.0.1", timeout=0.5):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def http_status(url, timeout=2.0, headers=None):
    """HTTP status of GET url, or None when nothing answers (any status counts)."""
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except (OSError, urllib.error.URLError):
        return None


def tail(path, lines=30):
    """Last lines of a log file, for error messages."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 16384))
            text = f.read().decode("utf-8", "replace")
    except OSError as e:
        return f"(no log: {e})"
    return "\n".join(text.splitlines()[-lines:])


def wait_until(pred, timeout, what, log=None, alive=None, interval=0.05):
    """Poll pred() until true; raise HarnessError naming `what` with the log tail on
    timeout, or at once when alive() says the process died."""
    deadline = time.monotonic() + timeout
    while True:
        if pred():
            return
        if alive is not None and not alive():
            raise HarnessError(f"{what}: process exited\n--- {log} ---\n{tail(log) if log else ''}")
        if time.monotonic() > deadline:
            raise HarnessError(f"{what}: not ready after {timeout:.0f}s\n--- {log} ---\n"
                               f"{tail(log) if log else ''}")
        time.sleep(interval)


def proc_stat(pid):
    """(state, pgid, starttime) of a pid from /proc, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode("ascii", "replace")
    except OSError:
        return None
    fields = data[data.rindex(")") + 2:].split()
    return fields[0], int(fields[2]), int(fields[19])


def pid_alive(pid, starttime=None):
    st = proc_stat(pid)
    if st is None or st[0] in ("Z", "X"):
        return False
    return starttime is None or st[2] == starttime


def group_members(pgid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = proc_stat(int(d))
            if st and st[1] == pgid and st[0] not in ("Z", "X"):
                out.append(int(d))
    return out


def _reap(pid):
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def stop_group(pid, starttime=None, timeout=STOP_TIMEOUT, sig=signal.SIGTERM):
    """Stop the process group led by pid (children start in their own session, so the
    group is the service and whatever it forked): `sig`, wait, then SIGKILL."""
    if not pid_alive(pid, starttime):
        _reap(pid)
        return
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(pid)
        if not group_members(pid):
            return
        time.sleep(0.05)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + 5
    while group_members(pid) and time.monotonic() < deadline:
        _reap(pid)
        time.sleep(0.05)
    _reap(pid)


def _pdeathsig():
    """preexec_fn: get SIGTERM when the harness dies (Linux PR_SET_PDEATHSIG = 1);
    SIGTERM, not SIGKILL, so nginx still takes its own workers down."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)
    except Exception:  # noqa: BLE001 - best effort only
        pass


def child_env(extra=None):
    """The caller's environment minus memdump configuration, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k not in CONFIG_KEYS}
    env.setdefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    env.update(extra or {})
    return env


def run_checked(argv, check=True, timeout=120, shown=None, **kw):
    """subprocess.run with text output captured; a time-out, and with check a non-zero
    exit, is a HarnessError naming the command (shown: what to name instead of argv)."""
    name = shlex.join(map(str, shown if shown is not None else argv))
    try:
        cp = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)
    except subprocess.TimeoutExpired as e:
        raise HarnessError(f"timed out after {timeout}s: {name}") from e
    if check and cp.returncode != 0:
        raise HarnessError(f"failed ({cp.returncode}): {name}\n{cp.stdout}{cp.stderr}")
    return cp


# --------------------------------------------------------------------------------------
# registry of live services (atexit + signals)
# --------------------------------------------------------------------------------------

_live = []  # objects with .stop(), in start order


def _register(obj):
    if obj not in _live:
        _live.append(obj)


def _unregister(obj):
    if obj in _live:
        _live.remove(obj)


def stop_everything():
    """Stop every live service of this process, newest first (atexit, signals)."""
    while _live:
        obj = _live.pop()
        try:
            obj.stop()
        except Exception as e:  # noqa: BLE001 - keep stopping the rest
            print(f"stack: stopping {obj!r} failed: {e}", file=sys.stderr)


def _on_signal(signum, _frame):
    raise SystemExit(128 + signum)  # unwinds finally blocks, then atexit runs


atexit.register(stop_everything)
for _sig in (signal.SIGTERM, signal.SIGHUP):
    if signal.getsignal(_sig) in (signal.SIG_DFL, None):
        signal.signal(_sig, _on_signal)


# --------------------------------------------------------------------------------------
# Service: one child process with a log file
# --------------------------------------------------------------------------------------

class Service:
    """A child process in its own session whose stdout/stderr go to <dir>/<name>.log.
    Subclasses define argv(), env(), ready() and optionally prepare()."""

    name = "service"
    start_timeout = 30.0

    def __init__(self, run_dir, name=None):
        if name:
            self.name = name
        self.dir = Path(run_dir) / self.name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.dir / f"{self.name}.log"
        self.proc = None
        self.pid = None
        self.starttime = None
        self.detached = False

    # subclass hooks
    def prepare(self):
        pass

    def argv(self):
        raise NotImplementedError

    def env(self):
        return child_env()

    def cwd(self):
        return str(self.dir)

    def ready(self):
        return True

    # lifecycle
    def start(self):
        if self.alive():
            return self
        self.prepare()
        argv = self.argv()
        with open(self.log_path, "ab") as log:
            log.write(f"--- {time.strftime('%F %T')} start: {shlex.join(argv)}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=self.env(), cwd=self.cwd(), start_new_session=True,
                preexec_fn=None if self.detached else _pdeathsig)
        self.pid = self.proc.pid
        st = proc_stat(self.pid)
        self.starttime = st[2] if st else None
        _register(self)
        try:
            wait_until(self.ready, self.start_timeout, f"{self.name} (pid {self.pid})",
                       log=self.log_path, alive=self.alive)
        except BaseException:
            self.stop()
            raise
        return self

    def alive(self):
        if self.proc is not None:
            return self.proc.poll() is None
        return self.pid is not None and pid_alive(self.pid, self.starttime)

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM the process group, SIGKILL after `timeout` seconds."""
        if self.pid is not None:
            stop_group(self.pid, self.starttime, timeout)
            if self.proc is not None:
                try:
                    self.proc.wait(timeout=1)
                except subprocess.TimeoutExpired:
                    pass
        self.proc = None
        _unregister(self)

    def kill(self, sig=signal.SIGKILL):
        """Send `sig` to the whole process group (simulate a crash); no restart."""
        if self.pid is not None and self.alive():
            os.killpg(self.pid, sig)
            if sig == signal.SIGKILL:
                wait_until(lambda: not group_members(self.pid), 10, f"{self.name} kill")
                if self.proc is not None:
                    self.proc.wait()

    def restart(self):
        self.stop()
        return self.start()

    def returncode(self):
        return self.proc.poll() if self.proc is not None else None

    def log_text(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def record(self):
        """What `down` needs to stop this process after the harness has exited."""
        return {"name": self.name, "pid": self.pid, "starttime": self.starttime}

    def __repr__(self):
        return f"<{type(self).__name__} {self.name} pid={self.pid}>"


# --------------------------------------------------------------------------------------
# Redis
# --------------------------------------------------------------------------------------

class Redis(Service):
    """redis-server with no persistence: a restart loses everything (Redis is a cache)."""

    name = "redis"

    def __init__(self, run_dir, port=None):
        super().__init__(run_dir)
        self.port = port or free_port()

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def argv(self):
        return ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", str(self.dir), "--save", "", "--appendonly", "no",
                "--daemonize", "no", "--logfile", ""]

    def ready(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(64).startswith(b"+PONG")
        except OSError:
            return False


# --------------------------------------------------------------------------------------
# InfluxDB 1.x
# --------------------------------------------------------------------------------------

class Influx(Service):
    """influxd with a generated config; data survives stop/start (outage tests)."""

    name = "influx"
    start_timeout = 60.0

    def __init__(self, run_dir, port=None, db="vmstats"):
        super().__init__(run_dir)
        self.port = port or free_port()        # HTTP API
        self.rpc_port = free_port()            # backup/restore RPC bind-address
        self.db = db
        self.config = self.dir / "influxdb.conf"

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def prepare(self):
        d = self.dir
        self.config.write_text(f"""\
reporting-disabled = true
bind-address = "127.0.0.1:{self.rpc_port}"
[meta]
  dir = "{d}/meta"
[data]
  dir = "{d}/data"
  wal-dir = "{d}/wal"
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:{self.port}"
  log-enabled = false
[continuous_queries]
  enabled = false
""")

    def argv(self):
        return ["influxd", "-config", str(self.config)]

    def ready(self):
        return http_status(self.url + "/ping", timeout=1) == 204

    def query(self, q, db=None, method=None):
        """Run InfluxQL through /query; returns the decoded v1 JSON answer."""
        params = {"q": q}
        if db:
            params["db"] = db
        data = urllib.parse.urlencode(params).encode()
        method = method or ("GET" if q.lstrip().upper().startswith(("SELECT", "SHOW")) else "POST")
        if method == "GET":
            req = urllib.request.Request(f"{self.url}/query?{data.decode()}")
        else:
            req = urllib.request.Request(f"{self.url}/query", data=data, method="POST")
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.load(r)

    def create_db(self, name=None):
        name = name or self.db
        self.query(f'CREATE DATABASE "{name}"')
        return name

    def write(self, lines, db=None):
        """Write line protocol (str or list of str) through /write."""
        body = lines if isinstance(lines, str) else "\n".join(lines)
        url = f"{self.url}/write?" + urllib.parse.urlencode({"db": db or self.db})
        req = urllib.request.Request(url, data=body.encode(), method="POST")
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status


# --------------------------------------------------------------------------------------
# libvirt session (unprivileged user) and guests
# --------------------------------------------------------------------------------------

GUEST_XML = """\
<domain type='{type}'>
  <name>{name}</name>
  <memory unit='MiB'>{mib}</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='network'/></os>
  <on_poweroff>destroy</on_poweroff>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <serial type='pty'/>
  </devices>
</domain>
"""


def ensure_virt_user():
    """Create the system user that owns the private libvirt, only if missing.
    (Never creates the group kvm: see ENVIRONMENT.md, the dpkg trap.)"""
    try:
        return pwd.getpwnam(VIRT_USER)
    except KeyError:
        pass
    subprocess.run(["useradd", "-r", "-m", "-d", VIRT_HOME, "-s", "/usr/sbin/nologin",
                    VIRT_USER], check=True, stdin=subprocess.DEVNULL)
    return pwd.getpwnam(VIRT_USER)


def _world_traversable(path):
    """True when every directory from / to path lets other users through (o+x)."""
    p = Path(path).resolve()
    for d in [p, *p.parents]:
        if not os.stat(d).st_mode & 0o001:
            return False
    return True


class LibvirtSession:
    """A private `qemu:///session` and the guests this run defined in it.

    As root: user memdump-virt, HOME=<base>/home, XDG_RUNTIME_DIR=<base>/run (0700),
    so the session daemon, its domain definitions and sockets belong to this run only.
    As an ordinary user: that user's own session with its own environment (prefix
    empty); then stop touches only the guests defined here, and the session daemons
    only when this run started them (none was running before).
    """

    def __init__(self, base_dir=None, adopt=False, detached=False):
        """`base_dir`: folder for HOME, XDG_RUNTIME_DIR and user folders; when missing,
        too long or not reachable by the libvirt user, a temporary one in /tmp is made
        (and removed at stop). `adopt`: take base_dir as is (CLI `down`). `detached`:
        meant to outlive this process (CLI `up`), so never swept by a later run."""
        self.private = os.geteuid() == 0
        self.detached = detached
        self.own_base = False
        if not adopt and (base_dir is None or not self._usable_base(base_dir)):
            # unix socket paths are limited to 108 bytes and the user must traverse
            # every parent: a short folder in /tmp always works.
            base_dir = tempfile.mkdtemp(prefix="mdvirt-", dir="/tmp")
            self.own_base = True
        self.base = Path(base_dir)
        self.home = self.base / "home"
        self.runtime = self.base / "run"
        self.guests = []
        self.started = False
        # not private: did this run start the user's session daemon? then stop ends it
        self.own_daemon = False
        if self.private:
            self.user = VIRT_USER
            # setpriv execs (runuser would stay in between as a parent that answers
            # SIGTERM by killing its child after 2 s): signals reach the program itself.
            # A uid change clears PDEATHSIG, so setpriv sets it again, except for a
            # detached demo, whose programs must outlive the command that started them.
            pw = ensure_virt_user()
            self.as_user = ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}",
                            "--init-groups"]
            if not detached:
                self.as_user.append("--pdeathsig=TERM")
            self.as_user += ["--", "env", f"HOME={self.home}",
                             f"XDG_RUNTIME_DIR={self.runtime}"]
        else:
            self.user = pwd.getpwuid(os.getuid()).pw_name
            self.as_user = []

    @staticmethod
    def _usable_base(path):
        p = Path(path).resolve()
        return len(str(p)) <= 40 and (os.geteuid() != 0 or _world_traversable(p.parent))

    uri = LIBVIRT_URI

    def start(self):
        """Create user and folders, then start the session daemon (first virsh call)."""
        self.base.mkdir(parents=True, exist_ok=True)
        if self.private:
            sweep_stale_sessions()
            if self.own_base and not self.detached:
                # lets a later run clean up if this process is SIGKILLed
                me = proc_stat(os.getpid())
                (self.base / "owner.json").write_text(
                    json.dumps({"pid": os.getpid(), "starttime": me[2] if me else None}))
            pw = ensure_virt_user()
            os.chmod(self.base, 0o711)
            for d, mode in ((self.home, 0o700), (self.runtime, 0o700)):
                d.mkdir(exist_ok=True)
                os.chown(d, pw.pw_uid, pw.pw_gid)
                os.chmod(d, mode)
        elif not self._session_daemons():
            self.own_daemon = True
        self.virsh("uri")
        self.started = True
        _register(self)
        return self

    @staticmethod
    def _session_daemons():
        """Pids of this (non-root) user's libvirt session daemons."""
        out = []
        for d in os.listdir("/proc"):
            try:
                if (d.isdigit() and os.stat(f"/proc/{d}").st_uid == os.getuid() and
                        Path(f"/proc/{d}/comm").read_text().strip() in ("libvirtd",
                                                                       "virtlogd")):
                    out.append(int(d))
            except OSError:
                continue
        return out

    def user_dir(self, name):
        """A folder under the base owned by the libvirt user, mode 0700 (DUMP_DIR...)."""
        d = self.base / name
        d.mkdir(parents=True, exist_ok=True)
        if self.private:
            pw = pwd.getpwnam(VIRT_USER)
            os.chown(d, pw.pw_uid, pw.pw_gid)
        os.chmod(d, 0o700)
        return d

    def run(self, argv, check=True, timeout=120, **kw):
        """Run argv as the libvirt user (text output captured)."""
        kw.setdefault("stdin", subprocess.DEVNULL)
        return run_checked(self.as_user + list(argv), check=check, timeout=timeout, cwd="/",
                           env=child_env(), shown=argv, **kw)

    def virsh(self, *args, check=True, timeout=120):
        return self.run(["virsh", "-q", "-c", self.uri, *args], check=check, timeout=timeout)

    def can_use_kvm(self):
        return self.run(["test", "-r", "/dev/kvm", "-a", "-w", "/dev/kvm"],
                        check=False).returncode == 0

    def domain_xml(self, name, mib=256):
        return GUEST_XML.format(type="kvm" if self.can_use_kvm() else "qemu",
                                name=xml_escape(name), mib=int(mib))

    def define_guest(self, name, mib=256, start=True, timeout=60):
        """Define (and start) a diskless guest; `name` may hold any text (XML-escaped)."""
        xml = self.base / f"guest-{len(self.guests)}-{os.getpid()}.xml"
        xml.write_text(self.domain_xml(name, mib))
        os.chmod(xml, 0o644)
        self.virsh("define", str(xml))
        xml.unlink()
        self.guests.append(name)
        if start:
            self.virsh("start", name)
            wait_until(lambda: self.domstate(name) == "running", timeout,
                       f"guest {name!r} running")
        return name

    def domstate(self, name):
        cp = self.virsh("domstate", name, check=False)
        return cp.stdout.strip() if cp.returncode == 0 else None

    def list_domains(self):
        cp = self.virsh("list", "--all", "--name", check=False)
        return [n for n in cp.stdout.splitlines() if n.strip()]

    def destroy_guest(self, name):
        self.virsh("destroy", name, check=False)
        self.virsh("undefine", name, check=False)
        if name in self.guests:
            self.guests.remove(name)

    def destroy_all(self):
        """Destroy and undefine this run's guests (all of the private session's)."""
        names = set(self.guests)
        if self.private:
            names.update(self.list_domains())
        for n in sorted(names):
            self.destroy_guest(n)

    def processes(self):
        """Pids of the libvirt user whose environment points into this run's folder
        (not private: the session daemons, when this run started them)."""
        if not self.private:
            return self._session_daemons() if self.own_daemon else []
        uid = pwd.getpwnam(VIRT_USER).pw_uid
        needles = (f"HOME={self.home}".encode(), f"XDG_RUNTIME_DIR={self.runtime}".encode(),
                   str(self.home).encode())
        out = []
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                if os.stat(f"/proc/{d}").st_uid != uid:
                    continue
                with open(f"/proc/{d}/environ", "rb") as f:
                    envb = f.read()
            except OSError:
                continue
            if any(n in envb for n in needles) and pid_alive(int(d)):
                out.append(int(d))
        return out

    @staticmethod
    def iohelpers(folder):
        """pids of libvirt's iohelper processes writing a dump into `folder` (libvirt
        passes every memory-only dump through one, between QEMU and the target file)."""
        prefix = str(Path(folder).resolve()).encode() + b"/"
        out = []
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open(f"/proc/{d}/cmdline", "rb") as f:
                    args = f.read().split(b"\0")
            except OSError:
                continue
            if args[0].endswith(b"libvirt_iohelper") and any(
                    a.startswith(prefix) for a in args[1:]):
                out.append(int(d))
        return out

    def stall_dumps(self, folder, after=0.1, timeout=20):
        """Freeze the dump(s) writing into `folder`, as a disk that stops taking data
        would: wait for libvirt's iohelper to appear, let `after` seconds of data
        through, then SIGSTOP it. The dump stays `running` with its progress so far
        (a cancel then waits for it). Returns the pids for resume_dumps()."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pids = self.iohelpers(folder)
            if not pids:
                time.sleep(0.01)
                continue
            time.sleep(after)
            for p in pids:
                try:
                    os.kill(p, signal.SIGSTOP)
                except ProcessLookupError:
                    pass
            # a short dump may have ended before the signal: freeze the next one then
            until = time.monotonic() + 0.5
            while True:
                frozen = [p for p in pids if (proc_stat(p) or ("X",))[0] in ("T", "t")]
                gone = [p for p in pids if (proc_stat(p) or ("X",))[0] in ("X", "Z")]
                if len(frozen) + len(gone) == len(pids) or time.monotonic() > until:
                    break
                time.sleep(0.01)
            if frozen:
                return frozen
        raise HarnessError(f"no dump is writing into {folder}")

    @staticmethod
    def resume_dumps(pids):
        for p in pids:
            try:
                os.kill(p, signal.SIGCONT)
            except ProcessLookupError:
                pass

    def stop(self):
        """Destroy guests, then end this run's libvirtd/virtlogd/qemu (SIGTERM, SIGKILL);
        a temporary base folder (with any dumps in it) is removed."""
        _unregister(self)
        if not self.started:
            return
        # a virsh call would start a new session daemon: only talk to a live one
        if not self.private or self.processes():
            self.destroy_all()
        for sig, wait in ((signal.SIGTERM, STOP_TIMEOUT), (signal.SIGKILL, 5)):
            pids = self.processes()
            for p in pids:
                try:
                    os.kill(p, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + wait
            while self.processes() and time.monotonic() < deadline:
                time.sleep(0.05)
        self.started = False
        if self.own_base:
            shutil.rmtree(self.base, ignore_errors=True)

    def record(self):
        return {"base": str(self.base), "private": self.private, "guests": self.guests,
                "own_base": self.own_base, "own_daemon": self.own_daemon}

    def __repr__(self):
        return f"<LibvirtSession {self.user} {self.base}>"


def sweep_stale_sessions():
    """Stop the libvirt sessions (guests, daemons, folder) of temporary runs whose
    harness process died without cleaning up (e.g. SIGKILL)."""
    for base in Path("/tmp").glob("mdvirt-*"):
        try:
            owner = json.loads((base / "owner.json").read_text())
        except (OSError, ValueError):
            continue
        if pid_alive(owner.get("pid"), owner.get("starttime")):
            continue
        sess = LibvirtSession(base, adopt=True)
        sess.own_base = sess.started = True
        print(f"stack: cleaning up stale libvirt session {base}", file=sys.stderr)
        sess.stop()


# --------------------------------------------------------------------------------------
# nginx
# --------------------------------------------------------------------------------------

NGINX_MAIN = """\
# generated by tests/harness/stack.py
{user}
worker_processes {workers};
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log info;
events {{ worker_connections 1024; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log {prefix}/logs/access.log;
    client_body_temp_path {prefix}/tmp/client_body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    sendfile on;
    include {site};
}}
"""


def render_template(text, values):
    """Replace @KEY@ placeholders; any left unreplaced is an error naming it."""
    for k, v in values.items():
        text = text.replace(f"@{k}@", str(v))
    left = sorted(set(re.findall(r"@[A-Z][A-Z0-9_]*@", text)))
    if left:
        raise HarnessError(f"nginx template: no value for placeholder(s) {', '.join(left)}")
    return text


class Nginx(Service):
    """nginx -p PREFIX -c FILE -g 'daemon off;' with the project's site template."""

    name = "nginx"

    def __init__(self, run_dir, port=None, htdocs=None, api_upstream=None,
                 memdumpd_upstream=None, template=None, extra=None, workers=2,
                 cache_dir=None, api=None):
        super().__init__(run_dir)
        self.api = api  # the Api behind it (default_headers); else found by api_upstream
        self.workers = workers
        # the live-state cache (@CACHE_DIR@); production puts it on tmpfs (operations.md)
        self.cache_dir = Path(cache_dir) if cache_dir else self.dir / "cache"
        self.port = port or free_port()
        self.htdocs = Path(htdocs or REPO / "htdocs").resolve()
        self.api_upstream = api_upstream or f"127.0.0.1:{free_port()}"
        self.memdumpd_upstream = memdumpd_upstream or f"127.0.0.1:{free_port()}"
        self.template = Path(template or REPO / "conf/nginx/memdump.conf.in")
        self.extra = dict(extra or {})
        self.conf = self.dir / "conf" / "nginx.conf"

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/"

    def prepare(self):
        for sub in ("conf", "logs", "tmp"):
            (self.dir / sub).mkdir(exist_ok=True)
        values = {"LISTEN": f"127.0.0.1:{self.port}", "SERVER_NAME": "127.0.0.1 localhost",
                  "HTDOCS": self.htdocs,
                  "API_UPSTREAM": self.api_upstream,
                  "MEMDUMPD_UPSTREAM": self.memdumpd_upstream,
                  "CACHE_DIR": self.cache_dir, **self.extra}
        site = self.dir / "conf" / "memdump.conf"
        site.write_text(render_template(self.template.read_text(), values))
        # as root the workers switch user; root keeps the dump files and sockets reachable
        user = "user root;" if os.geteuid() == 0 else ""
        self.conf.write_text(NGINX_MAIN.format(user=user, prefix=self.dir, site=site,
                                             workers=self.workers))
        cp = subprocess.run(self._base_argv() + ["-t"], capture_output=True, text=True,
                            stdin=subprocess.DEVNULL)
        if cp.returncode != 0:
            raise HarnessError(f"nginx -t rejected {self.conf}:\n{cp.stderr}")

    def _base_argv(self):
        return ["nginx", "-p", f"{self.dir}/", "-e", f"{self.dir}/logs/error.log",
                "-c", str(self.conf)]

    def argv(self):
        return self._base_argv() + ["-g", "daemon off;"]

    def ready(self):
        return http_status(self.url, timeout=1) is not None

    def error_log(self):
        try:
            return (self.dir / "logs" / "error.log").read_text(errors="replace")
        except OSError:
            return ""

    def auth_api(self):
        """The Api this nginx passes to: the one given, else a live one of this process
        listening on api_upstream (None if neither)."""
        if self.api is not None:
            return self.api
        for obj in list(_live):
            if isinstance(obj, Api) and obj.upstream == self.api_upstream:
                return obj
        return None


# --------------------------------------------------------------------------------------
# accounts (bin/memdump-admin) and the credentials made in them
# --------------------------------------------------------------------------------------

# what memdump-admin reads (its --help); only these reach it from the API's config
ADMIN_KEYS = ("MEMDUMP_ACCOUNTS", "MEMDUMP_AUDIT_SPOOL", "INFLUX_URL", "INFLUX_DB",
              "INFLUX_TOKEN", "REDIS_URL")


class Accounts:
    """An accounts file (MEMDUMP_ACCOUNTS) managed with bin/memdump-admin, its audit spool
    folder, and the credentials the harness made in it.

    `users`: {role: user name} (default: one user per role, named after it); each gets a
    random password and one API token. `create()` writes them; `load()` takes back those
    of an earlier run in the same folder (<folder>/credentials.json, 0600) when the file
    still holds them, so the demo keeps its passwords across restarts. Files are made by
    the harness's user, the user memdump-api runs as.
    """

    def __init__(self, folder, users=None, settings=None):
        self.dir = Path(folder)
        self.path = self.dir / "accounts"
        self.audit_spool = self.dir / "audit-spool"
        self.saved = self.dir / "credentials.json"
        self.users = dict(users) if users is not None else {r: r for r in ROLES}
        self.settings = dict(settings or {})  # INFLUX_URL, ... for memdump-admin's audit
        self.credentials = {}  # role -> {"user", "password", "token"}

    def admin_env(self):
        cfg = {k: str(v) for k, v in self.settings.items() if k in ADMIN_KEYS and v is not None}
        cfg.update(MEMDUMP_ACCOUNTS=str(self.path), MEMDUMP_AUDIT_SPOOL=str(self.audit_spool),
                   MEMDUMP_LOG_LEVEL="warn")
        return child_env(cfg)

    def admin(self, *args, stdin=None, check=True, timeout=60):
        """Run bin/memdump-admin ARGS on this file (text output captured)."""
        path = bin_dir() / "memdump-admin"
        if not os.access(path, os.X_OK):
            raise HarnessError(f"{path} is missing: build it first (make), or point "
                               f"MEMDUMP_BIN_DIR at the folder that holds it")
        argv = [str(path), *map(str, args)]
        extra = {"input": stdin} if stdin is not None else {"stdin": subprocess.DEVNULL}
        return run_checked(argv, check=check, timeout=timeout, env=self.admin_env(),
                           cwd=str(self.dir), **extra)

    def prepare_dirs(self):
        self.dir.mkdir(parents=True, exist_ok=True)
        self.audit_spool.mkdir(exist_ok=True)
        os.chmod(self.audit_spool, 0o700)

    def create(self):
        """A new accounts file with self.users, a password and a token each."""
        self.prepare_dirs()
        for p in (self.path, self.saved):
            try:
                p.unlink()
            except FileNotFoundError:
                pass
        creds = {}
        for role, user in self.users.items():
            password = secrets.token_urlsafe(18)
            self.admin("user", "add", user, "--role", role, "--password-stdin",
                       stdin=password + "\n")
            token = self.admin("token", "add", user, "--label", "harness").stdout.strip()
            if not token.startswith("mdt_"):
                raise HarnessError(f"memdump-admin token add {user}: no token in {token!r}")
            creds[role] = {"user": user, "password": password, "token": token}
        os.chmod(self.path, 0o600)
        _write_private(self.saved, json.dumps(creds, indent=2) + "\n")
        self.credentials = creds
        return self

    def load(self):
        """The credentials of an earlier create() in this folder, if the accounts file
        still has each user and token; else False (nothing changed)."""
        try:
            creds = json.loads(self.saved.read_text())
        except (OSError, ValueError):
            return False
        if not self.path.exists() or set(creds) != set(self.users):
            return False
        cp = self.admin("token", "list", "--json", check=False)
        try:
            listed = {(t["user"], t["id"]) for t in json.loads(cp.stdout)}
        except (ValueError, TypeError, KeyError):
            return False
        for role, c in creds.items():
            parts = str(c.get("token", "")).split("_")
            if c.get("user") != self.users[role] or len(parts) < 3 or \
                    (c["user"], parts[1]) not in listed:
                return False
        self.prepare_dirs()
        os.chmod(self.path, 0o600)
        self.credentials = creds
        return True

    def ensure(self):
        """load() or else create(); the credentials."""
        if not self.credentials and not self.load():
            self.create()
        return self.credentials

    def headers(self, role="admin"):
        """{"Authorization": "Bearer <token>"} of the role's user."""
        try:
            return {"Authorization": f"Bearer {self.credentials[role]['token']}"}
        except KeyError:
            raise HarnessError(f"no {role!r} credentials (accounts not made yet, or no "
                               f"such user: {', '.join(self.credentials) or 'none'})") from None

    def env(self):
        """MEMDUMP_DEMO_<ROLE>_USER / _PASSWORD / _TOKEN of every role."""
        e = {}
        for role, c in self.credentials.items():
            r = role.upper()
            e[f"MEMDUMP_DEMO_{r}_USER"] = c["user"]
            e[f"MEMDUMP_DEMO_{r}_PASSWORD"] = c["password"]
            e[f"MEMDUMP_DEMO_{r}_TOKEN"] = c["token"]
        return e


def _origin(url):
    u = urllib.parse.urlsplit(url)
    return u.scheme, (u.hostname or "").lower(), u.port


def default_headers(url, role="admin"):
    """The credential header of `role` for a URL served by a live nginx started by this
    process (its API's accounts), {} for any other URL or an API without accounts."""
    want = _origin(url)
    for obj in list(_live):
        if isinstance(obj, Nginx) and _origin(obj.url) == want:
            api = obj.auth_api()
            return api.auth_headers(role) if api is not None and api.credentials else {}
    return {}


# --------------------------------------------------------------------------------------
# our programs
# --------------------------------------------------------------------------------------

class Program(Service):
    """One of bin/memdumpd, bin/memdump-poller, bin/memdump-api, configured through the
    environment variables of CONTRACT.md (`config`), optionally run through `prefix`."""

    binary = None

    def __init__(self, run_dir, config, prefix=(), name=None):
        super().__init__(run_dir, name or self.binary)
        self.config = {k: str(v) for k, v in config.items() if v is not None}
        self.prefix = list(prefix)

    @property
    def path(self):
        return bin_dir() / self.binary

    def argv(self):
        if not os.access(self.path, os.X_OK):
            raise HarnessError(f"{self.path} is missing: build it first (make), or point "
                               f"MEMDUMP_BIN_DIR at the folder that holds it")
        return self.prefix + [str(self.path)]

    def env(self):
        return child_env(self.config)

    def cwd(self):
        return "/"  # reachable by the libvirt user too


class Memdumpd(Program):
    """memdumpd; readiness = GET /api/health answers with any HTTP status."""

    binary = "memdumpd"

    def __init__(self, run_dir, config, prefix=(), port=None):
        self.port = port or free_port()
        config = {"MEMDUMP_LISTEN": f"127.0.0.1:{self.port}", **config}
        super().__init__(run_dir, config, prefix)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def ready(self):
        return http_status(self.url + "/api/health", timeout=1) is not None


class Poller(Program):
    """memdump-poller; readiness = still alive one second after start."""

    binary = "memdump-poller"

    def start(self):
        self._t0 = time.monotonic()
        return super().start()

    def ready(self):
        return time.monotonic() - self._t0 >= 1.0


class Api(Program):
    """memdump-api (FastCGI worker pool); readiness = its TCP port accepts.

    `accounts`: "default" makes an Accounts in <run_dir>/memdump-api (users per role,
    tokens; made at the first start) unless the config says MEMDUMP_AUTH=none or names
    its own MEMDUMP_ACCOUNTS; an Accounts object is used as given (made at start if it
    has no credentials yet); a path is passed as MEMDUMP_ACCOUNTS as is (no credentials
    known); None gives no accounts file. MEMDUMP_AUDIT_SPOOL defaults to a 0700 folder
    beside it."""

    binary = "memdump-api"

    def __init__(self, run_dir, config, prefix=(), port=None, accounts="default"):
        self.port = port or free_port()
        config = {"MEMDUMP_API_LISTEN": f"127.0.0.1:{self.port}", **config}
        super().__init__(run_dir, config, prefix)
        if isinstance(accounts, str) and accounts == "default":
            if self.config.get("MEMDUMP_AUTH") == "none" or "MEMDUMP_ACCOUNTS" in self.config:
                accounts = None
            else:
                accounts = Accounts(self.dir)
        elif isinstance(accounts, (str, Path)):
            self.config["MEMDUMP_ACCOUNTS"] = str(accounts)
            accounts = None
        self.accounts = accounts
        if accounts is not None:
            self.config.setdefault("MEMDUMP_ACCOUNTS", str(accounts.path))
        # one spool folder for the workers and memdump-admin, as in production
        spool = accounts.audit_spool if accounts is not None else self.dir / "audit-spool"
        self.config.setdefault("MEMDUMP_AUDIT_SPOOL", str(spool))

    def prepare(self):
        spool = Path(self.config["MEMDUMP_AUDIT_SPOOL"])
        if not spool.exists():
            spool.mkdir(parents=True)
            os.chmod(spool, 0o700)
        if self.accounts is not None and not self.accounts.credentials:
            for k in ADMIN_KEYS[2:]:
                if k in self.config:
                    self.accounts.settings.setdefault(k, self.config[k])
            self.accounts.ensure()

    @property
    def upstream(self):
        listen = self.config["MEMDUMP_API_LISTEN"]
        return listen if listen.startswith("unix:") else f"127.0.0.1:{self.port}"

    @property
    def credentials(self):
        """role -> {"user", "password", "token"} ({} without harness-made accounts, or
        before the first start)."""
        return self.accounts.credentials if self.accounts is not None else {}

    @property
    def accounts_path(self):
        return self.config.get("MEMDUMP_ACCOUNTS")

    @property
    def audit_spool(self):
        return self.config["MEMDUMP_AUDIT_SPOOL"]

    def auth_headers(self, role="admin"):
        """The Bearer header of `role`'s token; {} when there are no harness accounts
        (MEMDUMP_AUTH=none, or a file of the test's own)."""
        return self.accounts.headers(role) if self.accounts is not None else {}

    def ready(self):
        if self.upstream.startswith("unix:"):
            return Path(self.upstream[len("unix:"):]).exists()
        return port_open(self.port)


# --------------------------------------------------------------------------------------
# Stack: everything composed in dependency order
# --------------------------------------------------------------------------------------

PARTS = ("redis", "influx", "libvirt", "memdumpd", "poller", "api", "nginx")
DEPS = {
    "memdumpd": {"libvirt", "influx"},
    "poller": {"redis", "memdumpd"},
    "api": {"redis", "influx", "memdumpd"},
}


def closure(parts):
    want = set(PARTS if parts in (None, "full") else parts)
    unknown = want - set(PARTS)
    if unknown:
        raise HarnessError(f"unknown stack part(s): {', '.join(sorted(unknown))}; "
                           f"known: {', '.join(PARTS)}")
    changed = True
    while changed:
        changed = False
        for p in list(want):
            new = DEPS.get(p, set()) - want
            if new:
                want |= new
                changed = True
    return [p for p in PARTS if p in want]


class Stack:
    """A memdump stack: `parts` ("full" or a list; dependencies are added) started in
    dependency order, stopped in reverse. Pass `libvirt=` / `influx=` to share
    already-running ones (e.g. session fixtures): the stack never stops what it was given.

    Attributes redis, influx, libvirt, memdumpd, poller, api, nginx are the services
    (None when not part of this stack). `accounts` goes to Api (harness-made users and
    tokens by default; extra_config={"api": {"MEMDUMP_AUTH": "none"}} for none); once
    started, `credentials`, `auth_headers(role)`, `accounts_path` and `audit_spool` are
    the API's.
    """

    def __init__(self, run_dir, parts="full", *, guests=(), guest_mib=256,
                 libvirt=None, influx=None, libvirt_base=None, ports=None, token=None,
                 influx_db="vmstats", htdocs=None, log_level="debug", api_workers=2,
                 poll_interval=1, max_concurrent=2, max_wait=600, extra_config=None,
                 dump_dir_name=None, detached=False, nginx_workers=2, nginx_cache_dir=None,
                 accounts="default"):
        self.run_dir = Path(run_dir).resolve()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.parts = closure(parts)
        ports = ports or {}
        for p in ports.values():
            claim_port(p)
        self.guest_names = list(guests)
        self.guest_mib = guest_mib
        self.token = token
        self.detached = detached
        self.started = []  # services this stack started (and so stops)
        self.extra_config = extra_config or {}  # {"memdumpd": {...}, "api": {...}, ...}
        self._shared = {x for x, o in (("libvirt", libvirt), ("influx", influx)) if o}
        self.redis = self.influx = self.libvirt = None
        self.memdumpd = self.poller = self.api = self.nginx = None

        if "redis" in self.parts:
            self.redis = Redis(self.run_dir, ports.get("redis"))
        if "influx" in self.parts:
            self.influx = influx or Influx(self.run_dir, ports.get("influx"), db=influx_db)
            self.influx_db = influx_db
        if "libvirt" in self.parts:
            self.libvirt = libvirt or LibvirtSession(libvirt_base, detached=detached)
        common = {"MEMDUMP_LOG_LEVEL": log_level, "MEMDUMP_SERVICE_TOKEN": token}
        if self.influx:
            common.update(INFLUX_URL=self.influx.url, INFLUX_DB=influx_db)
        if self.redis:
            common["REDIS_URL"] = self.redis.url
        self.dump_dir = None
        if "memdumpd" in self.parts:
            self.memdumpd = Memdumpd(self.run_dir, {
                **common, "LIBVIRT_URI": self.libvirt.uri,
                "MEMDUMP_MAX_CONCURRENT": max_concurrent, "MEMDUMP_MAX_WAIT": max_wait,
                **self.extra_config.get("memdumpd", {})},
                prefix=self.libvirt.as_user, port=ports.get("memdumpd"))
            common["MEMDUMP_SERVICE_URL"] = self.memdumpd.url
            # created at start, owned by the libvirt user, mode 0700
            self.dump_dir = self.libvirt.base / (dump_dir_name or f"dumps-{self.memdumpd.port}")
            self.memdumpd.config["DUMP_DIR"] = str(self.dump_dir)
        if "poller" in self.parts:
            self.poller = Poller(self.run_dir, {
                **common, "MEMDUMP_POLL_INTERVAL": poll_interval,
                **self.extra_config.get("poller", {})})
        if "api" in self.parts:
            self.api = Api(self.run_dir, {
                **common, "MEMDUMP_API_WORKERS": api_workers,
                **self.extra_config.get("api", {})}, port=ports.get("api"),
                accounts=accounts)
        if "nginx" in self.parts:
            self.nginx = Nginx(
                self.run_dir, ports.get("nginx"), htdocs=htdocs,
                api_upstream=self.api.upstream if self.api else None,
                memdumpd_upstream=f"127.0.0.1:{self.memdumpd.port}" if self.memdumpd else None,
                extra={"DUMP_DIR": self.dump_dir} if self.dump_dir else None,
                workers=nginx_workers, cache_dir=nginx_cache_dir, api=self.api)
        for s in (self.redis, self.influx, self.memdumpd, self.poller, self.api, self.nginx):
            if s is not None:
                s.detached = detached

    # ---- lifecycle
    def _started(self, svc, on_start=None):
        self.started.append(svc)
        if on_start:
            on_start(self)

    def start(self, on_start=None):
        """Start every part in order; on failure stop what was started and re-raise.
        `on_start(stack)` is called after each part (the CLI records pids with it)."""
        _register(self)
        try:
            for part in self.parts:
                svc = getattr(self, part)
                if part in self._shared:
                    if part == "influx":
                        svc.create_db(self.influx_db)
                    continue
                if part == "libvirt":
                    svc.start()
                    self._started(svc, on_start)
                    for g in self.guest_names:
                        if g not in svc.guests:
                            svc.define_guest(g, self.guest_mib)
                            if on_start:
                                on_start(self)
                    continue
                if part == "memdumpd":
                    self.libvirt.user_dir(self.dump_dir.name)
                if part == "influx":
                    svc.start()
                    svc.create_db(self.influx_db)
                else:
                    svc.start()
                self._started(svc, on_start)
        except BaseException:
            if not self.detached:
                self.stop()
            raise
        return self

    def stop(self):
        """Stop what this stack started, newest first; never raises for one part."""
        _unregister(self)
        while self.started:
            svc = self.started.pop()
            try:
                svc.stop()
            except Exception as e:  # noqa: BLE001
                print(f"stack: stopping {svc!r} failed: {e}", file=sys.stderr)

    def restart(self, part):
        return getattr(self, part).restart()

    def detach(self):
        """Leave everything running after this process exits (CLI `up`)."""
        _unregister(self)
        for s in self.started:
            _unregister(s)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ---- credentials (the API's; {} / None without an api part)
    @property
    def credentials(self):
        """role -> {"user", "password", "token"} of the harness-made accounts."""
        return self.api.credentials if self.api else {}

    def auth_headers(self, role="admin"):
        """{"Authorization": "Bearer <token of role>"} ({} without accounts)."""
        return self.api.auth_headers(role) if self.api else {}

    @property
    def accounts_path(self):
        return self.api.accounts_path if self.api else None

    @property
    def audit_spool(self):
        return self.api.audit_spool if self.api else None

    def credentials_env(self):
        """MEMDUMP_DEMO_<ROLE>_USER/_PASSWORD/_TOKEN (the demo-credentials file)."""
        return self.api.accounts.env() if self.api and self.api.accounts else {}

    # ---- description
    def env(self):
        """The demo.env values (only those of parts in this stack)."""
        e = {}
        if self.redis:
            e["REDIS_URL"] = self.redis.url
        if self.influx:
            e["INFLUX_URL"] = self.influx.url
            e["INFLUX_DB"] = self.influx_db
        if self.libvirt:
            e["LIBVIRT_URI"] = self.libvirt.uri
            e["LIBVIRT_AS"] = shlex.join(self.libvirt.as_user)
        if self.memdumpd:
            e["DUMP_DIR"] = str(self.dump_dir or "")
            e["MEMDUMP_SERVICE_URL"] = self.memdumpd.url
        if self.nginx:
            e["DASHBOARD_URL"] = self.nginx.url
        return e

    def record(self):
        return {
            "parts": self.parts,
            "services": [s.record() for s in self.started if isinstance(s, Service)],
            "libvirt": self.libvirt.record() if self.libvirt and "libvirt" not in self._shared
            else None,
            "env": self.env(),
        }


# --------------------------------------------------------------------------------------
# CLI: up / down for `make demo` and `make demo-stop`
# --------------------------------------------------------------------------------------

DEMO_GUESTS = "web-server,db-server,cache-server"


def _state_path(run_dir):
    return Path(run_dir) / "stack.json"


def _write_private(path, text):
    tmp = Path(str(path) + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def _demo_token(run_dir):
    """The demo's MEMDUMP_SERVICE_TOKEN: generated once, kept in <run>/service-token (0600)."""
    path = Path(run_dir) / "service-token"
    if path.exists():
        tok = path.read_text().strip()
        if tok:
            os.chmod(path, 0o600)
            return tok
    tok = secrets.token_hex(32)
    _write_private(path, tok + "\n")
    return tok


def _write_demo_credentials(run_dir, creds_env):
    """<run>/demo-credentials (0600): KEY=value lines a shell can source."""
    lines = ["# memdump demo accounts (docs/security.md); made by tests/harness/stack.py up",
             f"# log in to the dashboard as admin, or: curl -H \"Authorization: Bearer "
             f"$MEMDUMP_DEMO_VIEWER_TOKEN\" ..."]
    for role in ROLES:
        for what in ("USER", "PASSWORD", "TOKEN"):
            k = f"MEMDUMP_DEMO_{role.upper()}_{what}"
            if k in creds_env:
                lines.append(f"{k}={shlex.quote(creds_env[k])}")
    path = Path(run_dir) / "demo-credentials"
    text = "\n".join(lines) + "\n"
    try:
        if path.read_text() == text:
            os.chmod(path, 0o600)
            return path  # unchanged: keep the file as it is
    except OSError:
        pass
    _write_private(path, text)
    return path


def _login_help(shown_dir, dashboard):
    """How to log in to the demo (printed by `up`)."""
    creds = os.path.join(shown_dir, "demo-credentials")
    print(f"Dashboard: {dashboard}")
    print(f"Log in as admin; the passwords (and an API token per role) are in {creds}")
    print(f"  . {shlex.quote(creds)}; curl -H \"Authorization: Bearer "
          f"$MEMDUMP_DEMO_VIEWER_TOKEN\" {dashboard}api/memory-dumps/status")


def _load_state(run_dir):
    try:
        return json.loads(_state_path(run_dir).read_text())
    except (OSError, ValueError):
        return None


def _state_healthy(state):
    """All recorded processes alive and every endpoint answering."""
    if not state or not state.get("complete"):
        return False
    for s in state["services"]:
        if not pid_alive(s["pid"], s["starttime"]):
            return False
    env = state["env"]
    checks = []
    if "DASHBOARD_URL" in env:
        checks.append(http_status(env["DASHBOARD_URL"]) is not None)
    if "MEMDUMP_SERVICE_URL" in env:
        checks.append(http_status(env["MEMDUMP_SERVICE_URL"] + "/api/health") is not None)
    if "INFLUX_URL" in env:
        checks.append(http_status(env["INFLUX_URL"] + "/ping") == 204)
    lv = state.get("libvirt")
    if lv:
        sess = LibvirtSession(lv["base"], adopt=True)
        running = sess.virsh("list", "--name", check=False).stdout.split("\n")
        checks.append(all(g in running for g in lv.get("guests", [])))
    return all(checks)


def _down(run_dir, quiet=False):
    """Stop everything a recorded `up` started (newest first), guests and libvirt too."""
    state = _load_state(run_dir)
    if state is None:
        if not quiet:
            print(f"stack: nothing recorded in {_state_path(run_dir)}; nothing to stop")
        return
    services = state.get("services", [])
    for s in reversed(services):
        if s["name"] == "libvirt":
            continue
        stop_group(s["pid"], s["starttime"])
    lv = state.get("libvirt")
    if lv:
        sess = LibvirtSession(lv["base"], adopt=True)
        sess.own_base = lv.get("own_base", False)  # a /tmp fallback folder is removed
        sess.guests = list(lv.get("guests", []))
        sess.own_daemon = lv.get("own_daemon", False)
        sess.started = True
        sess.stop()
    left = [s for s in services if pid_alive(s["pid"], s["starttime"])]
    if left:
        raise HarnessError(f"still running after stop: {left}")
    _state_path(run_dir).unlink()
    try:
        (Path(run_dir) / "demo.env").unlink()  # its URLs no longer answer
    except FileNotFoundError:
        pass
    if not quiet:
        print("stack: demo stopped")


def cmd_up(args):
    run_dir = Path(args.run_dir).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(run_dir, 0o755)  # the libvirt user must reach its folders inside
    state = _load_state(run_dir)
    if state and _state_healthy(state):
        print(f"stack: already up; dashboard: {state['env']['DASHBOARD_URL']}")
        acc = Accounts(run_dir / Api.binary)
        if "api" in state.get("parts", []) and acc.load():
            _write_demo_credentials(run_dir, acc.env())  # (again, if it was removed)
            _login_help(args.run_dir, state["env"]["DASHBOARD_URL"])
        return 0
    if state:
        print("stack: a previous run is incomplete or unhealthy; stopping its remains")
        _down(run_dir, quiet=True)

    token = _demo_token(run_dir)
    libvirt_base = run_dir / "virt"
    parts = "full" if args.parts == "full" else args.parts.split(",")
    stack = Stack(run_dir, parts, guests=[g for g in args.guests.split(",") if g],
                  guest_mib=args.guest_mib, libvirt_base=libvirt_base,
                  ports={"nginx": args.port, "memdumpd": args.memdumpd_port}, token=token,
                  log_level=args.log_level, poll_interval=2, api_workers=args.api_workers,
                  dump_dir_name="dumps", detached=True)
    for s in (stack.nginx, stack.memdumpd):
        if s is not None and port_open(s.port):
            print(f"stack: port {s.port} ({s.name}) is already in use", file=sys.stderr)
            return 1

    def save(st, complete=False):
        rec = st.record()
        rec["complete"] = complete
        _write_private(_state_path(run_dir), json.dumps(rec, indent=2) + "\n")

    try:
        stack.start(on_start=save)
    except BaseException as e:
        print(f"stack: start failed: {e}", file=sys.stderr)
        save(stack)
        _down(run_dir, quiet=True)
        return 1
    stack.detach()
    save(stack, complete=True)
    env = stack.env()
    lines = [f"{k}={shlex.quote(env[k])}" for k in
             ("REDIS_URL", "INFLUX_URL", "INFLUX_DB", "LIBVIRT_URI", "DUMP_DIR",
              "MEMDUMP_SERVICE_URL", "DASHBOARD_URL", "LIBVIRT_AS") if k in env]
    _write_private(run_dir / "demo.env", "\n".join(lines) + "\n")
    os.chmod(run_dir / "demo.env", 0o644)  # no secret in it (the token has its own file)
    if stack.credentials:
        _write_demo_credentials(run_dir, stack.credentials_env())
    print(f"stack: up: {', '.join(stack.parts)} (logs and data in {run_dir})")
    if "DASHBOARD_URL" in env:
        if stack.credentials:
            _login_help(args.run_dir, env["DASHBOARD_URL"])
        else:
            print(f"Dashboard: {env['DASHBOARD_URL']}")
    return 0


def cmd_down(args):
    _down(Path(args.run_dir).resolve())
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(prog="stack.py", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up", help="start the full demo stack detached")
    up.add_argument("--run-dir", default=".run")
    up.add_argument("--port", type=int, default=8080, help="dashboard (nginx) port")
    up.add_argument("--memdumpd-port", type=int, default=5001)
    up.add_argument("--guests", default=DEMO_GUESTS, help="comma-separated guest names")
    up.add_argument("--guest-mib", type=int, default=384)
    up.add_argument("--api-workers", type=int, default=4)
    up.add_argument("--log-level", default="info")
    up.add_argument("--parts", default="full",
                    help=f"comma-separated subset of {','.join(PARTS)} (dependencies added)")
    down = sub.add_parser("down", help="stop everything `up` started")
    down.add_argument("--run-dir", default=".run")
    args = ap.parse_args(argv)
    try:
        return cmd_up(args) if args.cmd == "up" else cmd_down(args)
    except HarnessError as e:
        print(f"stack: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
