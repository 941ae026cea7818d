#!/usr/bin/env bash
# Set up a development environment in .venv (idempotent).
#   bash scripts/setup.sh          # the package with torch + scikit-learn (the examples)
#   bash scripts/setup.sh --test   # plus test tools and the system packages tests use
set -euo pipefail
cd "$(dirname "$0")/.."

WITH_TEST=0
[[ "${1:-}" == "--test" ]] && WITH_TEST=1

PYTHON="${PYTHON:-python3}"
if [[ ! -x .venv/bin/python ]]; then
  echo "==> creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
PIP=(.venv/bin/python -m pip --disable-pip-version-check -q)
"${PIP[@]}" install --upgrade pip >/dev/null

if [[ $WITH_TEST == 1 ]]; then
  echo "==> installing dosirak with the dev extras (constraints.txt pins torch to the CPU build)"
  "${PIP[@]}" install -c constraints.txt -e '.[dev]'
  # system packages: chromium for the dashboard/Swagger browser tests, wrk for load tests,
  # the PostgreSQL server for the metadata store tests (they start their own throwaway cluster),
  # buildah/podman/runc to build and run real images, mmdebstrap to make their Debian base image,
  # docker-registry for a registry on loopback to push to (see shared/CONTAINERS.md)
  need=()
  command -v chromium >/dev/null || need+=(chromium)
  command -v wrk >/dev/null || need+=(wrk)
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need+=(postgresql)
  for program in buildah podman runc mmdebstrap docker-registry; do
    command -v "$program" >/dev/null || need+=("$program")
  done
  if (( ${#need[@]} )); then
    echo "==> installing system packages: ${need[*]}"
    SUDO=""; [[ $(id -u) != 0 ]] && SUDO="sudo"
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${need[@]}"
  fi
else
  echo "==> installing dosirak with torch and scikit-learn (constraints.txt pins torch to the CPU build)"
  "${PIP[@]}" install -c constraints.txt -e '.[torch,sklearn,data]'
fi
echo "==> ready: . .venv/bin/activate"
