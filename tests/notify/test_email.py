"""E-mail alerts against a real SMTP server: at once, digests, the hourly cap, down then up."""

import json
from pathlib import Path

from tests.notify.conftest import (
    Certificate,
    SmtpServer,
    email_config,
    event,
    make_dispatcher,
)

T0 = 1_800_000_000.0


def test_only_alerts_at_min_level_are_stored_and_written_as_json_lines(
    smtp: SmtpServer, tmp_path: Path
) -> None:
    smtp.start()
    with make_dispatcher({"min_level": 3, "email": email_config(smtp.port)}, tmp_path) as alerts:
        assert alerts.publish(event(2), now=T0) is None
        first = alerts.publish(event(3), now=T0)
        second = alerts.publish(event(6, rule_id=5712), now=T0)
        stored = alerts.store.alerts()
        pending = alerts.store.pending()
    assert [a.id for a in stored] == [first, second]
    assert stored[1].event.rule_id == 5712
    assert stored[1].event.fields["srcip"] == "198.51.100.7"
    assert pending == {"email": 1}  # level 3 is below the e-mail's minimum of 5
    lines = [json.loads(line) for line in (tmp_path / "alerts.json").read_text().splitlines()]
    assert [(line["id"], line["level"]) for line in lines] == [(first, 3), (second, 6)]
    assert (tmp_path / "alerts.json").stat().st_mode & 0o777 == 0o600
    assert smtp.inbox.messages == []  # nothing urgent: it waits for the digest


def test_an_urgent_alert_is_mailed_at_once_with_a_safe_subject(
    smtp: SmtpServer, tmp_path: Path
) -> None:
    smtp.start()
    crafted = "root login\r\nBcc: victim@example.com"
    with make_dispatcher({"email": email_config(smtp.port)}, tmp_path) as alerts:
        alerts.publish(event(12, description=crafted), now=T0)
        assert alerts.store.pending() == {}
    [message] = smtp.inbox.messages
    assert "Bcc" not in message
    assert "\n" not in str(message["Subject"]) and "\r" not in str(message["Subject"])
    assert str(message["Subject"]).startswith("[rampart] ")
    assert "level 12" in str(message["Subject"])
    assert smtp.inbox.envelopes == [("rampart@example.org", ["ops@example.org"])]
    assert "srcip: 198.51.100.7" in smtp.inbox.bodies()[0]


def test_other_alerts_wait_for_one_digest_per_interval(smtp: SmtpServer, tmp_path: Path) -> None:
    smtp.start()
    with make_dispatcher({"email": email_config(smtp.port)}, tmp_path) as alerts:
        for number in range(3):
            alerts.publish(event(7, rule_id=5710 + number), now=T0 + number)
        alerts.flush(T0 + 300)
        assert smtp.inbox.messages == []  # 10 minutes have not passed yet
        alerts.flush(T0 + 600)
        assert len(smtp.inbox.messages) == 1
        alerts.publish(event(7), now=T0 + 700)
        alerts.flush(T0 + 900)  # the next digest is due 10 minutes after the last one
        assert len(smtp.inbox.messages) == 1
        alerts.flush(T0 + 1300)
    assert len(smtp.inbox.messages) == 2
    first, second = smtp.inbox.bodies()
    assert "3 alert(s)" in first and "rule 5711" in first and "rule 5712" in first
    assert "digest of 3 alert(s), highest level 7" in smtp.inbox.subjects()[0]
    assert "1 alert(s)" in second


def test_the_hourly_cap_holds_alerts_for_the_digest_and_loses_none(
    smtp: SmtpServer, tmp_path: Path
) -> None:
    smtp.start()
    config = email_config(smtp.port, max_per_hour=2, immediate_level=10)
    with make_dispatcher({"email": config}, tmp_path) as alerts:
        for number in range(5):
            alerts.publish(event(10, rule_id=5800 + number), now=T0 + number)
        assert len(smtp.inbox.messages) == 2  # the cap
        assert alerts.store.pending() == {"email": 3}
        alerts.flush(T0 + 610)  # the oldest held alert, stored at T0 + 2, has waited 10 min
        assert alerts.store.pending() == {}
    assert len(smtp.inbox.messages) == 3
    digest = smtp.inbox.bodies()[2]
    assert "3 of them reached the limit of 2 e-mails per hour" in digest
    for rule_id in (5802, 5803, 5804):
        assert f"rule {rule_id}" in digest


def test_a_server_that_is_down_delays_the_alert_and_a_restart_resumes(
    smtp: SmtpServer, tmp_path: Path
) -> None:
    config = {"email": email_config(smtp.port), "retry_min": 60, "retry_max": 600}
    with make_dispatcher(config, tmp_path) as alerts:  # nothing listens on the port yet
        alerts.publish(event(13), now=T0)
        state = alerts.store.channel_state("email")
        assert alerts.store.pending() == {"email": 1}
        assert state.failures == 1 and state.next_try == T0 + 60
        assert "SMTP 127.0.0.1" in state.last_error
        alerts.flush(T0 + 60)  # still down: the wait doubles
        assert alerts.store.channel_state("email").next_try == T0 + 180
    smtp.start()
    with make_dispatcher(config, tmp_path) as alerts:  # a new process: the queue is on disk
        alerts.flush(T0 + 100)  # backing off: not yet
        assert smtp.inbox.messages == []
        alerts.flush(T0 + 180)
        assert alerts.store.pending() == {}
        assert alerts.store.channel_state("email").failures == 0
    [message] = smtp.inbox.messages
    assert "level 13" in str(message["Subject"])


def test_login_with_a_password_from_a_file_and_a_wrong_one_is_never_shown(
    smtp: SmtpServer, tmp_path: Path
) -> None:
    smtp.start(password="right-horse-battery")  # noqa: S106 (the test server's)
    secret = tmp_path / "password"
    secret.write_text("right-horse-battery\n")
    config = {"email": email_config(smtp.port, username="rampart", password_file=str(secret))}
    with make_dispatcher(config, tmp_path / "a") as alerts:
        alerts.publish(event(12), now=T0)
    assert len(smtp.inbox.messages) == 1
    secret.write_text("wrong-staple\n")
    with make_dispatcher(config, tmp_path / "b") as alerts:
        alerts.publish(event(12), now=T0)
        error = alerts.store.channel_state("email").last_error
    assert "535" in error and "wrong-staple" not in error
    assert len(smtp.inbox.messages) == 1


def test_while_another_process_delivers_a_flush_sends_nothing(
    smtp: SmtpServer, tmp_path: Path
) -> None:
    import fcntl
    import os

    smtp.start()
    with make_dispatcher({"email": email_config(smtp.port)}, tmp_path) as alerts:
        alerts.publish(event(7), now=T0)
        lock = os.open(tmp_path / "alerts.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)  # as `rampart alerts send` in another process
            alerts.flush(T0 + 600)
            assert smtp.inbox.messages == []
        finally:
            os.close(lock)
        alerts.flush(T0 + 600)
    assert len(smtp.inbox.messages) == 1


def test_starttls_and_ssl_verify_the_server_certificate(
    smtp: SmtpServer, certificate: Certificate, tmp_path: Path
) -> None:
    smtp.start(tls_context=certificate.server_context(), require_starttls=True)
    trusted = email_config(smtp.port, security="starttls", ca_file=str(certificate.cert))
    with make_dispatcher({"email": trusted}, tmp_path / "a") as alerts:
        alerts.publish(event(12), now=T0)
        assert alerts.store.pending() == {}
    assert len(smtp.inbox.messages) == 1
    untrusted = email_config(smtp.port, security="starttls")  # the system's CAs do not sign it
    with make_dispatcher({"email": untrusted}, tmp_path / "b") as alerts:
        alerts.publish(event(12), now=T0)
        assert alerts.store.pending() == {"email": 1}
        assert "CERTIFICATE_VERIFY_FAILED" in alerts.store.channel_state("email").last_error
    assert len(smtp.inbox.messages) == 1
    smtp.stop()

    smtp.start(ssl_context=certificate.server_context())
    implicit = email_config(smtp.port, security="ssl", ca_file=str(certificate.cert))
    with make_dispatcher({"email": implicit}, tmp_path / "c") as alerts:
        alerts.publish(event(12), now=T0)
        assert alerts.store.pending() == {}
    assert len(smtp.inbox.messages) == 2


def test_starttls_refused_by_the_server_never_falls_back_to_plain_text(
    smtp: SmtpServer, tmp_path: Path
) -> None:
    smtp.start()  # offers no STARTTLS
    config = email_config(smtp.port, security="starttls")
    with make_dispatcher({"email": config}, tmp_path) as alerts:
        alerts.publish(event(12), now=T0)
        assert "STARTTLS" in alerts.store.channel_state("email").last_error
    assert smtp.inbox.messages == []


def test_prune_forgets_old_delivered_alerts_and_keeps_queued_ones(tmp_path: Path) -> None:
    from tests.notify.conftest import free_port

    config = {"email": email_config(free_port())}  # nothing listens: e-mail stays queued
    with make_dispatcher(config, tmp_path) as alerts:
        alerts.publish(event(3), now=T0)  # below the e-mail's level: nothing to deliver
        alerts.publish(event(7), now=T0)  # queued for the digest
        alerts.publish(event(3), now=T0 + 86400)  # recent
        assert alerts.store.prune(T0 + 3600) == 1
        assert [a.event.level for a in alerts.store.alerts()] == [7, 3]
        assert alerts.store.pending() == {"email": 1}
