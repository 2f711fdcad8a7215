"""Fail2ban's jails carried over into rampart's TOML.

The Debian package's own /etc/fail2ban first, then small configurations
written here (in rampart's words) for each rule: reading order, includes,
interpolation, actions, increments, notes, escaping and errors. Where
Fail2ban is installed, its own JailsReader reads the same folder and the
imported jails must say what it says (filter, logs, counts and times).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import tomllib
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rampart.ban.fail2ban_import import (
    ImportResult,
    duration_value,
    fail2ban_seconds,
    import_fail2ban,
    split_actions,
    toml_key,
    toml_string,
)
from rampart.cli import ban_import
from rampart.config import JailSettings, Settings, parse_networks, validate_settings
from rampart.errors import ConfigError, RampartError
from tests.conftest import run_rampart

FAIL2BAN_DIR = Path("/etc/fail2ban")
FAIL2BAN_LIB = Path("/usr/lib/python3/dist-packages")

needs_fail2ban_config = pytest.mark.skipif(
    not (FAIL2BAN_DIR / "jail.conf").is_file(),
    reason="Fail2ban's configuration is not installed (apt-get install fail2ban)",
)


def load(result: ImportResult) -> Settings:
    """The imported text as rampart reads it: TOML, then validation."""
    return validate_settings(tomllib.loads(result.toml), "imported")


def jail(result: ImportResult, name: str) -> JailSettings:
    return load(result).ban.jails[name]


def own_table(result: ImportResult, name: str) -> dict[str, Any]:
    """What the jail's own table says (before [ban.defaults] is merged in)."""
    table: dict[str, Any] = tomllib.loads(result.toml)["ban"]["jails"][name]
    return table


def write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return folder


def link_fail2ban_parts(folder: Path) -> None:
    """Let Fail2ban's own reader find its filters and actions from ``folder``."""
    for part in ("filter.d", "action.d"):
        if (FAIL2BAN_DIR / part).is_dir() and not (folder / part).exists():
            (folder / part).symlink_to(FAIL2BAN_DIR / part)


# -- Fail2ban's own reader as oracle -----------------------------------------------------


def _fail2ban_modules() -> tuple[Any, Any] | None:
    if not (FAIL2BAN_LIB / "fail2ban" / "client" / "jailsreader.py").is_file():
        return None
    added = str(FAIL2BAN_LIB) not in sys.path
    if added:
        sys.path.append(str(FAIL2BAN_LIB))
    try:
        with warnings.catch_warnings():  # Fail2ban imports modules Python 3.11 deprecates
            warnings.simplefilter("ignore", DeprecationWarning)
            reader = importlib.import_module("fail2ban.client.jailsreader").JailsReader
            my_time = importlib.import_module("fail2ban.server.mytime").MyTime
    finally:
        if added:  # keep Debian's packages from shadowing others in later tests
            sys.path.remove(str(FAIL2BAN_LIB))
    return reader, my_time


def fail2ban_jails(folder: Path) -> dict[str, dict[str, Any]] | None:
    """Each enabled jail's options as Fail2ban's client reads them; None without Fail2ban."""
    modules = _fail2ban_modules()
    if modules is None:
        return None
    reader = modules[0](basedir=str(folder))
    assert reader.read()
    reader.getOptions()
    return {
        found.getName(): dict(found.options)
        for found in reader.jails
        if not found.options.get("config-error")
    }


def assert_as_fail2ban_reads(folder: Path, result: ImportResult) -> None:
    """Every jail Fail2ban would start is imported with the same filter, logs and numbers."""
    theirs = fail2ban_jails(folder)
    if theirs is None:
        return
    seconds = _fail2ban_modules()[1].str2seconds  # type: ignore[index]
    ours = load(result).ban.jails
    assert set(ours) == set(theirs)
    for name, options in theirs.items():
        mine = ours[name]
        assert mine.filter == options["filter"], name
        assert mine.maxretry == options.get("maxretry", 3), name
        assert mine.findtime == seconds(options.get("findtime", "600")), name
        bantime = seconds(options.get("bantime", "600"))
        assert mine.bantime == (-1 if bantime < 0 else bantime), name
        if options["backend"].startswith("systemd"):
            assert mine.source == "journal", name
        else:
            expected = [line.strip() for line in options["logpath"].split("\n") if line.strip()]
            assert list(mine.logpath) == [p.removesuffix(" tail") for p in expected], name
        words = (options.get("ignoreip") or "").replace(",", " ").split()
        addresses = [w for w in words if not any(c.isalpha() for c in w.replace(":", ""))]
        assert mine.ignoreip == parse_networks(addresses), name


# -- the installed Debian configuration --------------------------------------------------


@needs_fail2ban_config
def test_debian_configuration_imports_sshd() -> None:
    result = import_fail2ban(FAIL2BAN_DIR)
    assert "sshd" in result.jails
    sshd = jail(result, "sshd")
    assert sshd.enabled
    assert sshd.filter == "sshd[mode=normal]"
    assert sshd.port == ((22, 22),) and sshd.protocol == "tcp" and sshd.action == "ban"
    # Debian's jail.conf: 5 failures in 10 minutes ban for 10 minutes, iptables.
    assert (sshd.maxretry, sshd.findtime, sshd.bantime) == (5, 600, 600)
    assert load(result).ban.backend == "iptables"
    if sshd.source == "journal":  # a host whose jail.local says backend = systemd
        assert sshd.logpath == ()
    else:
        assert sshd.source == "file" and sshd.logpath == ("/var/log/auth.log",)
        if not Path("/var/log/auth.log").exists():
            assert any("/var/log/auth.log: no such file" in n for n in result.notes)
    assert result.toml.startswith("# rampart configuration: Fail2ban's jails in /etc/fail2ban")
    assert_as_fail2ban_reads(FAIL2BAN_DIR, result)


@needs_fail2ban_config
def test_every_stock_jail_enabled_reads_as_fail2ban_reads_it(tmp_path: Path) -> None:
    """All of Debian's jail.conf at once: 90 jails, their includes, actions and overrides."""
    for entry in FAIL2BAN_DIR.iterdir():
        if entry.name != "jail.local":
            (tmp_path / entry.name).symlink_to(entry)
    write(tmp_path, {"jail.local": "[DEFAULT]\nenabled = true\n"})
    result = import_fail2ban(tmp_path)
    assert len(result.jails) > 80
    settings = load(result)
    assert_as_fail2ban_reads(tmp_path, result)
    jails = settings.ban.jails
    assert jails["recidive"].port is None  # banaction_allports: every port
    assert jails["recidive"].bantime == 7 * 86400
    assert jails["nsd"].protocol == "all"  # one tcp and one udp action
    assert jails["postfix"].filter == "postfix[mode=more]"
    assert jails["vsftpd"].port == ((20, 20), (21, 21), (989, 989), (990, 990))  # ftp-data: 20
    assert "apache-fakegooglebot" in result.toml
    assert any(n.startswith("jail apache-fakegooglebot: ignorecommand =") for n in result.notes)


# -- synthetic configurations ----------------------------------------------------------

LAYERED = {
    "paths-here.conf": (
        "[DEFAULT]\nsecure_log = /srv/logs/secure.log\nmail_log = /srv/logs/mail.log\n"
    ),
    "jail.conf": (
        "[INCLUDES]\n"
        "before = paths-here.conf\n"
        "\n"
        "[DEFAULT]\n"
        "enabled = false\n"
        "bantime = 1h\n"
        "findtime = 15m\n"
        "maxretry = 4\n"
        "backend = polling\n"
        "mode = normal\n"
        "filter = %(__name__)s[mode=%(mode)s]\n"
        "protocol = tcp\n"
        "port = 0:65535\n"
        "banaction = iptables-multiport\n"
        'action_ = %(banaction)s[port="%(port)s", protocol="%(protocol)s"]\n'
        "action = %(action_)s\n"
        "\n"
        "[sshd]\n"
        "port = ssh\n"
        "logpath = %(secure_log)s\n"
        "\n"
        "[nginx-http-auth]\n"
        "port = http,https\n"
        "logpath = /srv/web/error.log\n"
        "          /srv/web/vhosts-error.log tail\n"
        "\n"
        "[postfix]\n"
        "mode = aggressive\n"
        "port = smtp,submission\n"
        "logpath = %(mail_log)s\n"
    ),
    # jail.d/*.conf come before jail.local, jail.d/*.local after it.
    "jail.d/50-tuning.conf": "[sshd]\nmaxretry = 10\nbantime = 2h\n",
    "jail.local": (
        "[DEFAULT]\n"
        "ignoreip = 127.0.0.1/8 ::1, 192.0.2.0/24\n"
        "           office.example.org\n"
        "\n"
        "[sshd]\n"
        "enabled = true\n"
        "maxretry = 3\n"
        "\n"
        "[postfix]\n"
        "enabled = true\n"
    ),
    "jail.d/web.local": (
        "[nginx-http-auth]\nenabled = yes\nfindtime = 1d\n\n[postfix]\nenabled = no\n"
    ),
}


@pytest.fixture
def layered(tmp_path: Path) -> Iterator[Path]:
    write(tmp_path, LAYERED)
    link_fail2ban_parts(tmp_path)
    yield tmp_path


def test_layers_includes_and_interpolation(layered: Path) -> None:
    result = import_fail2ban(layered)
    assert result.jails == ("sshd", "nginx-http-auth")  # postfix: disabled again last
    sshd = jail(result, "sshd")
    assert sshd.filter == "sshd[mode=normal]"
    assert sshd.logpath == ("/srv/logs/secure.log",)  # %(secure_log)s from the include
    assert sshd.source == "file"
    assert sshd.maxretry == 3  # jail.local over jail.d/*.conf over jail.conf
    assert sshd.bantime == 7200  # jail.d/50-tuning.conf over jail.conf
    assert sshd.findtime == 900
    assert sshd.port == ((22, 22),)
    web = jail(result, "nginx-http-auth")
    assert web.filter == "nginx-http-auth[mode=normal]"
    assert web.logpath == ("/srv/web/error.log", "/srv/web/vhosts-error.log")
    assert web.findtime == 86400 and web.port == ((80, 80), (443, 443))
    assert load(result).ban.backend == "iptables"
    assert_as_fail2ban_reads(layered, result)


def test_defaults_hold_default_and_jails_only_what_differs(layered: Path) -> None:
    result = import_fail2ban(layered)
    data = tomllib.loads(result.toml)
    assert data["ban"]["defaults"] == {
        "maxretry": 4,
        "findtime": "15m",
        "bantime": "1h",
        "ignoreip": ["127.0.0.1/8", "::1", "192.0.2.0/24"],
        "ignoreself": True,
    }
    assert own_table(result, "sshd") == {
        "enabled": True,
        "filter": "sshd[mode=normal]",
        "source": "file",
        "logpath": ["/srv/logs/secure.log"],
        "maxretry": 3,
        "bantime": "2h",
        "port": "ssh",
        "protocol": "tcp",
        "action": "ban",
    }
    assert "findtime" in own_table(result, "nginx-http-auth")
    assert jail(result, "sshd").ignoreip == ("127.0.0.0/8", "::1/128", "192.0.2.0/24")


def test_host_names_in_ignoreip_and_missing_logs_are_noted(layered: Path) -> None:
    result = import_fail2ban(layered)
    host_notes = [n for n in result.notes if "office.example.org" in n]
    assert len(host_notes) == 1 and host_notes[0].startswith("[DEFAULT]: ignoreip host names")
    assert "jail sshd: logpath /srv/logs/secure.log: no such file on this host" in "\n".join(
        result.notes
    )
    # Each note also sits in the TOML, as a comment in its table.
    assert "# not carried over: ignoreip host names office.example.org" in result.toml
    table_start = result.toml.index("[ban.jails.sshd]")
    assert "# not carried over: logpath /srv/logs/secure.log" in result.toml[table_start:]


def test_known_values_and_a_later_override(tmp_path: Path) -> None:
    """``%(known/x)s`` is the value a section had before a later file replaced it."""
    write(
        tmp_path,
        {
            "jail.conf": "[sshd]\nfilter = sshd\nlogpath = /a.log\nignoreip = 192.0.2.9\n",
            "jail.local": "[sshd]\nenabled = true\nignoreip = %(known/ignoreip)s 198.51.100.7\n",
        },
    )
    result = import_fail2ban(tmp_path)
    assert jail(result, "sshd").ignoreip == ("192.0.2.9/32", "198.51.100.7/32")
    link_fail2ban_parts(tmp_path)
    assert_as_fail2ban_reads(tmp_path, result)


def test_an_existing_log_is_not_noted(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "auth.log"
    log.parent.mkdir()
    log.write_text("")
    write(tmp_path, {"jail.local": f"[sshd]\nenabled = true\nfilter = sshd\nlogpath = {log}\n"})
    result = import_fail2ban(tmp_path)
    assert not [n for n in result.notes if "logpath" in n]
    assert jail(result, "sshd").logpath == (str(log),)


def test_fail2ban_builtin_values_fill_what_no_file_sets(tmp_path: Path) -> None:
    write(tmp_path, {"jail.local": "[sshd]\nenabled = true\nfilter = sshd\nlogpath = /x.log\n"})
    result = import_fail2ban(tmp_path)
    sshd = jail(result, "sshd")
    assert (sshd.maxretry, sshd.findtime, sshd.bantime, sshd.ignoreself) == (3, 600, 600, True)
    assert sshd.action == "log"  # no action at all: Fail2ban only detects
    assert any("no action bans through the firewall" in n for n in result.notes)


MAIL_AND_MORE = {
    "jail.conf": (
        "[DEFAULT]\n"
        "port = 0:65535\n"
        "protocol = tcp\n"
        "banaction = nftables-multiport\n"
        "banaction_allports = nftables-allports\n"
        "mta = sendmail\n"
        'action_ = %(banaction)s[port="%(port)s", protocol="%(protocol)s"]\n'
        "action_mw = %(action_)s\n"
        '            %(mta)s-whois[name=%(__name__)s, dest="admin@example.org"]\n'
        "action = %(action_)s\n"
        "filter = %(__name__)s\n"
        "\n"
        "[sshd]\n"
        "enabled = true\n"
        "port = ssh,2222\n"
        "logpath = /srv/auth.log\n"
        "action = %(action_mw)s\n"
        "\n"
        "[recidive]\n"
        "enabled = true\n"
        "logpath = /srv/fail2ban.log\n"
        "banaction = %(banaction_allports)s\n"
        "bantime = 1w\n"
        "findtime = 1d\n"
        "\n"
        "[nginx-http-auth]\n"
        "enabled = true\n"
        "logpath = /srv/nginx-error.log\n"
        'action = cloudflare[cfuser="me@example.org", cftoken="secret"]\n'
        "         abuseipdb\n"
    ),
}


def test_actions_ban_ports_and_notes(tmp_path: Path) -> None:
    write(tmp_path, MAIL_AND_MORE)
    link_fail2ban_parts(tmp_path)
    result = import_fail2ban(tmp_path)
    settings = load(result)
    assert settings.ban.backend == "nftables"
    sshd = settings.ban.jails["sshd"]
    assert sshd.action == "ban" and sshd.port == ((22, 22), (2222, 2222))
    assert "jail sshd: action sendmail-whois: e-mail alerts" in "\n".join(result.notes)
    assert settings.ban.jails["recidive"].port is None  # allports
    assert settings.ban.jails["recidive"].bantime == 7 * 86400
    web = settings.ban.jails["nginx-http-auth"]
    assert web.action == "log"  # nothing of its own bans through the firewall
    web_notes = [n for n in result.notes if n.startswith("jail nginx-http-auth:")]
    assert any("action cloudflare:" in n for n in web_notes)
    assert any("action abuseipdb:" in n for n in web_notes)
    assert "secret" not in result.toml  # action options are not copied into the output
    assert_as_fail2ban_reads(tmp_path, result)


def test_iptables_banaction_chooses_the_iptables_backend(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "jail.local": (
                "[DEFAULT]\nbanaction = iptables-multiport\n"
                'action = %(banaction)s[port="%(port)s", protocol="%(protocol)s"]\n'
                "port = 0:65535\nprotocol = tcp\n"
                "[sshd]\nenabled = true\nfilter = sshd\nport = ssh\nlogpath = /a.log\n"
            )
        },
    )
    assert load(import_fail2ban(tmp_path)).ban.backend == "iptables"


def test_a_bare_action_uses_its_own_default_port(tmp_path: Path) -> None:
    """Fail2ban does not hand the jail's port to an action named without options."""
    write(
        tmp_path,
        {
            "jail.local": (
                "[sshd]\nenabled = 1\nfilter = sshd\nlogpath = /a.log\n"
                "port = http\naction = iptables-multiport\n"
            ),
            "action.d/iptables-multiport.conf": "[Init]\nport = 2200\n",
        },
    )
    assert jail(import_fail2ban(tmp_path), "sshd").port == ((2200, 2200),)


INCREMENT = {
    "jail.local": (
        "[DEFAULT]\n"
        "bantime = 10m\n"
        "bantime.increment = true\n"
        "bantime.factor = 2\n"
        "bantime.multipliers = 1 2 4 8\n"
        "bantime.maxtime = 5w\n"
        "banaction = nftables\n"
        "action = %(banaction)s\n"
        "\n"
        "[sshd]\n"
        "enabled = true\n"
        "filter = sshd\n"
        "logpath = /srv/auth.log\n"
        "\n"
        "[postfix]\n"
        "enabled = true\n"
        "filter = postfix\n"
        "logpath = /srv/mail.log\n"
        "bantime.multipliers =\n"
        "bantime.formula = ban.Time * math.exp(float(ban.Count+1)*banFactor)/math.exp(banFactor)\n"
        "bantime.rndtime = 30m\n"
        "bantime.overalljails = true\n"
    ),
}


def test_bantime_increment(tmp_path: Path) -> None:
    write(tmp_path, INCREMENT)
    result = import_fail2ban(tmp_path)
    defaults = tomllib.loads(result.toml)["ban"]["defaults"]["increment"]
    # Fail2ban multiplies the multipliers by the factor; rampart's multipliers say it all.
    assert defaults == {"enabled": True, "multipliers": [2, 4, 8, 16], "maxtime": "5w"}
    sshd = jail(result, "sshd")
    assert sshd.increment.enabled and sshd.increment.multipliers == (2, 4, 8, 16)
    assert sshd.increment.maxtime == 5 * 7 * 86400
    postfix = jail(result, "postfix")
    assert postfix.increment.multipliers == () and postfix.increment.factor == 2
    assert own_table(result, "postfix")["increment"] == {"factor": 2, "multipliers": []}
    notes = "\n".join(n for n in result.notes if n.startswith("jail postfix:"))
    assert "bantime.formula = ban.Time * math.exp" in notes
    assert "bantime.rndtime = 30m" in notes
    assert "bantime.overalljails = true" in notes
    assert not [n for n in result.notes if n.startswith("jail sshd:") and "bantime" in n]


def test_increment_without_maxtime_is_noted(tmp_path: Path) -> None:
    jail_local = "[sshd]\nenabled = true\nfilter = sshd\nlogpath = /a\nbantime.increment = true\n"
    write(tmp_path, {"jail.local": jail_local})
    result = import_fail2ban(tmp_path)
    assert jail(result, "sshd").increment.enabled
    assert any("bantime.maxtime is not set" in n for n in result.notes)


def test_journal_backend(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "jail.local": (
                "[sshd]\nenabled = true\nfilter = sshd[mode=aggressive]\nbackend = systemd\n"
                "logpath = /ignored/by/the/journal.log\n"
                "journalmatch = _SYSTEMD_UNIT=ssh.service + _COMM=sshd\n"
                "[postfix]\nenabled = true\nfilter = postfix\nbackend = systemd\n"
            )
        },
    )
    result = import_fail2ban(tmp_path)
    sshd = jail(result, "sshd")
    assert sshd.source == "journal" and sshd.logpath == ()
    assert sshd.journalmatch == ("_SYSTEMD_UNIT=ssh.service", "+", "_COMM=sshd")
    assert sshd.filter == "sshd[mode=aggressive]"
    postfix = jail(result, "postfix")
    assert postfix.source == "journal" and postfix.journalmatch is None  # the filter's
    assert not [n for n in result.notes if "logpath" in n]


def test_settings_rampart_has_no_counterpart_for(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "jail.local": (
                "[DEFAULT]\nusedns = no\n"
                "[sshd]\nenabled = true\nfilter = sshd\nlogpath = /a.log\n"
                "maxlines = 5\ndatepattern = ^%%Y-%%m-%%d\nlogencoding = latin-1\n"
                "ignorecommand = /usr/local/bin/is-friend <ip>\n"
            )
        },
    )
    result = import_fail2ban(tmp_path)
    notes = "\n".join(result.notes)
    assert "[DEFAULT]: usedns = no" in notes  # said once, not once per jail
    assert "jail sshd: usedns" not in notes
    assert "jail sshd: maxlines = 5 overrides the filter" in notes
    assert "jail sshd: datepattern = ^%Y-%m-%d overrides the filter" in notes
    assert "jail sshd: logencoding = latin-1" in notes
    assert "jail sshd: ignorecommand = /usr/local/bin/is-friend <ip>" in notes


def test_invalid_values_are_left_out_with_a_note(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "jail.local": (
                "[sshd]\nenabled = true\nfilter = sshd\nlogpath = relative/auth.log\n"
                "          /srv/auth.log\n"
                "maxretry = 0\nfindtime = soon\nbantime = 30 minutes\n"
                "port = ssh,no-such-service-here,99999\n"
                "protocol = sctp\n"
                'action = iptables-multiport[port="%(port)s", protocol="%(protocol)s"]\n'
            )
        },
    )
    result = import_fail2ban(tmp_path)
    table = own_table(result, "sshd")
    assert "maxretry" not in table and "findtime" not in table
    assert table["bantime"] == "30m"
    assert table["logpath"] == ["/srv/auth.log"]
    assert table["port"] == "ssh" and table["protocol"] == "all"
    notes = "\n".join(result.notes)
    assert "jail sshd: maxretry = 0:" in notes
    assert "jail sshd: findtime = soon: not a time" in notes
    assert "jail sshd: logpath relative/auth.log: not an absolute path" in notes
    assert "port no-such-service-here" in notes and "port 99999" in notes
    assert "protocol sctp" in notes


def test_jails_that_cannot_be_imported(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "jail.local": (
                "[web.site]\nenabled = true\nfilter = nginx-http-auth\nlogpath = /a.log\n"
                "[web:site]\nenabled = true\nfilter = nginx-http-auth\nlogpath = /b.log\n"
                "[typo]\nenabled = ture\nfilter = sshd\n"
                "[nofilter]\nenabled = true\nfilter =\n"
                "[badaction]\nenabled = true\nfilter = sshd\naction = iptables[port=\n"
            )
        },
    )
    result = import_fail2ban(tmp_path)
    assert result.jails == ("web-site",)
    notes = "\n".join(result.notes)
    assert "jail web.site: imported as web-site" in notes
    assert "jail web:site: not imported: rampart cannot use its name" in notes
    assert "jail typo: enabled = ture is not a yes/no value" in notes
    assert "jail nofilter: not imported: it names no filter" in notes
    assert "jail badaction: not imported: action iptables[port= cannot be parsed" in notes


def test_no_enabled_jail_gives_an_empty_jail_table(tmp_path: Path) -> None:
    write(tmp_path, {"jail.conf": "[sshd]\nenabled = false\nfilter = sshd\n"})
    result = import_fail2ban(tmp_path)
    assert result.jails == ()
    assert load(result).ban.jails == {}  # not rampart's default sshd jail
    assert any("no jail was imported" in n for n in result.notes)


def test_escaping_round_trips(tmp_path: Path) -> None:
    odd_log = '/srv/we"ird\\logs/a\tb "quoted".log'
    write(
        tmp_path,
        {
            "jail.local": (
                "[sshd]\nenabled = true\n"
                'filter = sshd[mode="normal", note="a \\ b"]\n'
                f"logpath = {odd_log}\n"
                "ignoreip = 192.0.2.1 bad\\name\n"
            )
        },
    )
    result = import_fail2ban(tmp_path)
    sshd = jail(result, "sshd")
    assert sshd.filter == 'sshd[mode="normal", note="a \\ b"]'
    assert sshd.logpath == (odd_log,)
    assert "bad\\name" in "\n".join(result.notes)


@pytest.mark.parametrize(
    "text",
    ["plain", 'a "quoted" word', "back\\slash", "new\nline", "tab\there", "\x00\x1f\x7f", "é ü 字"],
)
def test_toml_strings(text: str) -> None:
    assert tomllib.loads(f"v = {toml_string(text)}\n")["v"] == text
    key = toml_key(text)
    assert tomllib.loads(f"{key} = 1\n") == {text: 1}


def test_notes_with_control_characters_stay_comments(tmp_path: Path) -> None:
    folder = tmp_path / "odd\nname"
    write(folder, {"jail.local": "[sshd]\nenabled = true\nfilter = sshd\nlogpath = /x\x7fy\n"})
    result = import_fail2ban(folder)
    assert tomllib.loads(result.toml)["ban"]["jails"]["sshd"]["logpath"] == ["/x\x7fy"]
    assert all(
        line.startswith("#") or "=" in line or line.startswith("[") or not line
        for line in result.toml.splitlines()
    )


# -- values ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("600", 600),
        ("10m", 600),
        ("1h", 3600),
        ("1h 30m", 5400),
        ("1d12h", 129600),
        ("2 hours", 7200),
        ("90min", 5400),
        ("1w", 604800),
        ("1mo", 2629800),
        ("1y", 31557600),
        ("-1", -1),
        ("1.5", 1.5),
    ],
)
def test_fail2ban_times(text: str, seconds: float) -> None:
    assert fail2ban_seconds(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "10x", "1h-", "nan", "inf", "1year-6mo"])
def test_times_rampart_cannot_read(text: str) -> None:
    with pytest.raises(ValueError, match="not a time"):
        fail2ban_seconds(text)


@pytest.mark.parametrize(
    ("seconds", "value"),
    [(-1, -1), (-5, -1), (45, 45), (600, "10m"), (5400, "1h30m"), (604800, "1w"), (1.5, 1.5)],
)
def test_durations_written(seconds: float, value: object) -> None:
    assert duration_value(seconds) == value


def test_action_entries_split_as_fail2ban_splits_them() -> None:
    text = (
        'iptables-multiport[port="ssh", protocol="tcp"]\n'
        '  sendmail-whois[dest="a b@example.org", note="x] y"]\n'
        "abuseipdb\n"
        "nftables [port=ssh][blocktype=drop,\n   other=1]"
    )
    assert split_actions(text) == [
        'iptables-multiport[port="ssh", protocol="tcp"]',
        'sendmail-whois[dest="a b@example.org", note="x] y"]',
        "abuseipdb",
        "nftables[port=ssh][blocktype=drop,\n   other=1]",
    ]


# -- errors ----------------------------------------------------------------------------


def one_line_error(folder: Path) -> str:
    with pytest.raises(ConfigError) as raised:
        import_fail2ban(folder)
    message = str(raised.value)
    assert "\n" not in message
    return message


def test_a_missing_folder_is_one_line(tmp_path: Path) -> None:
    assert one_line_error(tmp_path / "absent") == (
        f"{tmp_path / 'absent'}: no such directory (give Fail2ban's folder, e.g. /etc/fail2ban)"
    )


def test_a_folder_without_jail_files(tmp_path: Path) -> None:
    assert "no jail.conf, jail.local or jail.d/*.conf" in one_line_error(tmp_path)


def test_broken_files_are_named(tmp_path: Path) -> None:
    write(tmp_path, {"jail.conf": "enabled = true\n"})
    assert one_line_error(tmp_path).startswith(f"{tmp_path / 'jail.conf'}:1: option outside")
    (tmp_path / "jail.conf").write_text("[sshd]\nenabled = true\nfilter = %(nothing)s\n")
    message = one_line_error(tmp_path)
    assert message.startswith(f"{tmp_path / 'jail.conf'}: [sshd] filter")
    assert "%(nothing)s is not defined" in message
    (tmp_path / "jail.conf").write_text("[INCLUDES]\nbefore = gone.conf\n")
    assert "gone.conf" in one_line_error(tmp_path)


def test_an_unreadable_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "jail.local").mkdir()
    assert one_line_error(tmp_path).startswith(f"{tmp_path / 'jail.local'}: cannot read")


def test_a_disabled_jail_may_be_broken(tmp_path: Path) -> None:
    """Only what an enabled jail uses must resolve (Fail2ban reads no further either)."""
    write(tmp_path, {"jail.conf": "[old]\nenabled = false\naction = %(nothing)s\n"})
    assert import_fail2ban(tmp_path).jails == ()


# -- the command -----------------------------------------------------------------------


def run_command(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``rampart ban ARGV`` through the subcommand's own parser and handler."""
    parser = argparse.ArgumentParser(prog="rampart ban")
    ban_import.register(parser.add_subparsers(dest="ban_command", required=True))
    args = parser.parse_args(argv)
    try:
        code: int = args.handler(args)
    except RampartError as error:
        print(f"rampart: error: {error}", file=sys.stderr)
        code = 2
    out, err = capsys.readouterr()
    return code, out, err


def test_command_prints_toml_and_notes(layered: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_command(["import-fail2ban", str(layered)], capsys)
    assert code == 0
    assert out == import_fail2ban(layered).toml
    lines = err.splitlines()
    assert lines and all(line.startswith("rampart: not carried over: ") for line in lines)
    assert any("office.example.org" in line for line in lines)


def test_command_json(layered: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_command(["import-fail2ban", str(layered), "--json"], capsys)
    record = json.loads(out)
    assert code == 0 and err == ""
    assert list(record) == ["jails", "notes", "toml"]
    assert record["jails"] == ["sshd", "nginx-http-auth"]
    assert record["toml"] == import_fail2ban(layered).toml


def test_command_output_file(
    layered: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "out" / "rampart.toml"
    target.parent.mkdir()
    code, out, err = run_command(["import-fail2ban", str(layered), "-o", str(target)], capsys)
    assert code == 0 and out == ""
    assert f"rampart: wrote {target} (sshd, nginx-http-auth)" in err
    assert target.read_text() == import_fail2ban(layered).toml
    assert target.stat().st_mode & 0o777 == 0o644
    assert os.listdir(target.parent) == ["rampart.toml"]  # no temporary file left
    target.write_text("# mine\n")
    code, _, err = run_command(["import-fail2ban", str(layered), "-o", str(target)], capsys)
    assert code == 2 and "exists already; add --force" in err
    assert target.read_text() == "# mine\n"
    code, _, _ = run_command(
        ["import-fail2ban", str(layered), "-o", str(target), "--force"], capsys
    )
    assert code == 0 and target.read_text() == import_fail2ban(layered).toml


def test_command_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_command(["import-fail2ban", str(tmp_path / "absent")], capsys)
    assert (code, out) == (2, "")
    assert err.startswith(f"rampart: error: {tmp_path / 'absent'}: no such directory")
    assert err.count("\n") == 1
    code, _, err = run_command(["import-fail2ban", str(tmp_path), "--force"], capsys)
    assert code == 2 and "--force only goes with --output" in err


def test_the_rampart_command_when_wired(layered: Path) -> None:
    if "import-fail2ban" not in run_rampart(["ban", "--help"]).stdout:
        pytest.skip("cli/ban.py does not register import-fail2ban yet")
    done = run_rampart(["ban", "import-fail2ban", str(layered)])
    assert done.returncode == 0, done.stderr
    assert done.stdout == import_fail2ban(layered).toml
    assert "rampart: not carried over: [DEFAULT]: ignoreip host names" in done.stderr
