"""Detect: turn log lines into failures with Fail2ban-compatible filters."""

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
