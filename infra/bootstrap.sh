#!/usr/bin/env bash
# Set up everything mlgate needs on a fresh machine: OS packages (if any are missing) and a
# virtual environment with the pinned Python dependencies (constraints.txt). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
# OS packages the tests and the stack use. Installed only when missing (needs root or sudo).
APT_PACKAGES=(git)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ] && command -v apt-get >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check "pip>=24"
.venv/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt -e ".[all,dev]"
# The MLflow registry guard is its own distribution (it runs inside the MLflow server); the
# tests start `mlflow server` from this venv, so it is installed here too.
for plugin in plugins/*/pyproject.toml; do
  [ -f "$plugin" ] || continue
  .venv/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt --no-deps --no-build-isolation -e "$(dirname "$plugin")"
done
.venv/bin/python -m pip check
