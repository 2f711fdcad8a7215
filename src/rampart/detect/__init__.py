"""Detect: turn log lines into failures with Fail2ban-compatible filters.

The names below are imported when first used (PEP 562): the HIDS rules need
only :mod:`rampart.detect.prefilter`, and importing it must not pay for the
filter engine, its dates and its scanner at every start of ``hids replay``.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rampart.detect.dates import DateDetector
    from rampart.detect.errors import DatePatternError, FilterError
    from rampart.detect.filterconf import (
        DEFAULT_FILTER_DIRS,
        FilterSpec,
        find_filter,
        load_filter,
        parse_filter_ref,
    )
    from rampart.detect.matcher import Failure, Filter, LineMatcher, Outcome
    from rampart.detect.scan import ScanReport, scan_file, scan_lines, scan_log

_WHERE = {
    "DateDetector": "dates",
    "DatePatternError": "errors",
    "FilterError": "errors",
    "DEFAULT_FILTER_DIRS": "filterconf",
    "FilterSpec": "filterconf",
    "find_filter": "filterconf",
    "load_filter": "filterconf",
    "parse_filter_ref": "filterconf",
    "Failure": "matcher",
    "Filter": "matcher",
    "LineMatcher": "matcher",
    "Outcome": "matcher",
    "ScanReport": "scan",
    "scan_file": "scan",
    "scan_lines": "scan",
    "scan_log": "scan",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'rampart.detect' has no attribute {name!r}")
    return getattr(import_module(f"rampart.detect.{module}"), name)


__all__ = [
    "DEFAULT_FILTER_DIRS",
    "DateDetector",
    "DatePatternError",
    "Failure",
    "Filter",
    "FilterError",
    "FilterSpec",
    "LineMatcher",
    "Outcome",
    "ScanReport",
    "find_filter",
    "load_filter",
    "parse_filter_ref",
    "scan_file",
    "scan_lines",
    "scan_log",
]
