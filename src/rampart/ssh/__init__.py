"""SSH hardening (practice 3): safe, verified edits of the sshd configuration."""

from rampart.ssh.config import dropin_path, set_option
from rampart.ssh.harden import HARDENED, Change, HardenError, HardenPlan, harden, plan
from rampart.ssh.move import Move, MoveError, add_port, move_port, remove_ports
from rampart.ssh.move import confirm as confirm_move

__all__ = [
    "HARDENED",
    "Change",
    "HardenError",
    "HardenPlan",
    "Move",
    "MoveError",
    "add_port",
    "confirm_move",
    "dropin_path",
    "harden",
    "move_port",
    "plan",
    "remove_ports",
    "set_option",
]
