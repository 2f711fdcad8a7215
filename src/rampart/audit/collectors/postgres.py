"""Facts about PostgreSQL: roles, who may connect where, schema public, pg_hba.conf.

Read with ``psql`` (the Debian client, no Python driver): ``postgres_dsn``
from the settings when given, else the local socket as the postgres user
(``runuser -u postgres -- psql`` when run as root). Catalog queries print
tab-separated rows (``-At -F '\\t'``), each tagged by its first field. Schema
``public`` belongs to each database, so a second psql run ``\\connect``\\ s to
each database that accepts connections.
"""

import ipaddress
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rampart.audit.interface import Unavailable
from rampart.errors import RampartError
from rampart.system import CommandError, run

DEFAULT_SOCKET_DIR = "/var/run/postgresql"

_CATALOG = """\
SELECT 'role', rolname, rolsuper, rolcanlogin FROM pg_roles ORDER BY rolname;
SELECT 'database', datname, datistemplate, datallowconn,
       EXISTS (SELECT 1 FROM aclexplode(coalesce(datacl, acldefault('d', datdba))) AS a
               WHERE a.grantee = 0 AND a.privilege_type = 'CONNECT'),
       has_database_privilege(current_user, oid, 'CONNECT')
  FROM pg_database ORDER BY datname;
SELECT 'connect', r.rolname, d.datname FROM pg_roles r CROSS JOIN pg_database d
 WHERE r.rolcanlogin AND has_database_privilege(r.oid, d.oid, 'CONNECT')
 ORDER BY 2, 3;
SELECT 'hba_file', CASE WHEN pg_has_role(current_user, 'pg_read_all_settings', 'USAGE')
                        THEN current_setting('hba_file') ELSE '' END;
"""
_SCHEMA = """\
SELECT 'schema', current_database(),
       coalesce((SELECT has_schema_privilege('public', oid, 'CREATE')::text
                 FROM pg_namespace WHERE nspname = 'public'), 'none');
"""


@dataclass(frozen=True)
class PgRole:
    name: str
    superuser: bool
    login: bool


@dataclass(frozen=True)
class PgDatabase:
    name: str
    template: bool
    allows_connections: bool
    public_connect: bool
    """PUBLIC holds CONNECT (granted, or the default of a NULL acl)."""
    public_create_in_public: bool | None = None
    """PUBLIC may CREATE in schema public; None: not known (no such schema, no connection)."""


@dataclass(frozen=True)
class HbaLine:
    file: str
    number: int
    type: str
    database: str
    user: str
    address: str
    method: str

    @property
    def where(self) -> str:
        return f"{self.file}:{self.number}"

    @property
    def text(self) -> str:
        fields = [self.type, self.database, self.user, self.address, self.method]
        return " ".join(f for f in fields if f)


@dataclass(frozen=True)
class PostgresFacts:
    roles: tuple[PgRole, ...]
    databases: tuple[PgDatabase, ...]
    connect: dict[str, tuple[str, ...]]
    """Login role -> the databases it may CONNECT to."""
    hba_file: str | None
    hba: tuple[HbaLine, ...] | None
    hba_problem: str = ""
    """Why ``hba`` is None (file not readable here, not reported to this role)."""
    schema_problem: str = ""
    notes: tuple[str, ...] = field(default=())


def psql_command(dsn: str | None, *, psql: str = "psql", as_root: bool | None = None) -> list[str]:
    """The psql command line (options and connection) the collector runs."""
    options = ["-X", "-q", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1"]
    if dsn:
        return [psql, *options, "-d", dsn]
    if as_root if as_root is not None else os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", psql, *options, "-d", "postgres"]
    return [psql, *options, "-U", "postgres", "-h", DEFAULT_SOCKET_DIR, "-d", "postgres"]


def collect_postgres(
    *,
    dsn: str | None = None,
    hba_file: Path | None = None,
    psql: str = "psql",
    as_root: bool | None = None,
    timeout: float = 30.0,
) -> PostgresFacts:
    """Roles, databases, grants and pg_hba.conf of the server ``dsn`` (or the local one).

    With no ``dsn``, ``postgres_dsn`` and ``pg_hba_file`` come from the settings.
    """
    if dsn is None:
        from rampart.config import load_settings

        try:
            settings = load_settings().audit
        except RampartError as error:
            raise Unavailable(str(error)) from None
        dsn, hba_file = settings.postgres_dsn, hba_file or settings.pg_hba_file
    argv = psql_command(dsn, psql=psql, as_root=as_root)
    rows = _psql(argv, _CATALOG, timeout)
    roles = tuple(
        PgRole(r[1], r[2] == "t", r[3] == "t") for r in rows if r[0] == "role" and len(r) == 4
    )
    databases = [r for r in rows if r[0] == "database" and len(r) == 6]
    connect: dict[str, list[str]] = {}
    for row in rows:
        if row[0] == "connect" and len(row) == 3:
            connect.setdefault(row[1], []).append(row[2])
    reported = next((r[1] for r in rows if r[0] == "hba_file" and len(r) == 2), "")

    reachable = [r[1] for r in databases if r[3] == "t" and r[5] == "t"]
    schema: dict[str, bool | None] = {}
    schema_problem = ""
    if reachable:
        script = "".join(f"\\connect {_quote(name)}\n{_SCHEMA}" for name in reachable)
        try:
            for row in _psql(argv, script, timeout):
                if row[0] == "schema" and len(row) == 3:
                    schema[row[1]] = None if row[2] == "none" else row[2] == "true"
        except Unavailable as why:
            schema_problem = str(why)

    hba_path = str(hba_file) if hba_file is not None else reported or None
    hba: tuple[HbaLine, ...] | None = None
    hba_problem = ""
    if hba_path is None:
        hba_problem = "the server does not show hba_file to this role (set pg_hba_file)"
    else:
        try:
            hba = tuple(parse_hba(Path(hba_path).read_text(errors="replace"), hba_path))
        except OSError as error:
            hba_problem = f"cannot read {hba_path}: {error.strerror}"
    return PostgresFacts(
        roles,
        tuple(
            PgDatabase(r[1], r[2] == "t", r[3] == "t", r[4] == "t", schema.get(r[1]))
            for r in databases
        ),
        {role: tuple(names) for role, names in connect.items()},
        hba_path,
        hba,
        hba_problem,
        schema_problem,
    )


def _psql(argv: Sequence[str], script: str, timeout: float) -> list[list[str]]:
    try:
        result = run(argv, input_text=script, timeout=timeout, check=False)
    except CommandError as error:
        raise Unavailable(str(error)) from None
    if result.returncode != 0:
        said = [line.strip() for line in result.stderr.splitlines() if line.strip()]
        raise Unavailable(said[0] if said else f"psql: exit status {result.returncode}")
    return [line.split("\t") for line in result.stdout.splitlines() if line]


def _quote(name: str) -> str:
    """A database name as one psql meta-command argument (single quotes, '' inside)."""
    return "'" + name.replace("\\", "\\\\").replace("'", "''") + "'"


# --- pg_hba.conf -------------------------------------------------------------------

_HBA_FIELD = re.compile(r'"(?:[^"]|"")*"\S*|[^\s"]+')


def parse_hba(text: str, file: str) -> list[HbaLine]:
    """The records of a pg_hba.conf (comments and blank lines skipped; lines numbered)."""
    lines: list[HbaLine] = []
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        if not pending:
            start = number
        content = _strip_comment(raw)
        if content.rstrip().endswith("\\"):
            pending += content.rstrip()[:-1] + " "
            continue
        fields = _HBA_FIELD.findall(pending + content)
        pending = ""
        record = _record(fields, file, start)
        if record is not None:
            lines.append(record)
    return lines


def _strip_comment(line: str) -> str:
    quoted = False
    for index, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif char == "#" and not quoted:
            return line[:index]
    return line


def _record(fields: list[str], file: str, number: int) -> HbaLine | None:
    if len(fields) < 4 or fields[0].startswith("include"):
        return None
    kind = fields[0]
    if kind == "local":
        return HbaLine(file, number, kind, fields[1], fields[2], "", fields[3])
    if len(fields) < 5:
        return None
    address, method_at = fields[3], 4
    if "/" not in address and _is_ip(address) and len(fields) >= 6:
        address, method_at = f"{address} {fields[4]}", 5  # an address and a separate mask
    return HbaLine(file, number, kind, fields[1], fields[2], address, fields[method_at])


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


COLLECTORS: dict[str, Callable[[], Any]] = {"postgres": collect_postgres}
