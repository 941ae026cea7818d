#!/usr/bin/env bash
# Set up a development environment in .venv (idempotent; a half-made .venv is made again).
#   bash scripts/setup.sh            # dosirak with torch (CPU build) and scikit-learn: what the examples need
#   bash scripts/setup.sh --test     # plus the test tools and the Debian packages the tests use (apt)
#   bash scripts/setup.sh --bench    # plus what the benchmarks need (wrk, apt); combines with --test
# Environment:
#   PYTHON                 the interpreter that makes the venv (python3; Python 3.11 or newer)
#   VENV_DIR               where the venv goes (.venv in the repository)
#   TORCH_INDEX_URL        where torch comes from when no torch is installed or found locally
#                          (default: PyTorch's CPU wheel index; empty: the default index's build)
#   DOSIRAK_TEST_CHROMIUM  the Chromium the browser tests drive (tests/chromium.py holds the rule)
# Sourcing this file defines its functions and runs nothing (tests/scripts/test_setup.py does so).
set -euo pipefail

HERE="${BASH_SOURCE[0]%/*}"; [[ $HERE == "${BASH_SOURCE[0]}" ]] && HERE=.
ROOT="$(cd "$HERE/.." && pwd)"
CONSTRAINTS="$ROOT/constraints.txt"
MIN_PYTHON="3.11"
DEFAULT_TORCH_INDEX_URL="https://download.pytorch.org/whl/cpu"
PROBE_SECONDS=5
PYTHON="${PYTHON:-python3}"

say() { printf '==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# True when version $1 (MAJOR.MINOR) is at least version $2.
version_at_least() { printf '%s\n%s\n' "$2" "$1" | sort -V -C; }

# One line saying why interpreter $1 cannot make dosirak's venv (needs Python ${2:-$MIN_PYTHON}
# with venv and ensurepip), or nothing when it can.
python_problem() {
  local python=$1 min=${2:-$MIN_PYTHON} version
  if ! command -v "$python" >/dev/null 2>&1; then
    echo "$python not found: dosirak needs Python $min or newer with venv; on Debian bookworm: sudo apt-get install -y python3 python3-venv (or set PYTHON=/path/to/python3.11)"
    return 0
  fi
  if ! version=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null); then
    echo "$python does not run: dosirak needs Python $min or newer with venv; on Debian bookworm: sudo apt-get install -y python3 python3-venv (or set PYTHON=/path/to/python3.11)"
    return 0
  fi
  if ! version_at_least "$version" "$min"; then
    echo "$python is Python $version; dosirak needs $min or newer: on Debian bookworm sudo apt-get install -y python3 python3-venv (Python 3.11), or set PYTHON=/path/to/python$min"
    return 0
  fi
  if ! "$python" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    echo "$python (Python $version) cannot make a virtual environment, its ensurepip is missing: sudo apt-get install -y python3-venv (python$version-venv for a python3 other than Debian's default)"
  fi
}

# Why the venv in $1 cannot be used as it is (a short phrase), or nothing when it can.
venv_problem() {
  local python="$1/bin/python" version
  if ! version=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null); then
    echo "its python does not run"
  elif ! version_at_least "$version" "$MIN_PYTHON"; then
    echo "its python is $version, older than $MIN_PYTHON"
  elif ! "$python" -m pip --version >/dev/null 2>&1; then
    echo "its python has no pip"
  fi
}

# Makes sure $1 is a usable venv (a python that runs, with pip): made with $PYTHON when
# missing, removed and made again when half-made (saying so), never touched when it is fine.
ensure_venv() {
  local dir=$1 problem
  if [[ -f $dir/pyvenv.cfg ]]; then
    problem=$(venv_problem "$dir")
    [[ -z $problem ]] && return 0
    say "$dir is half-made ($problem): removing it and making it again"
    rm -rf -- "$dir"
  elif [[ -e $dir && -n $(ls -A "$dir" 2>/dev/null) ]]; then
    die "$dir exists but is not a virtual environment (no pyvenv.cfg): move it away, or set VENV_DIR"
  fi
  problem=$(python_problem "$PYTHON")
  [[ -z $problem ]] || die "$problem"
  say "creating $dir with $("$PYTHON" --version 2>&1)"
  "$PYTHON" -m venv "$dir" || die "$PYTHON -m venv $dir failed (above); on Debian: sudo apt-get install -y python3-venv"
  problem=$(venv_problem "$dir")
  [[ -z $problem ]] || die "$PYTHON made $dir, but $problem; on Debian: sudo apt-get install -y python3-venv"
}

# Exit status 0 when the package index $1 answers (an HTTP 2xx for $1/torch/) within
# $PROBE_SECONDS s, name lookup included; otherwise prints why not and returns 1.
probe_index() {
  "$PYTHON" - "$1" "$PROBE_SECONDS" <<'EOF'
import os, ssl, sys, threading, urllib.request

url, seconds = sys.argv[1].rstrip("/") + "/torch/", float(sys.argv[2])
outcome = []

def probe() -> None:
    try:
        context = ssl.create_default_context(cafile=os.environ.get("PIP_CERT") or None)
        with urllib.request.urlopen(url, timeout=seconds, context=context) as response:
            outcome.append(("ok", response.status))
    except Exception as exc:  # noqa: BLE001 - any failure means: do not use this index
        outcome.append(("error", f"{type(exc).__name__}: {exc}"))

thread = threading.Thread(target=probe, daemon=True)
thread.start()
thread.join(seconds)  # a name lookup that hangs is not bound by urlopen's timeout: this is
if outcome and outcome[0][0] == "ok":
    os._exit(0)
print(outcome[0][1] if outcome else f"no answer within {seconds:g} s", flush=True)
os._exit(1)
EOF
}

# Decides where the pinned torch comes from, for the venv python $VENV_PY. Sets TORCH_SOURCE:
# "installed" (already there: nothing to do), "local" (a wheel pip finds without an index,
# e.g. in its find-links: preferred), "index" (TORCH_INDEX_URL answered; TORCH_PIP_ARGS adds it
# as an extra index for the torch install only) or "default" (the default index's build).
choose_torch_source() {
  local report url why
  TORCH_SOURCE=default
  TORCH_PIP_ARGS=()
  if report=$("$VENV_PY" -m pip --disable-pip-version-check install --dry-run --no-index --no-deps \
                -c "$CONSTRAINTS" torch 2>&1); then
    if grep -q '^Would install' <<<"$report"; then
      TORCH_SOURCE=local
      say "torch: $(sed -n 's/^Would install //p' <<<"$report"), a wheel found locally (pip's find-links)"
    else
      TORCH_SOURCE=installed
      say "torch: $("$VENV_PY" -c 'import importlib.metadata as m; print("torch", m.version("torch"))') already installed"
    fi
    return 0
  fi
  url=${TORCH_INDEX_URL-$DEFAULT_TORCH_INDEX_URL}
  if [[ -z $url ]]; then
    say "torch: TORCH_INDEX_URL is empty: the default index's build (on PyPI for Linux, the CUDA one)"
  elif why=$(probe_index "$url"); then
    TORCH_SOURCE=index
    TORCH_PIP_ARGS=(--extra-index-url "$url")
    say "torch: from $url"
  else
    say "torch: skipping $url, it did not answer within $PROBE_SECONDS s ($why); the default index's build (on PyPI for Linux, the multi-GB CUDA one)"
  fi
}

# pip install into the venv; lists what it collects and downloads, not what is already there.
pip_install() {
  PYTHONUNBUFFERED=1 "$VENV_PY" -m pip --disable-pip-version-check install "$@" 2>&1 \
    | sed -u '/^Requirement already satisfied/d'
}

# The Debian packages (one a line) that mode $1 needs and this machine lacks: "test" (what the
# tests use) or "bench" (what the benchmarks use: wrk).
missing_system_packages() {
  local program
  case $1 in
    test)
      # chromium for the dashboard and Swagger browser tests, found as the tests find it; the
      # PostgreSQL server for the metadata store tests (they start their own throwaway cluster);
      # buildah/podman/runc to build and run real images, mmdebstrap to make their Debian base
      # image, docker-registry for a registry on loopback to push to
      "$PYTHON" "$ROOT/tests/chromium.py" >/dev/null 2>&1 || echo chromium
      compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || echo postgresql
      for program in buildah podman runc mmdebstrap docker-registry; do
        command -v "$program" >/dev/null || echo "$program"
      done
      ;;
    bench)
      command -v wrk >/dev/null || echo wrk
      ;;
  esac
}

apt_install() {
  local sudo=()
  if [[ $(id -u) != 0 ]]; then
    command -v sudo >/dev/null || die "Debian packages missing: $*; as root: apt-get update && apt-get install -y $*"
    sudo=(sudo)
  fi
  say "installing Debian packages with apt-get: $*"
  say "(apt-get downloads and unpacks them: this can take several minutes; its progress follows)"
  "${sudo[@]}" apt-get update
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "$@"
}

main() {
  local with_test=0 with_bench=0 arg extras packages=()
  for arg in "$@"; do
    case $arg in
      --test) with_test=1 ;;
      --bench) with_bench=1 ;;
      -h|--help) sed -n '2,12s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; return 0 ;;
      *) printf 'error: unknown option %s: scripts/setup.sh takes --test and --bench\n' "$arg" >&2; exit 2 ;;
    esac
  done
  cd "$ROOT"
  if [[ $with_test == 1 && -n ${DOSIRAK_TEST_CHROMIUM:-} ]]; then
    "$PYTHON" tests/chromium.py >/dev/null || exit 1   # it says why in one line
  fi

  VENV_DIR="${VENV_DIR:-$ROOT/.venv}"
  ensure_venv "$VENV_DIR"
  VENV_PY="$VENV_DIR/bin/python"
  "$VENV_PY" -m pip --disable-pip-version-check install -q --upgrade pip

  choose_torch_source
  if [[ $TORCH_SOURCE != installed ]]; then
    say "installing torch (pinned in constraints.txt; the CPU build is about 200 MB)"
    pip_install -c "$CONSTRAINTS" "${TORCH_PIP_ARGS[@]}" torch
  fi
  if [[ $with_test == 1 ]]; then
    extras=dev
    say "installing dosirak with the dev extras (the first time: a few minutes)"
  else
    extras=torch,sklearn,data
    say "installing dosirak with torch and scikit-learn (the first time: a few minutes)"
  fi
  pip_install -c "$CONSTRAINTS" -e ".[$extras]"

  [[ $with_test == 1 ]] && mapfile -t -O "${#packages[@]}" packages < <(missing_system_packages test)
  [[ $with_bench == 1 ]] && mapfile -t -O "${#packages[@]}" packages < <(missing_system_packages bench)
  if (( ${#packages[@]} )); then
    apt_install "${packages[@]}"
  fi
  say "ready: . ${VENV_DIR#"$ROOT"/}/bin/activate"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  main "$@"
fi
