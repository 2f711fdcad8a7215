"""PostgreSQL checks (practice 8): each database its own role, nothing open to PUBLIC.

All read the "postgres" facts (catalog queries through psql, and pg_hba.conf).
The ``postgres`` database and the templates are left out of PG-002 and PG-003:
by convention ``postgres`` holds no data (client tools connect to it by
default, so revoking CONNECT there breaks them), ``template0`` refuses every
connection and ``template1`` is only copied. Data kept in ``postgres`` is
therefore not covered by those two checks; PG-004 looks at every database.
"""

from collections.abc import Iterable
from dataclasses import replace

from rampart.audit.collectors.postgres import PgDatabase, PostgresFacts
from rampart.audit.interface import Check, CheckMeta, Facts, Finding, Severity, Unavailable

MAINTENANCE_DATABASES = frozenset({"postgres"})
_RELOAD_HBA = "then `SELECT pg_reload_conf();`"


def _data_databases(pg: PostgresFacts) -> list[PgDatabase]:
    return [d for d in pg.databases if not d.template and d.name not in MAINTENANCE_DATABASES]


class PgSuperusers(Check):
    meta = CheckMeta(
        "PG-001",
        "superuser roles besides postgres",
        "8",
        Severity.HIGH,
        "ALTER ROLE <name> NOSUPERUSER; (grant the role only what its job needs)",
    )

    def run(self, facts: Facts) -> Iterable[Finding]:
        pg: PostgresFacts = facts.get("postgres")
        others = [r for r in pg.roles if r.superuser and r.name != "postgres"]
        for role in others:
            login = "can log in" if role.login else "NOLOGIN, but its members can SET ROLE to it"
            yield self.failed(f"postgres role {role.name}", f"SUPERUSER ({login})")
        if not others:
            yield self.passed("postgres superusers", "only postgres is a superuser")


class PgRoleManyDatabases(Check):
    meta = CheckMeta(
        "PG-002",
        "login role that can connect to more than one database",
        "8",
        Severity.MEDIUM,
        "REVOKE CONNECT ON DATABASE <db> FROM PUBLIC; GRANT CONNECT ON DATABASE <db> TO <role>;"
        " (one role per database)",
    )

    def run(self, facts: Facts) -> Iterable[Finding]:
        pg: PostgresFacts = facts.get("postgres")
        data = {d.name for d in _data_databases(pg)}
        for role in pg.roles:
            if not role.login or role.superuser:
                continue  # superusers reach everything: PG-001
            reach = [name for name in pg.connect.get(role.name, ()) if name in data]
            resource = f"postgres role {role.name}"
            if len(reach) > 1:
                yield self.failed(resource, f"may connect to {len(reach)}: {', '.join(reach)}")
            else:
                yield self.passed(resource, f"may connect to {', '.join(reach) or 'no database'}")


class PgPublicConnect(Check):
    meta = CheckMeta(
        "PG-003",
        "PUBLIC may connect to a database",
        "8",
        Severity.MEDIUM,
        "REVOKE CONNECT ON DATABASE <db> FROM PUBLIC; GRANT CONNECT ON DATABASE <db> TO <role>;",
    )

    def run(self, facts: Facts) -> Iterable[Finding]:
        pg: PostgresFacts = facts.get("postgres")
        for database in _data_databases(pg):
            resource = f"postgres database {database.name}"
            if database.public_connect:
                yield self.failed(resource, "PUBLIC holds CONNECT: every login role may connect")
            else:
                yield self.passed(resource, "CONNECT granted to named roles only")


class PgPublicCreate(Check):
    meta = CheckMeta(
        "PG-004",
        "PUBLIC may create in schema public",
        "8",
        Severity.MEDIUM,
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC; (in each database; PostgreSQL 15's default)",
    )

    def run(self, facts: Facts) -> Iterable[Finding]:
        pg: PostgresFacts = facts.get("postgres")
        known = [d for d in pg.databases if d.public_create_in_public is not None]
        if not known and pg.schema_problem:
            raise Unavailable(pg.schema_problem)
        for database in known:
            resource = f"postgres database {database.name} schema public"
            if database.public_create_in_public:
                yield self.failed(resource, "PUBLIC holds CREATE on schema public")
            else:
                yield self.passed(resource, "PUBLIC cannot create in schema public")


class PgHbaTrust(Check):
    meta = CheckMeta(
        "PG-005",
        "trust authentication in pg_hba.conf",
        "8",
        Severity.CRITICAL,
        f"scram-sha-256 (host lines) or peer (local lines) instead of trust, {_RELOAD_HBA}",
    )

    def run(self, facts: Facts) -> Iterable[Finding]:
        pg: PostgresFacts = facts.get("postgres")
        if pg.hba is None:
            raise Unavailable(pg.hba_problem)
        trusting = [line for line in pg.hba if line.method == "trust"]
        for line in trusting:
            finding = self.failed(line.where, f"{line.text} (no password asked)")
            if line.type == "local":
                # Only users on this machine can reach a socket: bad, but not the network.
                finding = replace(finding, severity=Severity.HIGH)
            yield finding
        if not trusting:
            yield self.passed(pg.hba_file or "pg_hba.conf", f"no trust among {len(pg.hba)} lines")
