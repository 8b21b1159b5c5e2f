#!/usr/bin/env bash
# Installs the OpenTelemetry Python SDK into target/tools/python-venv: the peer that
# tests/tests/python_interop.rs runs (it looks there, or at $T4DM_INTEROP_PYTHON).
set -euo pipefail

# The version the interop tests were verified against.
OPENTELEMETRY_SDK_VERSION="1.45.2"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/target/tools/python-venv"

if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "opentelemetry-sdk==$OPENTELEMETRY_SDK_VERSION"
"$venv/bin/python" - <<PY
from importlib.metadata import version
installed = version("opentelemetry-sdk")
assert installed == "$OPENTELEMETRY_SDK_VERSION", installed
print("opentelemetry-sdk", installed, "in $venv")
PY
