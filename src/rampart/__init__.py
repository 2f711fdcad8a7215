"""rampart: one tool for a small team's host and cloud security."""

__version__ = "0.1.0"

#: The parts of rampart, in the order a request flows through them.
PARTS: tuple[tuple[str, str], ...] = (
    ("audit", "check the host and the AWS account against the practices"),
    ("hids", "log rules with levels, file integrity, rootkit checks, alerts"),
    ("ban", "Fail2ban-compatible filters and jails; bans in nftables sets"),
    ("firewall", "a declarative policy compiled to nftables, applied with rollback"),
    ("ssh", "move SSH off port 22 and harden it without locking anyone out"),
    ("vault", "credentials encrypted in git for a team of admins"),
    ("scan", "find credentials that slipped into files and history"),
    ("access", "signed URLs, basic auth and hotlink rules"),
    ("cloud", "CloudTrail ingest, detections and a dashboard"),
    ("backup", "backups proven by restore tests"),
    ("privsep", "one role per database, unprivileged service users"),
)
