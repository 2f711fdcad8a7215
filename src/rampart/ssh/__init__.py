"""SSH hardening (practice 3): safe, verified edits of the sshd configuration."""

from rampart.ssh.config import dropin_path, set_option
from rampart.ssh.harden import HARDENED, Change, HardenError, HardenPlan, harden, plan

__all__ = [
    "HARDENED",
    "Change",
    "HardenError",
    "HardenPlan",
    "dropin_path",
    "harden",
    "plan",
    "set_option",
]
