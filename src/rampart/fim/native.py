"""The C walk of ``rampart fim check`` (``rampart.fim._walk``), used when it gives the same answer.

A check over /usr is about 140,000 ``lstat`` calls, and in CPython the work
around each costs more than the call: the C walk lists, stats and compares
fingerprints with the baseline itself (the system calls without the GIL) and
hands back the few paths that differ (init's worker processes also list
whole subtrees with it: :func:`entries_below`). It applies the same rules as
:class:`~rampart.fim.walk.Walker`, which stays the reference and the
fallback: used when the extension is not built, ``RAMPART_NATIVE=0``, or a
glob uses more than ``*`` (``?`` and ``[...]`` match characters in Python and
bytes in C; they would differ on non-ASCII names).
"""

import importlib
import os
import struct
from types import ModuleType

from rampart.fim.entry import fingerprint
from rampart.fim.walk import Walker

_walk: ModuleType | None
try:
    _walk = importlib.import_module("rampart.fim._walk")
except ImportError:  # not built: no C compiler when rampart was installed
    _walk = None

#: Set to ``0`` to always walk in Python (the same switch as the detection core's).
ENV_SWITCH = "RAMPART_NATIVE"

Candidates = list[tuple[str, os.stat_result]]
#: The mode and size at the start of a fingerprint (rampart.fim.entry's layout).
_MODE_AND_SIZE = struct.Struct("<Iq")


def usable(*pattern_lists: tuple[str, ...]) -> bool:
    """True when the C walk is built, not switched off, and every glob is ``*`` and literals."""
    if _walk is None or os.environ.get(ENV_SWITCH, "1") == "0":
        return False
    return not any("?" in p or "[" in p for patterns in pattern_lists for p in patterns)


def check_walk(
    walker: Walker,
    exclude: tuple[str, ...],
    include: tuple[str, ...],
    recorded: dict[bytes, bytes],
    threads: int = 1,
) -> Candidates:
    """Walk ``walker``'s roots as it would; the paths whose fingerprint differs from ``recorded``.

    Like the Python loop, every path seen is removed from ``recorded`` (what is
    left is gone); a differing path vanished before it could be stat'ed again
    stays there. ``exclude`` and ``include`` are the globs ``walker``'s regexes
    were compiled from; :func:`usable` must be true for them. With ``threads`` > 1
    the walk's order differs; errors are then sorted (the same report every time).
    """
    if _walk is None:
        raise RuntimeError("rampart.fim._walk is not built: check native.usable() first")
    check_below = _walk.check_below
    excluded = tuple(map(os.fsencode, exclude))
    included = tuple(map(os.fsencode, include))
    candidates: Candidates = []
    for root, st, is_dir in walker.wanted_roots():
        differing = [(os.fsencode(root), b"")]
        if is_dir:
            walked, found, errors = check_below(
                os.fsencode(root),
                st.st_dev,
                walker.one_filesystem,
                excluded,
                included,
                recorded,
                threads,
            )
            walker.walked += walked
            differing.extend(found)
            if threads > 1:
                errors.sort()
            walker.errors.extend(_error_line(*error) for error in errors)
        candidates.extend(_restat(differing, recorded, walker.errors, root, st))
    return candidates


def entries_below(
    directory: str,
    device: int,
    walker: Walker,
    globs: tuple[tuple[str, ...], tuple[str, ...]],
) -> list[tuple[str, int, int, bytes]]:
    """Everything below ``directory`` as ``Walker.below`` walks it: path, mode, size, fingerprint.

    ``globs`` are the exclude and include globs ``walker``'s regexes were compiled
    from (:func:`usable` true for them); errors go to ``walker.errors``.
    """
    if _walk is None:
        raise RuntimeError("rampart.fim._walk is not built: check native.usable() first")
    exclude, include = (tuple(map(os.fsencode, patterns)) for patterns in globs)
    _walked, found, errors = _walk.check_below(
        os.fsencode(directory), device, walker.one_filesystem, exclude, include, {}, 1
    )
    walker.errors.extend(_error_line(*error) for error in errors)
    decode, unpack = os.fsdecode, _MODE_AND_SIZE.unpack_from
    return [(decode(key), *unpack(packed), packed) for key, packed in found]


def _restat(
    differing: list[tuple[bytes, bytes]],
    recorded: dict[bytes, bytes],
    errors: list[str],
    root: str,
    root_stat: os.stat_result,
) -> Candidates:
    """The differing paths with a stat result each (the C walk returns only fingerprints)."""
    found: Candidates = []
    for key, _ in differing:
        path = os.fsdecode(key)
        if path == root:  # the root's lstat is the one just made
            if recorded.pop(key, None) != fingerprint(root_stat):
                found.append((root, root_stat))
            continue
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            continue  # gone since: left in ``recorded``, reported as deleted if it was there
        except OSError as error:
            recorded.pop(key, None)
            errors.append(f"{path}: {error.strerror}")
            continue
        recorded.pop(key, None)
        found.append((path, st))
    return found


def _error_line(path: bytes, number: int, listing: bool) -> str:
    name = os.fsdecode(path)
    if listing:
        return f"{name}: cannot list: {os.strerror(number)}"
    return f"{name}: {os.strerror(number)}"
