#!/usr/bin/env bash
# LighterWeb: install the dev dependencies, then lint, type-check and run the whole test suite
# against a real Redis (REDIS_URL when reachable, else the embedded one). Exits non-zero on any
# failure. Extra arguments go to pytest (e.g. ./scripts/test.sh -m "not slow" -x).
#
# Environment: LIGHTERWEB_VENV (.venv), LIGHTERWEB_SKIP_INSTALL=1 (use the virtualenv as it is),
# REDIS_URL, DATABASE_URL (another database for the suite, e.g. PostgreSQL), PYTEST_WORKERS (2).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

step() { printf '\033[1m==> %s\033[0m\n' "$*"; }

VENV="${LIGHTERWEB_VENV:-$ROOT/.venv}"
if [[ ! -x "$VENV/bin/python" ]]; then
    PYTHON=""
    for candidate in python3.13 python3.12 python3.11 python3; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            PYTHON="$(command -v "$candidate")"
            break
        fi
    done
    [[ -n "$PYTHON" ]] || { echo "Python 3.11+ is required" >&2; exit 1; }
    step "Creating the virtualenv $VENV"
    "$PYTHON" -m venv "$VENV"
fi
export PATH="$VENV/bin:$PATH"
export VIRTUAL_ENV="$VENV"
# As the Procfile starts every process that signs (exchange/signer.py says why).
export GOMAXPROCS="${GOMAXPROCS:-1}"

STAMP="$VENV/.lighterweb-dev-install-stamp"
WANT="$(python -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' pyproject.toml) $ROOT"
if [[ "${LIGHTERWEB_SKIP_INSTALL:-0}" != 1 && "$(cat "$STAMP" 2>/dev/null || true)" != "$WANT" ]]; then
    step "Installing LighterWeb with its dev dependencies"
    python -m pip install --quiet -e ".[dev]"
    echo "$WANT" >"$STAMP"
fi

# Browser tests drive Debian's chromium through Playwright (never `playwright install`: no
# browser downloads here). Install it when we can; without it they skip locally and fail in CI.
if [[ ! -x /usr/bin/chromium ]] && command -v apt-get >/dev/null 2>&1; then
    SUDO=""
    [[ "$(id -u)" == 0 ]] || SUDO="sudo -n"
    if [[ -z "$SUDO" ]] || sudo -n true 2>/dev/null; then
        step "Installing Debian's chromium (browser tests)"
        $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
    else
        echo "chromium is not installed and apt-get needs root: the browser tests will skip" >&2
    fi
fi

step "ruff check"
ruff check .
step "ruff format --check"
ruff format --check .
step "mypy"
mypy lighterweb bots exchange

# The suite waits on simulators, worker processes and browsers more than it computes: two
# pytest workers (pytest-xdist; each claims its own Redis database and test database) halve
# its wall time on two cores. PYTEST_WORKERS=0 runs it in this process alone.
WORKERS="${PYTEST_WORKERS:-2}"
step "pytest with $WORKERS workers${DATABASE_URL:+ (DATABASE_URL=${DATABASE_URL%%:*}://...)}"
status=0
python -m pytest -p no:cacheprovider --durations=25 -n "$WORKERS" -m "not isolated" "$@" || status=$?
if [[ "$status" == 5 ]]; then
    echo "pytest collected no tests: treated as a failure" >&2
    exit 1
fi
step "pytest (tests that need a process of their own)"
isolated=0
python -m pytest -p no:cacheprovider -m isolated "$@" || isolated=$?
# 5 = none of them matched the caller's selection: nothing more to run.
if [[ "$isolated" != 0 && "$isolated" != 5 ]]; then
    status=$isolated
fi
exit "$status"
