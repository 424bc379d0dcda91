#!/usr/bin/env bash
# Set up everything mlgate needs on a fresh machine: OS packages (if any are missing) and a
# virtual environment with the pinned Python dependencies (constraints.txt). Idempotent.
#
#   bash infra/bootstrap.sh                              # python3 -> .venv
#   PYTHON=python3.13 VENV=.venv-py313 bash infra/bootstrap.sh
#   PYTHON=3.12 bash infra/bootstrap.sh                  # a pyenv version number works too
#
# PYTHON: the interpreter (a command, a path, or a version such as 3.12 installed by pyenv);
#         mlgate supports Python 3.11, 3.12 and 3.13.
# VENV:   where the virtual environment goes (default .venv).
# EXTRAS: the extras to install (default all,dev). On 3.13 the modelscan extra is empty
#         (modelscan 0.8.8 declares Python < 3.13) and torch (a test-only dependency whose CPU
#         build lies on this machine for 3.11) is not installed: those tests skip, saying why.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
VENV=${VENV:-.venv}
EXTRAS=${EXTRAS:-all,dev}

# OS packages the tests and the stack use. Installed only when missing (needs root or sudo).
#   git: pre-commit and the pre-commit hook test (git repositories in temp folders).
#   chromium: headless renders of the HTML report and the MLflow version page in the tests.
#   postgresql: the registry guard's MLflow server on a real PostgreSQL (production's database) in
#     the tests, which start their own server on 127.0.0.1 (the package's service is not used).
APT_PACKAGES=(git chromium postgresql)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ] && command -v apt-get >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

# Resolve PYTHON: a working command or path as is; else a version installed by pyenv (whose
# shims refuse versions that are not selected), e.g. python3.13 or 3.13 -> ~/.pyenv/versions/3.13.x.
resolve_python() {
  local want=$1
  if "$want" -c "import sys" >/dev/null 2>&1; then
    command -v "$want" 2>/dev/null || echo "$want"; return 0
  fi
  local ver=${want#python}
  local root
  root=$(pyenv root 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}")
  local cand
  for cand in $(ls -d "$root"/versions/"$ver"* 2>/dev/null | sort -V -r); do
    if [ -x "$cand/bin/python3" ]; then echo "$cand/bin/python3"; return 0; fi
  done
  echo "bootstrap: no Python interpreter '$want' (set PYTHON to a command, a path or a pyenv version)" >&2
  return 1
}
PY=$(resolve_python "$PY")
"$PY" -c 'import sys; v = sys.version_info[:2]; sys.exit(0 if (3, 11) <= v < (3, 14) else 1)' || {
  echo "bootstrap: $PY is Python $("$PY" -c 'import platform; print(platform.python_version())'); mlgate needs 3.11, 3.12 or 3.13" >&2
  exit 4
}

if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --disable-pip-version-check "pip>=24"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -c constraints.txt -e ".[$EXTRAS]"
# The MLflow registry guard is its own distribution (it runs inside the MLflow server); the
# tests start `mlflow server` from this venv, so it is installed here too.
for plugin in plugins/*/pyproject.toml; do
  [ -f "$plugin" ] || continue
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -c constraints.txt --no-deps -e "$(dirname "$plugin")"
done
"$VENV/bin/python" -m pip check
echo "bootstrap: $VENV ready ($("$VENV/bin/python" -c 'import platform; print("Python", platform.python_version())'))"
