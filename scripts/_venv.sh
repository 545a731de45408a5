# Sourced by scripts/run and scripts/test: make .venv (Python >= 3.11) and install Muxgate into it.
# Usage: . scripts/_venv.sh [EXTRAS]   e.g. ". scripts/_venv.sh test"
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Muxgate needs Python 3.11 or newer")'
  "$PYTHON" -m venv .venv
fi
extras="${1:-}"
spec="."
[ -n "$extras" ] && spec=".[$extras]"
# Reinstall only when pyproject.toml changed since the last install (or the extras differ).
stamp=".venv/.muxgate-installed"
want="$(cat pyproject.toml | cksum | cut -d' ' -f1) $extras"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e "$spec"
  echo "$want" > "$stamp"
fi
