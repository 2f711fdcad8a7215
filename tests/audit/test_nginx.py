"""nginx checks over the real ``nginx -T`` of test configurations (nginx is never started)."""

import os
import shutil
from pathlib import Path

import pytest

from rampart.audit import Check, Facts, Status, Unavailable, load_checks, run_audit
from rampart.audit.collectors.web import collect_nginx, is_internal, parse_directives
from rampart.config import AuditSettings

NGINX = shutil.which("nginx", path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin")
needs_nginx = pytest.mark.skipif(
    NGINX is None, reason="nginx is not installed (apt-get install nginx)"
)
INTERNAL = AuditSettings().internal_names

MAIN = """\
pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
events {{}}
http {{
    access_log {tmp}/access.log;
    {tokens}
    include {tmp}/sites/*.conf;
}}
"""
SITES = {
    "10-staging.conf": """\
# configuration file /etc/fake.conf:  (a comment that looks like nginx -T's marker)
server {
    listen 127.0.0.1:18443;
    server_name staging.example.com;
    auth_basic "Staging {only}; keep out";  # braces and ; inside quotes
    auth_basic_user_file /etc/nginx/htpasswd;
    location / { root /srv/staging; }
    location /healthz { auth_basic off; return 200 "ok"; }
}
server {
    listen 127.0.0.1:18080;
    server_name staging.example.com;
    return 301 https://$host$request_uri;
}
""",
    "20-grafana.conf": """\
server {
    listen 127.0.0.1:18081;
    server_name grafana-internal.example.com;
    allow 10.0.0.0/8;
    allow 192.0.2.7;
    deny all;
    location / { proxy_pass http://127.0.0.1:3000; }
}
""",
    "30-open.conf": """\
server {
    listen 127.0.0.1:18082;
    server_name admin.example.com 'kibana.example.com';
    auth_basic "Admin";
    location / { auth_basic off; root /srv/admin; }
}
server {
    listen 127.0.0.1:18083;
    server_name monitoring.example.com;
    server_tokens build;
    allow all;
    deny all;
}
server {
    listen 127.0.0.1:18084;
    server_name www.example.com devices.example.com;
    server_tokens off;
    location / { root /srv/www; }
}
""",
}


def write_config(tmp_path: Path, tokens: str = "server_tokens off;") -> Path:
    sites = tmp_path / "sites"
    sites.mkdir(exist_ok=True)
    for name, text in SITES.items():
        (sites / name).write_text(text)
    main = tmp_path / "nginx.conf"
    main.write_text(MAIN.format(tmp=tmp_path, tokens=tokens))
    return main


def nginx_facts(config: Path) -> Facts:
    return Facts({"nginx": lambda: collect_nginx(config=config, internal_names=INTERNAL)})


def results(facts: Facts, prefix: str) -> dict[str, tuple[Status, str]]:
    checks: list[Check] = [c for c in load_checks() if c.meta.id.startswith(prefix)]
    return {f.resource: (f.status, f.evidence) for f in run_audit(facts, checks).findings}


@needs_nginx
def test_nginx_t_lists_servers_through_includes_with_inherited_protection(
    tmp_path: Path,
) -> None:
    nginx = nginx_facts(write_config(tmp_path)).get("nginx")
    assert nginx.main_file == str(tmp_path / "nginx.conf")
    assert str(tmp_path / "sites" / "20-grafana.conf") in nginx.files
    names = [server.names for server in nginx.servers]
    assert names == [
        ("staging.example.com",),
        ("staging.example.com",),
        ("grafana-internal.example.com",),
        ("admin.example.com", "kibana.example.com"),
        ("monitoring.example.com",),
        ("www.example.com", "devices.example.com"),
    ]
    staging = nginx.servers[0]
    assert staging.listen == ("127.0.0.1:18443",)
    assert staging.protection.auth_basic == "Staging {only}; keep out"
    locations = {loc.match: loc.protection for loc in staging.locations}
    assert locations["/"].auth_basic == "Staging {only}; keep out"  # inherited
    assert locations["/healthz"].auth_basic is None
    grafana = nginx.servers[2]
    assert grafana.locations[0].protection.access == (
        "allow 10.0.0.0/8",
        "allow 192.0.2.7",
        "deny all",
    )
    assert grafana.locations[0].protection.allow_list
    assert not nginx.servers[4].protection.allow_list  # allow all comes first
    assert nginx.http_server_tokens == "off"
    assert [s.server_tokens for s in nginx.servers][4:] == ["build", "off"]


@needs_nginx
def test_internal_sites_pass_only_when_slash_is_guarded(tmp_path: Path) -> None:
    found = results(nginx_facts(write_config(tmp_path)), "WEB-001")
    assert {resource: status for resource, (status, _) in found.items()} == {
        "nginx server staging.example.com": Status.PASS,
        "nginx server grafana-internal.example.com": Status.PASS,
        "nginx server admin.example.com": Status.FAIL,
        "nginx server kibana.example.com": Status.FAIL,
        "nginx server monitoring.example.com": Status.FAIL,
    }
    staging = found["nginx server staging.example.com"][1]
    assert "auth_basic" in staging and "return 301" in staging
    assert "allow 10.0.0.0/8" in found["nginx server grafana-internal.example.com"][1]
    assert "location /: no auth_basic" in found["nginx server admin.example.com"][1]


@needs_nginx
def test_server_tokens_off_at_http_level_and_a_server_turning_it_back_on(
    tmp_path: Path,
) -> None:
    found = results(nginx_facts(write_config(tmp_path)), "WEB-002")
    assert found == {
        "nginx http server_tokens": (Status.PASS, "server_tokens off"),
        "nginx server monitoring.example.com server_tokens": (
            Status.FAIL,
            f"server_tokens build at {tmp_path}/sites/30-open.conf:7",
        ),
    }


@needs_nginx
def test_server_tokens_default_is_on(tmp_path: Path) -> None:
    found = results(nginx_facts(write_config(tmp_path, tokens="")), "WEB-002")
    assert found["nginx http server_tokens"] == (
        Status.FAIL,
        "server_tokens on (nginx's default is on)",
    )
    assert found["nginx server www.example.com server_tokens"][0] is Status.PASS


@needs_nginx
def test_a_broken_configuration_skips_with_nginx_s_message(tmp_path: Path) -> None:
    main = write_config(tmp_path, tokens="server_tokens off")  # no ';'
    facts = nginx_facts(main)
    with pytest.raises(Unavailable, match=r"^nginx -T failed: .*emerg"):
        facts.get("nginx")
    report = run_audit(facts, [c for c in load_checks() if c.meta.id.startswith("WEB-")])
    assert {f.status for f in report.findings} == {Status.SKIPPED}


def test_nginx_missing_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(Unavailable, match=r"is not installed$"):
        collect_nginx(nginx=str(tmp_path / "nginx"), internal_names=INTERNAL)


def test_internal_words_match_whole_labels_only() -> None:
    assert is_internal("staging.example.com", INTERNAL) == "staging"
    assert is_internal("grafana-internal.example.com", INTERNAL) == "grafana"
    assert is_internal("*.dev.example.com", INTERNAL) == "dev"
    assert is_internal("devices.example.com", INTERNAL) is None
    assert is_internal("badminton.example.com", INTERNAL) is None
    assert is_internal("php-my-admin.example.com", ("php-my-admin",)) == "php-my-admin"


def test_tokenizer_reads_quotes_escapes_and_comments() -> None:
    text = 'a "b c" \'d;e\' f\\;g; # x { y\nblock { inner "q\\"r"; }\n'
    directives = parse_directives(text, "t.conf")
    assert directives[0].args == ("b c", "d;e", "f\\;g")
    assert directives[1].name == "block" and directives[1].line == 2
    assert directives[1].block is not None
    assert directives[1].block[0].args == ('q"r',)
