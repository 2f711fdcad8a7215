"""nginx checks: internal sites behind basic auth or an allow list (practice 6), no version.

Both read the servers nginx really loads, from ``nginx -T`` (the "nginx"
facts): includes are followed, and ``auth_basic``, ``auth_request`` and
``allow``/``deny`` are inherited from http to server to location as nginx does.
"""

from collections.abc import Iterable

from rampart.audit.collectors.web import NginxFacts, NginxServer, Protection, is_internal
from rampart.audit.interface import Check, CheckMeta, Facts, Finding, Severity

_RELOAD = "then `nginx -t && nginx -s reload`"
# A return with one of these codes answers every request without the site's content.
_NO_CONTENT = {"301", "302", "303", "307", "308", "401", "403", "404", "410", "444"}


def _names(server: NginxServer) -> tuple[str, ...]:
    return server.names or ("(no server_name)",)


def _exposed(server: NginxServer) -> tuple[bool, str]:
    """Whether ``/`` of a server serves content unguarded, and what was found."""
    where, protection = server.root_protection()
    if protection.guarded:
        return False, f"{where}: {protection.describe()}"
    if _answers_without_content(protection):
        return False, f"{where}: return {protection.returns} (no content served)"
    return True, f"{where}: {protection.describe()}"


def _answers_without_content(protection: Protection) -> bool:
    return bool(protection.returns) and (protection.returns or "").split()[0] in _NO_CONTENT


class NginxInternalSiteOpen(Check):
    meta = CheckMeta(
        "WEB-001",
        "internal site without basic auth or an allow list",
        "6",
        Severity.HIGH,
        'auth_basic "internal"; auth_basic_user_file /etc/nginx/htpasswd; in the server block'
        " (or allow <office network>; deny all;), " + _RELOAD,
    )

    def run(self, facts: Facts) -> Iterable[Finding]:
        nginx: NginxFacts = facts.get("nginx")
        by_name: dict[str, list[tuple[NginxServer, str]]] = {}
        for server in nginx.servers:
            for name in server.names:
                word = is_internal(name, nginx.internal_names)
                if word is not None:
                    by_name.setdefault(name, []).append((server, word))
        for name, servers in by_name.items():
            resource = f"nginx server {name}"
            word = servers[0][1]
            open_ones: list[str] = []
            guarded: list[str] = []
            for server, _ in servers:
                exposed, said = _exposed(server)
                listen = ", ".join(server.listen) or "80"
                line = f"{server.where} (listen {listen}) {said}"
                (open_ones if exposed else guarded).append(line)
            if open_ones:
                yield self.failed(resource, f"internal ({word!r}) and open: {'; '.join(open_ones)}")
            else:
                yield self.passed(resource, f"internal ({word!r}), protected: {'; '.join(guarded)}")


class NginxServerTokens(Check):
    meta = CheckMeta(
        "WEB-002",
        "nginx reveals its version (server_tokens not off)",
        "0",
        Severity.LOW,
        f"server_tokens off; in the http block of /etc/nginx/nginx.conf, {_RELOAD}",
    )

    def run(self, facts: Facts) -> Iterable[Finding]:
        nginx: NginxFacts = facts.get("nginx")
        value = nginx.http_server_tokens
        resource = "nginx http server_tokens"
        if value == "off":
            yield self.passed(resource, "server_tokens off")
        else:
            yield self.failed(resource, f"server_tokens {value} (nginx's default is on)")
        for server in nginx.servers:
            if server.server_tokens_own and server.server_tokens != value:
                resource = f"nginx server {_names(server)[0]} server_tokens"
                said = f"server_tokens {server.server_tokens} at {server.where}"
                if server.server_tokens == "off":
                    yield self.passed(resource, said)
                else:
                    yield self.failed(resource, said)
