"""Errors of the detect layer."""

from rampart.errors import RampartError


class FilterError(RampartError):
    """A filter file cannot be read or one of its regexes cannot be compiled.

    The message names the file (and the option) so the operator can fix it.
    """


class DatePatternError(FilterError):
    """A ``datepattern`` is invalid."""
