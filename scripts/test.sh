#!/usr/bin/env bash
# Install dreamvid with its test extras into .venv and run the whole suite. Extra arguments go to pytest.
source "$(dirname "$0")/_python.sh"
ensure_venv test
# the browser tests (tests/test_ui_browser.py) drive the distribution's Chromium through Playwright
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing chromium for the browser tests" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "note: chromium is missing, so the browser tests skip; install it with: sudo apt-get install chromium" >&2
  fi
fi
export DREAMVID_OFFLINE=1   # the suite never downloads: torchvision weights come from state dicts it saves
exec .venv/bin/python -m pytest -q "$@"
