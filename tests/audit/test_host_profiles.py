"""The whole audit over two hosts built from real parts: a weakened one and a hardened one.

Each profile is made of the real programs the collectors read: an sshd
configuration read by ``sshd -T``, an nginx configuration read by ``nginx -T``,
a PostgreSQL 15 cluster (started inside the profile's own network namespace,
read through psql over its Unix socket) and a Python TCP listener in that
namespace. The weakened profile plants one weakness per check asked about
(root and password logins on port 22, an unprotected staging site, an
application superuser, PUBLIC CONNECT, a database and a root service on every
address); the hardened one fixes each, and every SSH, WEB, PG and NET check
must then run and pass.
"""

# ruff: noqa: S104  (binding to every address is one of the planted weaknesses)

import contextlib
import os
import pwd
import select
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from rampart.audit import Facts, Finding, Status, load_checks, run_audit
from rampart.audit.collectors.host import collect_sshd
from rampart.audit.collectors.network import collect_sockets
from rampart.audit.collectors.postgres import collect_postgres
from rampart.audit.collectors.web import collect_nginx
from rampart.config import AuditSettings
from rampart.system import run
from tests.netns import make_lan

_SBIN = f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin"
SSHD = shutil.which("sshd", path=_SBIN)
NGINX = shutil.which("nginx", path=_SBIN)
PG_BIN = Path("/usr/lib/postgresql/15/bin")
PRIVSEP_DIR = Path("/run/sshd")
AREAS = ("SSH-", "WEB-", "PG-", "NET-")
PG_PORT = 5432
SERVICE_PORT = 8080


def _missing() -> str | None:
    """Why this module cannot run here (None: it can)."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, a cluster run as postgres, sshd -T)"
    if SSHD is None:
        return "sshd is not installed (apt-get install openssh-server)"
    if NGINX is None:
        return "nginx is not installed (apt-get install nginx)"
    if not (PG_BIN / "initdb").exists() or shutil.which("psql") is None:
        return "PostgreSQL 15 is not installed (apt-get install postgresql)"
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return "there is no postgres user (apt-get install postgresql)"
    if shutil.which("ip") is None:
        return "ip is not installed (apt-get install iproute2)"
    return None


_WHY_NOT = _missing()
pytestmark = pytest.mark.skipif(_WHY_NOT is not None, reason=_WHY_NOT or "")


@dataclass(frozen=True)
class Spec:
    """What one profile is made of: the texts of its configurations and how it listens."""

    sshd_config: str
    nginx_http: str
    """The inside of nginx's http block."""
    sql: str
    """Run as postgres in the new cluster, after initdb."""
    listen_addresses: str
    """postgresql.conf listen_addresses, inside the profile's namespace."""
    service_host: str
    service_user: str
    """Who the Python listener runs as once it has bound its socket."""


WEAKENED = Spec(
    sshd_config="""\
Port 22
PermitRootLogin yes
PasswordAuthentication yes
""",
    nginx_http="""\
server {
    listen 80;
    server_name staging.example.com;
    location / { root /srv/staging; }
}
""",
    sql="""\
CREATE ROLE app LOGIN SUPERUSER;
CREATE DATABASE appdb;
""",
    listen_addresses="*",
    service_host="0.0.0.0",
    service_user="root",
)
HARDENED = Spec(
    sshd_config="""\
Port 2222
PermitRootLogin no
PasswordAuthentication no
KbdInteractiveAuthentication no
MaxAuthTries 3
AllowUsers deploy
""",
    nginx_http="""\
server_tokens off;
server {
    listen 80;
    server_name staging.example.com;
    auth_basic "Staging";
    auth_basic_user_file {tmp}/htpasswd;
    location / { root /srv/staging; }
}
""",
    sql="""\
CREATE ROLE app LOGIN;
CREATE DATABASE appdb;
REVOKE CONNECT ON DATABASE appdb FROM PUBLIC;
GRANT CONNECT ON DATABASE appdb TO app;
""",
    listen_addresses="127.0.0.1",
    service_host="127.0.0.1",
    service_user="nobody",
)

NGINX_MAIN = """\
pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
events {{}}
http {{
    access_log {tmp}/access.log;
{http}}}
"""

# Bind, listen, then (for a non-root user) drop to it: the socket stays, the owner changes.
_LISTENER = """\
import os, socket, sys
host, port, uid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind((host, port))
s.listen(8)
if uid:
    os.setuid(uid)
print("ready", flush=True)
sys.stdin.read()
"""


@dataclass(frozen=True)
class Profile:
    """A built host: where each collector looks, and what it found."""

    name: str
    sshd_config: Path
    host_key: Path
    nginx_config: Path
    pg_dsn: str
    netns: str
    service_comm: str
    """The listener's process name, as the sockets collector reports it."""

    def facts(self) -> Facts:
        facts = Facts()
        facts.provide("sshd", lambda: collect_sshd(config=self.sshd_config, host_key=self.host_key))
        facts.provide(
            "nginx",
            lambda: collect_nginx(
                config=self.nginx_config, internal_names=AuditSettings().internal_names
            ),
        )
        facts.provide("postgres", lambda: collect_postgres(dsn=self.pg_dsn))
        facts.provide("sockets", lambda: collect_sockets(netns=self.netns))
        return facts


@dataclass(frozen=True)
class Audited:
    profile: Profile
    findings: tuple[Finding, ...]

    def by_check(self) -> dict[str, list[Finding]]:
        found: dict[str, list[Finding]] = {}
        for finding in self.findings:
            found.setdefault(finding.check, []).append(finding)
        return found


def area_check_ids() -> list[str]:
    return [c.meta.id for c in load_checks() if c.meta.id.startswith(AREAS)]


def audit(profile: Profile) -> Audited:
    checks = [c for c in load_checks() if c.meta.id.startswith(AREAS)]
    return Audited(profile, tuple(run_audit(profile.facts(), checks).findings))


# -- building a profile -------------------------------------------------------------


def _as_postgres(*argv: str) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv]


@contextlib.contextmanager
def _cluster(spec: Spec, netns: str) -> Iterator[str]:
    """A PostgreSQL 15 cluster running inside ``netns``; yields a DSN for its socket.

    Local connections use peer authentication, with a map that lets root act as
    postgres (so the audit's psql, run as root, gets in without trust); TCP
    connections need scram-sha-256.
    """
    root = Path(tempfile.mkdtemp(prefix="rampart-profile-pg-"))
    account = pwd.getpwnam("postgres")
    os.chown(root, account.pw_uid, account.pw_gid)
    data, sockets = root / "data", root / "sockets"
    pg_ctl = str(PG_BIN / "pg_ctl")
    started = False
    try:
        run(_as_postgres("mkdir", "-m", "0700", str(sockets)))
        initdb = [str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "--no-sync"]
        initdb += ["--auth-local=peer", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C"]
        run(_as_postgres(*initdb), timeout=60)
        hba = data / "pg_hba.conf"
        lines = hba.read_text().splitlines()
        hba.write_text(
            "".join(
                f"{line} map=audit\n" if line.split()[:1] == ["local"] else f"{line}\n"
                for line in lines
            )
        )
        with (data / "pg_ident.conf").open("a") as ident:
            ident.write("audit root postgres\naudit postgres postgres\n")
        options = (
            f"-k {sockets} -p {PG_PORT} -c listen_addresses='{spec.listen_addresses}' -c fsync=off"
        )
        start = [pg_ctl, "-D", str(data), "-l", str(root / "log"), "-w", "-o", options, "start"]
        run(["ip", "netns", "exec", netns, *_as_postgres(*start)], timeout=60)
        started = True
        dsn = f"host={sockets} port={PG_PORT} user=postgres dbname=postgres"
        run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn], input_text=spec.sql)
        yield dsn
    finally:
        if started:
            subprocess.run(
                _as_postgres(pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"),
                capture_output=True,
                timeout=60,
                check=False,
            )
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def _service(spec: Spec, netns: str) -> Iterator[str]:
    """A TCP listener on SERVICE_PORT inside ``netns``; yields its process name."""
    uid = pwd.getpwnam(spec.service_user).pw_uid
    argv = [sys.executable, "-I", "-c", _LISTENER, spec.service_host, str(SERVICE_PORT), str(uid)]
    process = subprocess.Popen(
        ["ip", "netns", "exec", netns, *argv],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 10)
        assert ready and process.stdout.readline().strip() == "ready", "the listener did not start"
        yield Path(f"/proc/{process.pid}/comm").read_text().strip()
    finally:
        process.kill()
        process.communicate(timeout=10)


@contextlib.contextmanager
def _privsep_dir() -> Iterator[None]:
    """sshd -T as root wants /run/sshd, which only the ssh service creates; made as it does."""
    made = not PRIVSEP_DIR.exists()
    if made:
        PRIVSEP_DIR.mkdir(mode=0o755)
    try:
        yield
    finally:
        if made:
            PRIVSEP_DIR.rmdir()


@contextlib.contextmanager
def build(name: str, spec: Spec, tmp: Path) -> Iterator[Profile]:
    """Build the profile, audit it while it runs, tear it down."""
    host_key = tmp / "host_ed25519"
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host_key)])
    sshd_config = tmp / "sshd_config"
    sshd_config.write_text(spec.sshd_config)
    (tmp / "htpasswd").write_text("deploy:$apr1$abc$0123456789abcdefghijkl\n")
    nginx_config = tmp / "nginx.conf"
    http = spec.nginx_http.replace("{tmp}", str(tmp))
    nginx_config.write_text(NGINX_MAIN.format(tmp=tmp, http=http))
    with make_lan() as lan, _cluster(spec, lan.host.ns) as dsn, _service(spec, lan.host.ns) as comm:
        yield Profile(name, sshd_config, host_key, nginx_config, dsn, lan.host.ns, comm)


@pytest.fixture(scope="module")
def weakened(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Audited]:
    with _privsep_dir(), build("weakened", WEAKENED, tmp_path_factory.mktemp("weak")) as host:
        yield audit(host)


@pytest.fixture(scope="module")
def hardened(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Audited]:
    with _privsep_dir(), build("hardened", HARDENED, tmp_path_factory.mktemp("hard")) as host:
        yield audit(host)


# -- the audit --------------------------------------------------------------------

# (check, resource) of each planted weakness; "{service}" is the listener's process name.
PLANTED = [
    ("SSH-001", "sshd port 22"),
    ("SSH-002", "sshd PermitRootLogin"),
    ("SSH-003", "sshd PasswordAuthentication"),
    ("WEB-001", "nginx server staging.example.com"),
    ("PG-001", "postgres role app"),
    ("PG-003", "postgres database appdb"),
    ("NET-001", f"postgres on 0.0.0.0:{PG_PORT}"),
    ("NET-002", f"{{service}} on 0.0.0.0:{SERVICE_PORT}"),
]


@pytest.mark.parametrize(("check", "resource"), PLANTED, ids=[c for c, _ in PLANTED])
def test_the_weakened_host_fails_each_planted_weakness(
    weakened: Audited, check: str, resource: str
) -> None:
    resource = resource.format(service=weakened.profile.service_comm)
    found = [(f.status, f.resource) for f in weakened.by_check().get(check, [])]
    assert (Status.FAIL, resource) in found, found


def test_the_weakened_host_s_other_failures_follow_from_the_same_settings(
    weakened: Audited,
) -> None:
    """Only defaults of the planted configuration fail besides the planted weaknesses."""
    service = weakened.profile.service_comm
    planted = {(check, resource.format(service=service)) for check, resource in PLANTED}
    others = {
        (f.check, f.resource)
        for f in weakened.findings
        if f.status is Status.FAIL and (f.check, f.resource) not in planted
    }
    assert others == {
        ("SSH-004", "sshd KbdInteractiveAuthentication"),  # OpenSSH's default: yes
        ("SSH-005", "sshd MaxAuthTries"),  # default 6
        ("SSH-006", "sshd AllowUsers/AllowGroups"),
        ("WEB-002", "nginx http server_tokens"),  # nginx's default: on
        ("NET-001", f"postgres on [::]:{PG_PORT}"),  # listen_addresses '*' is IPv6 too
    }
    assert not [f for f in weakened.findings if f.status is Status.SKIPPED]


@pytest.mark.parametrize("check", area_check_ids())
def test_every_check_runs_and_passes_on_the_hardened_host(hardened: Audited, check: str) -> None:
    found = [
        (f.status, f.resource, f.evidence, f.reason) for f in hardened.by_check().get(check, [])
    ]
    assert {status for status, *_ in found} == {Status.PASS}, found


def test_the_planted_checks_are_among_those_run() -> None:
    assert {check for check, _ in PLANTED} <= set(area_check_ids())


def test_the_hardened_host_s_listeners_are_seen_on_loopback_and_not_as_root(
    hardened: Audited,
) -> None:
    """NET-001 and NET-002 pass over the real listeners, not over an empty namespace."""
    profile = hardened.profile
    sockets = collect_sockets(netns=profile.netns)
    owners = {(s.address, s.port, s.comm, s.user) for s in sockets if s.proto == "tcp"}
    assert owners == {
        ("127.0.0.1", PG_PORT, "postgres", "postgres"),
        ("127.0.0.1", SERVICE_PORT, profile.service_comm, "nobody"),
    }
