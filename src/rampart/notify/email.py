"""Alerts by e-mail: the worst at once, the rest in digests, never more than a cap per hour.

Alert floods were the top complaint about OSSEC's mail: here an alert at or
above ``immediate_level`` is mailed at the next flush, the others wait for a
digest every ``digest_interval``, and once ``max_per_hour`` messages went out
in the last hour, immediate alerts are held for the next digest (counted
there, never dropped). Digests always go out: they are what the cap protects.
"""

import smtplib
import socket
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from rampart.config import EmailSettings
from rampart.errors import ConfigError
from rampart.hids.event import Event
from rampart.notify.interface import Channel, DeliveryError
from rampart.notify.store import AlertStore, StoredAlert
from rampart.notify.text import block, digest_body, one_line

CHANNEL = "email"
HOUR = 3600.0


class EmailChannel(Channel):
    """E-mail through one SMTP server (plain, STARTTLS or SSL; login if configured)."""

    def __init__(self, settings: EmailSettings, password: str | None) -> None:
        self.settings = settings
        self.password = password
        self.name = CHANNEL
        self.min_level = settings.min_level
        self.host = socket.gethostname()
        self.tls = _tls(settings) if settings.security != "none" else None

    def immediate(self, event: Event) -> bool:
        return event.level >= self.settings.immediate_level

    def deliver(self, store: AlertStore, now: float) -> None:
        cap = self.settings.max_per_hour
        sent = store.messages_since(self.name, now - HOUR)
        urgent = store.queued(self.name, immediate=True)
        for index, alert in enumerate(urgent):
            if sent >= cap:
                store.mark_capped(self.name, [a.id for a in urgent[index:]])
                break
            self.send(self.alert_message(alert))
            store.mark_sent(self.name, [alert.id], now)
            store.record_message(self.name, now)
            sent += 1
        waiting = store.queued(self.name, immediate=False)
        if not waiting:
            return
        last = store.channel_state(self.name).last_digest
        oldest = min(alert.stored_at for alert in waiting)
        if now < max(last, oldest) + self.settings.digest_interval:
            return
        self.send(self.digest_message(waiting, last))
        store.mark_sent(self.name, [a.id for a in waiting], now)
        store.record_message(self.name, now)
        store.digest_sent(self.name, now)

    def alert_message(self, alert: StoredAlert) -> EmailMessage:
        event = alert.event
        subject = f"{self.host} level {event.level}: {event.description}"
        return self._message(subject, block(event) + "\n")

    def digest_message(self, alerts: Sequence[StoredAlert], since: float) -> EmailMessage:
        top = max(alert.event.level for alert in alerts)
        subject = f"{self.host}: digest of {len(alerts)} alert(s), highest level {top}"
        return self._message(subject, digest_body(alerts, since, self.settings.max_per_hour))

    def test_message(self) -> EmailMessage:
        return self._message(
            f"{self.host}: test message", "rampart can send alerts to this address.\n"
        )

    def _message(self, subject: str, body: str) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.settings.sender
        message["To"] = ", ".join(self.settings.to)
        message["Subject"] = one_line(f"{self.settings.subject_prefix} {subject}".strip())
        message["Date"] = formatdate(localtime=True)
        message["Message-ID"] = make_msgid(domain=self.host if "." in self.host else None)
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(body)
        return message

    def send(self, message: EmailMessage) -> None:
        """Hand ``message`` to the SMTP server; DeliveryError naming the server on failure."""
        settings = self.settings
        where = f"SMTP {settings.host}:{settings.port}"
        try:
            with _connect(settings, self.tls) as smtp:
                if settings.security == "starttls":
                    smtp.starttls(context=self.tls)
                if settings.username:
                    smtp.login(settings.username, self.password or "")
                refused = smtp.send_message(
                    message, from_addr=settings.sender, to_addrs=list(settings.to)
                )
        except smtplib.SMTPException as error:
            raise DeliveryError(f"{where}: {one_line(str(error), 200)}") from None
        except OSError as error:
            raise DeliveryError(f"{where}: {error.strerror or error}") from None
        if refused:
            names = ", ".join(sorted(refused))
            raise DeliveryError(f"{where}: recipient(s) refused: {names}")


def _connect(settings: EmailSettings, tls: ssl.SSLContext | None) -> smtplib.SMTP:
    if settings.security == "ssl":
        return smtplib.SMTP_SSL(
            settings.host,
            settings.port,
            timeout=settings.timeout,
            context=tls,
        )
    return smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)


def _tls(settings: EmailSettings) -> ssl.SSLContext:
    """Certificate and host name verified, against ``ca_file`` or the system's CAs."""
    try:
        return ssl.create_default_context(cafile=settings.ca_file)
    except (OSError, ssl.SSLError) as error:
        raise ConfigError(f"alerts.email.ca_file {settings.ca_file}: {error}") from None
