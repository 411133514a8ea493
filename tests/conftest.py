"""Test-session settings: nothing may download, and torchvision's weight cache starts empty.

Set at import time (before any test module imports torch.hub users), so every test sees an offline
environment and a private, empty ``TORCH_HOME``; tests that need other values use ``monkeypatch``.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

os.environ["DREAMVID_OFFLINE"] = "1"
_TORCH_HOME = tempfile.mkdtemp(prefix="dreamvid-tests-torch-home-")
os.environ["TORCH_HOME"] = _TORCH_HOME
atexit.register(shutil.rmtree, _TORCH_HOME, ignore_errors=True)
