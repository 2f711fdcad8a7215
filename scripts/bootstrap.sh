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
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
