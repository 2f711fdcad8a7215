#!/bin/sh
# Create the virtual environment in $1, installing Debian's python3-venv first
# when the interpreter cannot make one (a fresh Debian 12 lacks ensurepip).
set -eu
venv="$1"
python="${PYTHON:-python3}"
if [ -x "$venv/bin/python" ]; then
    exit 0
fi
if ! "$python" -c "import ensurepip, venv" >/dev/null 2>&1; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "rampart: $python cannot create a virtual environment; run 'apt-get install python3-venv' as root" >&2
        exit 2
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
fi
# The native core of `rampart ban test` (src/rampart/detect/_native.c) needs a
# C compiler and Python's headers; without them pip skips it (slower, same results).
if [ "$(id -u)" -eq 0 ] && ! { command -v gcc >/dev/null 2>&1 &&
    "$python" -c "import os, sysconfig, sys; sys.exit(not os.path.isfile(os.path.join(sysconfig.get_paths()['include'], 'Python.h')))"; }; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc libc6-dev python3-dev >/dev/null ||
        echo "rampart: no C compiler; rampart ban test will use its Python matcher" >&2
fi
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
