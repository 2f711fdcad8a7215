"""Walk a tree with the Python walker and the C walk; print what each saw (one JSON object).

With one thread the C walk must give the same lists in the same order; with
three, the same paths. Run as a child process by tests/fim/test_native_walk.py (as root, without the
capabilities that read past permissions, so unreadable directories are).
Argument: JSON ``[root, exclude globs, include globs, one_filesystem]``.
"""

import json
import os
import sys

from rampart.fim import native
from rampart.fim.entry import fingerprint
from rampart.fim.walk import Walker, compile_globs


def main() -> None:
    root, exclude, include, one_filesystem = json.loads(sys.argv[1])
    exclude, include = tuple(exclude), tuple(include)

    def walker() -> Walker:
        return Walker((root,), compile_globs(include), compile_globs(exclude), one_filesystem)

    def python_walk(recorded: dict[bytes, bytes]) -> dict[str, object]:
        walk = walker()
        found = [p for p, st in walk if recorded.pop(os.fsencode(p), None) != fingerprint(st)]
        return _result(walk, found, recorded)

    def native_walk(recorded: dict[bytes, bytes], threads: int) -> dict[str, object]:
        walk = walker()
        checked = native.check_walk(walk, exclude, include, recorded, threads)
        return _result(walk, [path for path, _st in checked], recorded)

    everything = walker()
    baseline = {os.fsencode(path): fingerprint(st) for path, st in everything}
    changed = dict(baseline)
    for number, key in enumerate(sorted(changed)):
        if number % 3 == 0:
            changed[key] = b"x" * 44  # a differing fingerprint
        elif number % 3 == 1:
            del changed[key]  # not recorded: added
    changed[os.fsencode(root) + b"/gone"] = b"y" * 44  # recorded, no longer there
    results = {}
    for name, recorded in (("empty", {}), ("same", baseline), ("changed", changed)):
        results[name] = {
            "python": python_walk(dict(recorded)),
            "native": native_walk(dict(recorded), 1),
            "threads": native_walk(dict(recorded), 3),
        }
    json.dump({"usable": native.usable(exclude, include), "results": results}, sys.stdout)


def _result(walk: Walker, found: list[str], left: dict[bytes, bytes]) -> dict[str, object]:
    return {
        "walked": walk.walked,
        "candidates": [repr(path) for path in found],
        "errors": walk.errors,
        "left": sorted(repr(key) for key in left),
    }


if __name__ == "__main__":
    main()
