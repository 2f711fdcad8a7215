"""Every optional native part is built where a C compiler and the Python headers are.

Each part falls back to its Python reference silently (same results, slower),
so a build that broke would go unnoticed but for this test: CI builds them
all (``pip install -e .`` runs setup.py), and they must load.
"""

import importlib
import shutil
import sysconfig
from pathlib import Path

import pytest

NATIVE_PARTS = ["rampart.detect._native", "rampart.hids._native", "rampart.fim._walk"]


@pytest.mark.parametrize("module", NATIVE_PARTS)
def test_native_part_is_built_and_loads(module: str) -> None:
    if shutil.which("gcc") is None:
        pytest.skip("no gcc: the native parts are optional there")
    if not (Path(sysconfig.get_paths()["include"]) / "Python.h").is_file():
        pytest.skip("no Python headers (python3-dev): the native parts are optional there")
    importlib.import_module(module)
