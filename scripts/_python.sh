# Sourced by demo.sh and test.sh: create .venv with a Python >= 3.10 unless it exists, then install.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

find_python() {
  for candidate in "${PYTHON:-}" python3 python3.13 python3.12 python3.11 python3.10 python; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  echo "error: dreamvid needs Python 3.10 or newer; install it or set PYTHON=/path/to/python3" >&2
  return 1
}

ensure_venv() {  # $1: the extra to install (demo or test)
  if [ ! -x .venv/bin/python ]; then
    local python; python=$(find_python)
    echo "creating .venv with $("$python" --version)" >&2
    "$python" -m venv .venv
  fi
  echo "installing dreamvid[$1] into .venv (the first time takes a few minutes: PyTorch is large)" >&2
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[$1]"
}
