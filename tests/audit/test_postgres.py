"""PostgreSQL checks over a real PostgreSQL 15 cluster that the tests create and stop.

The cluster lives in a private temporary folder owned by the postgres user
(pytest's own tmp folders are root-only, so postgres could not reach them),
listens on a Unix socket there only, and is stopped at teardown.
"""

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from rampart.audit import Check, Facts, Severity, Status, Unavailable, load_checks, run_audit
from rampart.audit.collectors.postgres import collect_postgres, parse_hba
from rampart.system import run

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PORT = "54329"


def _postgres_user() -> bool:
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return False
    return True


needs_postgres = pytest.mark.skipif(
    not (PG_BIN / "initdb").exists() or shutil.which("psql") is None or not _postgres_user(),
    reason="PostgreSQL 15 is not installed (apt-get install postgresql)",
)
needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="the test cluster is run as the postgres user: needs root"
)

SETUP = """\
CREATE ROLE boss LOGIN SUPERUSER;
CREATE ROLE app1 LOGIN;
CREATE ROLE app2 LOGIN;
CREATE ROLE readers NOLOGIN;
CREATE DATABASE app1db OWNER app1;
CREATE DATABASE app2db OWNER app2;
REVOKE CONNECT ON DATABASE app1db FROM PUBLIC;
GRANT CONNECT ON DATABASE app1db TO app1;
\\connect app2db
GRANT CREATE ON SCHEMA public TO PUBLIC;
"""


@dataclass(frozen=True)
class Cluster:
    root: Path
    dsn: str

    @property
    def hba_file(self) -> Path:
        return self.root / "data" / "pg_hba.conf"


def _as_postgres(*argv: str) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv]


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    root = Path(tempfile.mkdtemp(prefix="rampart-pg-"))
    account = pwd.getpwnam("postgres")
    os.chown(root, account.pw_uid, account.pw_gid)
    data, sockets = root / "data", root / "sockets"
    run(_as_postgres("mkdir", "-m", "0700", str(sockets)))
    run(
        _as_postgres(
            str(PG_BIN / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        ),
        timeout=60,
    )
    options = f"-k {sockets} -p {PORT} -c listen_addresses='' -c fsync=off"
    pg_ctl = str(PG_BIN / "pg_ctl")
    run(
        _as_postgres(
            pg_ctl, "-D", str(data), "-l", str(root / "log"), "-w", "-o", options, "start"
        ),
        timeout=60,
    )
    dsn = f"host={sockets} port={PORT} user=postgres dbname=postgres"
    try:
        run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn], input_text=SETUP)
        yield Cluster(root, dsn)
    finally:
        subprocess.run(
            _as_postgres(pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"),
            capture_output=True,
            timeout=60,
            check=False,
        )
        shutil.rmtree(root, ignore_errors=True)


def pg_facts(cluster: Cluster, hba_file: Path | None = None) -> Facts:
    return Facts({"postgres": lambda: collect_postgres(dsn=cluster.dsn, hba_file=hba_file)})


def results(facts: Facts, check_id: str) -> dict[str, tuple[Status, str]]:
    checks: list[Check] = [c for c in load_checks() if c.meta.id == check_id]
    return {f.resource: (f.status, f.evidence) for f in run_audit(facts, checks).findings}


pytestmark = [needs_postgres, needs_root]


def test_catalog_facts_of_a_real_cluster(cluster: Cluster) -> None:
    pg = pg_facts(cluster).get("postgres")
    roles = {role.name: (role.superuser, role.login) for role in pg.roles}
    assert roles["postgres"] == (True, True)
    assert roles["boss"] == (True, True)
    assert roles["app1"] == (False, True)
    assert roles["readers"] == (False, False)
    databases = {d.name: d for d in pg.databases}
    assert not databases["app1db"].public_connect
    assert databases["app2db"].public_connect  # the default: a NULL acl
    assert databases["app2db"].public_create_in_public is True
    assert databases["app1db"].public_create_in_public is False  # PostgreSQL 15's default
    assert databases["template0"].public_create_in_public is None  # refuses connections
    assert pg.connect["app1"] == ("app1db", "app2db", "postgres", "template0", "template1")
    assert "readers" not in pg.connect
    assert pg.hba_file == str(cluster.hba_file)  # SHOW hba_file, read as root


def test_superusers_besides_postgres(cluster: Cluster) -> None:
    assert results(pg_facts(cluster), "PG-001") == {
        "postgres role boss": (Status.FAIL, "SUPERUSER (can log in)")
    }


def test_login_roles_reaching_several_databases(cluster: Cluster) -> None:
    found = results(pg_facts(cluster), "PG-002")
    assert found == {
        "postgres role app1": (Status.FAIL, "may connect to 2: app1db, app2db"),
        "postgres role app2": (Status.PASS, "may connect to app2db"),
    }


def test_public_connect_outside_templates_and_postgres(cluster: Cluster) -> None:
    found = results(pg_facts(cluster), "PG-003")
    assert {resource: status for resource, (status, _) in found.items()} == {
        "postgres database app1db": Status.PASS,
        "postgres database app2db": Status.FAIL,
    }


def test_public_create_in_schema_public_both_states(cluster: Cluster) -> None:
    found = results(pg_facts(cluster), "PG-004")
    assert {resource: status for resource, (status, _) in found.items()} == {
        "postgres database app1db schema public": Status.PASS,
        "postgres database app2db schema public": Status.FAIL,
        "postgres database postgres schema public": Status.PASS,
        "postgres database template1 schema public": Status.PASS,
    }


def test_trust_in_the_cluster_s_own_pg_hba(cluster: Cluster) -> None:
    facts = pg_facts(cluster)
    report = run_audit(facts, [c for c in load_checks() if c.meta.id == "PG-005"])
    failed = [f for f in report.findings if f.status is Status.FAIL]
    # initdb --auth-local=trust: the socket line and the local replication line.
    assert [f.evidence for f in failed] == [
        "local all all trust (no password asked)",
        "local replication all trust (no password asked)",
    ]
    assert {f.severity for f in failed} == {Severity.HIGH}
    assert all(f.resource.startswith(f"{cluster.hba_file}:") for f in failed)


def test_trust_on_host_lines_is_critical(cluster: Cluster, tmp_path: Path) -> None:
    hba = tmp_path / "pg_hba.conf"
    hba.write_text(
        "# TYPE DATABASE USER ADDRESS METHOD\n"
        "local   all   postgres                peer\n"
        'host    all   "app user"  10.0.0.0/8  trust   # the office\n'
        "hostssl all   all   192.0.2.1  255.255.255.255  trust\n"
        "host    all   all   ::1/128    scram-sha-256\n"
    )
    report = run_audit(
        pg_facts(cluster, hba_file=hba), [c for c in load_checks() if c.meta.id == "PG-005"]
    )
    assert [(f.status, f.severity, f.resource, f.evidence) for f in report.findings] == [
        (
            Status.FAIL,
            Severity.CRITICAL,
            f"{hba}:3",
            'host all "app user" 10.0.0.0/8 trust (no password asked)',
        ),
        (
            Status.FAIL,
            Severity.CRITICAL,
            f"{hba}:4",
            "hostssl all all 192.0.2.1 255.255.255.255 trust (no password asked)",
        ),
    ]


def test_no_server_skips_with_psql_s_message(tmp_path: Path) -> None:
    dsn = f"host={tmp_path} port={PORT} user=postgres dbname=postgres"
    facts = Facts({"postgres": lambda: collect_postgres(dsn=dsn)})
    with pytest.raises(Unavailable, match=r"^psql: error: connection to server on socket"):
        facts.get("postgres")
    report = run_audit(facts, [c for c in load_checks() if c.meta.id.startswith("PG-")])
    assert len(report.findings) == 5
    assert {f.status for f in report.findings} == {Status.SKIPPED}


def test_hba_parser_joins_continuations_and_skips_comments() -> None:
    lines = parse_hba("host all all \\\n  127.0.0.1/32 md5\n\n# x\nlocal all all peer\n", "f")
    assert [(line.number, line.text) for line in lines] == [
        (1, "host all all 127.0.0.1/32 md5"),
        (5, "local all all peer"),
    ]
