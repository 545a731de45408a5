# Sourced by scripts/run and scripts/test: make .venv (Python >= 3.11) and install Muxgate into it.
# Usage: . scripts/_venv.sh EXTRAS   e.g. ". scripts/_venv.sh test", or "" for none (always pass it: a sourced
# script sees the caller's arguments when given none of its own)
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
# Reinstall only when pyproject.toml changed since the last install, or these extras were not installed with it
# (an install with the test extras serves `scripts/run` too).
stamp=".venv/.muxgate-installed"
sum="$(cksum < pyproject.toml | cut -d' ' -f1)"
want="$sum $extras"
have="$(cat "$stamp" 2>/dev/null || true)"
if [ "$have" != "$want" ] && { [ -n "$extras" ] || [ "${have%% *}" != "$sum" ]; }; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e "$spec"
  echo "$want" > "$stamp"
fi
