#!/usr/bin/env bash
# The project's test command (README "Run the tests"; .ci/run calls exactly this).
# It sets itself up on a fresh machine: selects Python 3.12, installs nox and uv into a
# private tool venv, then runs nox: every session CI needs, two at a time, or the sessions
# given as arguments. The test harness installs the rest on first use: the OIDC server's npm
# packages (`npm ci` from the committed lockfile) and Consul 1.8.7 (from ../shared/vendor
# or Debian's archive); redis-server, nats-server, Node.js and npm come from apt-get where
# missing.
# Prints the total time at the end.
set -euo pipefail
started=$(date +%s)
cd "$(dirname "$0")/.."

report_time() { echo "total time: $(( $(date +%s) - started )) s"; }
trap report_time EXIT

# Python 3.12: .python-version selects it under pyenv; otherwise any python3.12 on PATH.
python=""
for candidate in python3.12 "$(pyenv which python3.12 2>/dev/null || true)"; do
  if [ -n "$candidate" ] && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null; then
    python=$(command -v "$candidate")
    break
  fi
done
if [ -z "$python" ]; then
  echo "error: Python 3.12 is needed (pyenv install 3.12, or your distribution's python3.12)" >&2
  exit 2
fi

# Never download an interpreter: these machines reach only the package registries.
export UV_PYTHON_DOWNLOADS=never
tools=.venv-tools
if [ ! -x "$tools/bin/nox" ] || [ ! -x "$tools/bin/uv" ]; then
  "$python" -m venv "$tools"
  "$tools/bin/python" -m pip install --quiet --disable-pip-version-check "nox>=2025.2.9" "uv>=0.5"
fi
export PATH="$PWD/$tools/bin:$PATH"

# Servers the harness starts from Debian packages: install them where they are missing
# and we may (root with apt-get); otherwise the tests that need them say what to install.
missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
# Debian's nats-server lives in /usr/sbin, outside a non-root PATH.
command -v nats-server >/dev/null || [ -x /usr/sbin/nats-server ] || missing+=(nats-server)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing ${missing[*]} (apt-get)" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "warning: ${missing[*]} not found; the tests that need them will say what to install" >&2
  fi
fi

# No arguments: every default session, two at a time (tools/parallel_nox.py; sessions are
# independent, and CI machines have two cores). OMNIBASE_INFRA_JOBS=1 runs them one by one.
if [ $# -eq 0 ]; then
  "$tools/bin/python" tools/parallel_nox.py --jobs "${OMNIBASE_INFRA_JOBS:-2}"
else
  nox "$@"
fi
