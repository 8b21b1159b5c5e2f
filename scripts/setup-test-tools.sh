#!/usr/bin/env bash
# Installs the peers the tests run against, once, into target/tools/venv: a Python virtualenv
# with the packages pinned in scripts/test-requirements.txt. Safe to run again: it only
# installs what the requirements file lists and the venv lacks.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=target/tools/venv
python=${PYTHON:-python3}
if [ ! -x "$venv/bin/python" ]; then
    mkdir -p target/tools
    "$python" -m venv "$venv"
fi
stamp="$venv/.requirements.sha256"
wanted=$(sha256sum scripts/test-requirements.txt | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ]; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        -r scripts/test-requirements.txt
    echo "$wanted" > "$stamp"
fi
