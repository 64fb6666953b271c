#!/usr/bin/env bash
# LighterWeb's release step on a server: run it after every clone or update, before the
# processes start (deploy/README.md). One-shot, so it is not a Procfile line; the
# lighterweb-release.service unit runs it before the others under systemd.
#
#   scripts/release.sh      from anywhere, as the service user
#
# It migrates the database, collects the static files into STATIC_ROOT (staticfiles/, which the
# proxy serves) without prompting, and runs Django's deployment checks. Like every process it
# reads the env file named by ENV_FILE, else the checkout's .env (lighterweb/envfile.py).
# Environment: LIGHTERWEB_VENV (the checkout's .venv).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

VENV="${LIGHTERWEB_VENV:-$ROOT/.venv}"
PYTHON="$VENV/bin/python"
if [[ ! -x "$PYTHON" ]]; then
    echo "No virtualenv at $VENV: python3 -m venv .venv && .venv/bin/pip install -e ." >&2
    exit 1
fi

step() { printf '==> %s\n' "$*"; }

mkdir -p var
step "migrate"
"$PYTHON" manage.py migrate --noinput
step "collectstatic"
"$PYTHON" manage.py collectstatic --noinput
step "check --deploy"
"$PYTHON" manage.py check --deploy --fail-level ERROR
