"""Audit: check what you have, on the host and in the AWS account (practice 0)."""

from rampart.audit.engine import (
    AuditReport,
    Mute,
    load_checks,
    load_collectors,
    read_mutes,
    run_audit,
)
from rampart.audit.interface import (
    AuditError,
    Check,
    CheckMeta,
    Facts,
    Finding,
    Severity,
    Status,
    Unavailable,
)

__all__ = [
    "AuditError",
    "AuditReport",
    "Check",
    "CheckMeta",
    "Facts",
    "Finding",
    "Mute",
    "Severity",
    "Status",
    "Unavailable",
    "load_checks",
    "load_collectors",
    "read_mutes",
    "run_audit",
]
