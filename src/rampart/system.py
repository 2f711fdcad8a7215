"""The one way rampart runs another program: an argument list and a timeout.

No shell ever sees a command line (no ``shell=True``), every run has a
deadline, and failures become one :class:`CommandError` whose message names
the program and what it said, so callers can let it reach the CLI as one line.
"""

import subprocess
from collections.abc import Sequence

from rampart.errors import RampartError

DEFAULT_TIMEOUT = 30.0


class CommandError(RampartError):
    """A program is missing, timed out, or exited with an error."""


def run(
    argv: Sequence[str],
    *,
    input_text: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` (no shell), feeding ``input_text``; raise CommandError on failure."""
    if not argv or not all(isinstance(part, str) for part in argv):
        raise CommandError(f"invalid command {list(argv)!r}")
    try:
        result = subprocess.run(
            list(argv),
            input=input_text,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError:
        raise CommandError(f"{argv[0]}: program not found (is it installed?)") from None
    except subprocess.TimeoutExpired:
        raise CommandError(f"{argv[0]}: no answer within {timeout:g} s") from None
    except OSError as error:
        raise CommandError(f"{argv[0]}: cannot run: {error.strerror}") from None
    if check and result.returncode != 0:
        said = (result.stderr or result.stdout).strip().splitlines()
        detail = said[-1] if said else f"exit status {result.returncode}"
        raise CommandError(f"{argv[0]}: {detail}")
    return result
