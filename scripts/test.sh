#!/usr/bin/env bash
# Set up everything the tests need, then run the whole suite (unit, integration, browser).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
