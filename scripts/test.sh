#!/usr/bin/env bash
# Install dreamvid with its test extras into .venv and run the whole suite. Extra arguments go to pytest.
source "$(dirname "$0")/_python.sh"
ensure_venv test
export DREAMVID_OFFLINE=1   # the suite never downloads: torchvision weights come from state dicts it saves
exec .venv/bin/python -m pytest -q "$@"
