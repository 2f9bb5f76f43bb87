"""memdump-admin end to end on a private accounts file: users, groups, tokens, the
file's mode, argument errors, the refusal of a group-readable file, and -t. The
audit trail is not reachable here (INFLUX_URL points at a closed port), which must
only ever be a warning: the change is saved either way."""

import json
import os
import re
import stat
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("MEMDUMP_BIN_DIR") or REPO / "bin") / "memdump-admin"
TOKEN_RE = re.compile(r"^mdt_([0-9a-f]{12})_[A-Za-z0-9_-]{43}$")


@pytest.fixture
def admin(tmp_path):
    """run(*args, input=None) -> CompletedProcess of memdump-admin -c <private conf>."""
    accounts = tmp_path / "accounts"
    conf = tmp_path / "admin.conf"
    conf.write_text(f"MEMDUMP_ACCOUNTS={accounts}\n"
                    f"MEMDUMP_AUDIT_SPOOL={tmp_path / 'spool'}\n"
                    "INFLUX_URL=http://127.0.0.1:9\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEMDUMP_", "INFLUX_"))}

    def run(*args, input=None):
        return subprocess.run([str(BIN), "-c", str(conf), *args], input=input, env=env,
                              capture_output=True, text=True, timeout=60,
                              start_new_session=True)  # no controlling terminal
    run.accounts = accounts
    return run


def ok(p):
    assert p.returncode == 0, p.stderr
    return p


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_users_groups_tokens(admin):
    ok(admin("user", "add", "alice", "--role", "admin", "--password-stdin",
             input="first secret\nignored line\n"))
    assert mode(admin.accounts) == 0o600
    text = admin.accounts.read_text()
    assert re.search(r"^user alice role=admin hash=\$y\$\S+$", text, re.M)
    assert "first secret" not in text

    ok(admin("group", "add", "dba", "--role", "operator", "--vms", "db-*"))
    ok(admin("user", "add", "bob", "--role", "viewer", "--groups", "dba",
             "--vms", "web-*,web-?", "--no-password"))
    users = {u["name"]: u for u in json.loads(ok(admin("user", "list", "--json")).stdout)}
    assert users["alice"] == {"name": "alice", "role": "admin", "groups": [], "vms": [],
                              "hosts": [], "password": True, "disabled": False}
    assert users["bob"]["vms"] == ["web-*", "web-?"] and users["bob"]["password"] is False
    listing = ok(admin("user", "list")).stdout
    assert "alice" in listing and "$y$" not in listing
    assert json.loads(ok(admin("group", "list", "--json")).stdout)[0]["vms"] == ["db-*"]

    ok(admin("user", "set", "bob", "--role", "operator", "--hosts", "kvm1", "--disable"))
    bob = {u["name"]: u for u in json.loads(admin("user", "list", "--json").stdout)}["bob"]
    assert bob["role"] == "operator" and bob["hosts"] == ["kvm1"] and bob["disabled"]
    ok(admin("user", "set", "bob", "--enable", "--vms", ""))
    bob = {u["name"]: u for u in json.loads(admin("user", "list", "--json").stdout)}["bob"]
    assert not bob["disabled"] and bob["vms"] == []

    old = re.search(r"^user alice .*$", admin.accounts.read_text(), re.M).group(0)
    ok(admin("user", "passwd", "alice", "--password-stdin", input="second secret"))
    assert re.search(r"^user alice .*$", admin.accounts.read_text(), re.M).group(0) != old

    # token add prints the token once, alone on stdout
    p = ok(admin("token", "add", "bob", "--expires-days", "7", "--label", "ci"))
    assert len(p.stdout) == 61 and p.stdout.endswith("\n")
    token = p.stdout.strip()
    assert len(token) == 60
    tid = TOKEN_RE.match(token).group(1)
    assert token not in admin.accounts.read_text()
    tokens = json.loads(ok(admin("token", "list", "--json")).stdout)
    assert [t["id"] for t in tokens] == [tid]
    assert tokens[0]["user"] == "bob" and tokens[0]["label"] == "ci"
    assert tokens[0]["expires"] - tokens[0]["created"] == 7 * 86400
    assert "hash" not in tokens[0] and token not in admin("token", "list").stdout
    assert json.loads(ok(admin("token", "list", "alice", "--json")).stdout) == []

    t2 = TOKEN_RE.match(ok(admin("token", "add", "bob")).stdout.strip()).group(1)
    ok(admin("token", "revoke", tid))
    assert [t["id"] for t in json.loads(admin("token", "list", "--json").stdout)] == [t2]
    p = admin("token", "revoke", tid)
    assert p.returncode == 1 and f"no token '{tid}'" in p.stderr

    ok(admin("user", "del", "bob"))  # takes bob's tokens with it
    assert json.loads(admin("token", "list", "--json").stdout) == []
    assert [u["name"] for u in json.loads(admin("user", "list", "--json").stdout)] == ["alice"]
    ok(admin("group", "del", "dba"))
    assert json.loads(admin("group", "list", "--json").stdout) == []
    assert mode(admin.accounts) == 0o600
    assert not [f for f in admin.accounts.parent.iterdir() if ".tmp." in f.name]


def test_audit_failure_is_only_a_warning(admin):
    # InfluxDB is unreachable here: the change is saved, its event waits in the spool
    p = ok(admin("group", "add", "ops", "--role", "viewer"))
    assert "spool" in p.stderr, p.stderr
    assert "group ops role=viewer" in admin.accounts.read_text()


@pytest.mark.parametrize("args, needle", [
    (["user", "add", "bad name", "--role", "viewer", "--no-password"], "NAME"),
    (["user", "add", "carol", "--role", "boss", "--no-password"], "--role 'boss'"),
    (["user", "add", "carol", "--no-password"], "--role ROLE is required"),
    (["user", "add", "carol", "--role", "viewer", "--vms", "a[1]", "--no-password"], "--vms"),
    (["user", "add", "carol", "--role", "viewer", "--frob"], "unknown option '--frob'"),
    (["user", "add", "carol", "--role", "viewer", "--password-stdin", "--no-password"],
     "exclude each other"),
    (["user", "set", "carol"], "nothing to change"),
    (["token", "add", "carol", "--expires-days", "0"], "--expires-days"),
    (["token", "add", "carol", "--label", "two words"], "--label"),
    (["token", "revoke", "XYZ"], "ID 'XYZ'"),
    (["frobnicate"], "unknown command 'frobnicate'"),
    (["user"], "missing subcommand"),
    (["user", "list", "extra"], "unexpected argument 'extra'"),
])
def test_bad_arguments_exit_64(admin, args, needle):
    p = admin(*args)
    assert p.returncode == 64, p.stderr
    assert needle in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
    assert not admin.accounts.exists()


def test_password_problems(admin):
    # no terminal to prompt on: a clear error, nothing written
    p = admin("user", "add", "carol", "--role", "viewer", input="")
    assert p.returncode == 64 and "--password-stdin" in p.stderr
    assert not admin.accounts.exists()
    p = admin("user", "add", "carol", "--role", "viewer", "--password-stdin", input="\n")
    assert p.returncode == 65 and "empty password" in p.stderr
    p = admin("user", "add", "carol", "--role", "viewer", "--password-stdin",
              input="x" * 1025 + "\n")
    assert p.returncode == 65 and "1024" in p.stderr
    ok(admin("user", "add", "carol", "--role", "viewer", "--no-password"))
    p = admin("user", "add", "carol", "--role", "viewer", "--no-password")
    assert p.returncode == 1 and "already exists" in p.stderr
    p = admin("user", "passwd", "nobody", "--password-stdin", input="pw\n")
    assert p.returncode == 1 and "no user 'nobody'" in p.stderr


def test_group_readable_file_is_refused(admin):
    ok(admin("user", "add", "alice", "--role", "admin", "--no-password"))
    os.chmod(admin.accounts, 0o640)
    for args in (["user", "list"], ["user", "add", "bob", "--role", "viewer", "--no-password"]):
        p = admin(*args)
        assert p.returncode == 65
        assert "chmod 600" in p.stderr
    assert "bob" not in admin.accounts.read_text()
    p = admin("-t")
    assert p.returncode == 65 and "chmod 600" in p.stderr


def test_bad_file_names_the_line(admin):
    admin.accounts.write_text("user a role=viewer\nuser a role=admin\n")
    os.chmod(admin.accounts, 0o600)
    p = admin("user", "list")
    assert p.returncode == 65
    assert "line 2: duplicate user 'a'" in p.stderr


def test_check_config(admin, tmp_path):
    p = ok(admin("-t"))
    assert "configuration OK" in p.stdout and "does not exist yet" in p.stdout
    assert f"MEMDUMP_ACCOUNTS={admin.accounts}" in p.stdout
    ok(admin("user", "add", "alice", "--role", "admin", "--no-password"))
    p = ok(admin("-t"))
    assert "1 users, 0 groups, 0 tokens" in p.stdout
    bad = tmp_path / "bad.conf"
    bad.write_text("MEMDUMP_NO_SUCH_KEY=1\n")
    p = subprocess.run([str(BIN), "-c", str(bad), "-t"], capture_output=True, text=True)
    assert p.returncode == 78 and "MEMDUMP_NO_SUCH_KEY" in p.stderr
    p = subprocess.run([str(BIN), "--help"], capture_output=True, text=True)
    assert p.returncode == 0 and "token add USER" in p.stdout
