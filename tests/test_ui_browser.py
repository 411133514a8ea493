"""The studio in a real browser: Debian's Chromium driven by Playwright.

Opens the page, uploads a picture, presses Render and waits for the output; the progress line and the
preview must have appeared. The screenshot is kept as a test artefact (``DREAMVID_SCREENSHOT=docs/studio.png``
writes it there, which is how the README's picture is made). Without Chromium the test skips locally; in
CI (``CI`` set) it fails instead: ``scripts/test.sh`` installs Chromium when it runs as root.
"""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import cv2
import pytest

pytest.importorskip("gradio")
playwright_api = pytest.importorskip("playwright.sync_api")

from dreamvid.ui.app import launch  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")

FAST = 'run.device="cpu"\nrun.threads=2'  # a dream that shows in a few seconds: 3 octaves of 8 steps, set in the fields


def chromium() -> str:
    """The Chromium binary to drive: ``$DREAMVID_CHROMIUM``, or Debian's ``chromium`` on the PATH."""
    found = os.environ.get("DREAMVID_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing in CI: scripts/test.sh installs it (apt-get install chromium) as root")
        pytest.skip("chromium is not installed (apt-get install chromium); the browser test needs it")
    return found


@pytest.fixture(scope="module")
def address(tmp_path_factory):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    demo, url = launch(host="127.0.0.1", port=port, root=tmp_path_factory.mktemp("studio"),
                       announce=lambda line: None, block=False)
    yield url
    demo.close()


def test_upload_render_and_see_the_output(address, tmp_path):
    from skimage import data

    photo = tmp_path / "astronaut.png"
    cv2.imwrite(str(photo), cv2.cvtColor(cv2.resize(data.astronaut(), (256, 256), interpolation=cv2.INTER_AREA),
                                         cv2.COLOR_RGB2BGR))
    screenshot = Path(os.environ.get("DREAMVID_SCREENSHOT") or tmp_path / "studio.png")
    args = ["--no-sandbox"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), headless=True, args=args)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(address)
            page.get_by_role("tab", name="Picture").wait_for(timeout=30_000)
            page.locator("#picture-input input[type=file]").set_input_files(str(photo))
            page.locator("#picture-input img").first.wait_for(timeout=30_000)  # the upload shows
            assert page.locator("#picture-objective textarea").input_value() == "b10"  # from the classic preset
            page.locator("#picture-class input").fill("banana")  # the class picker writes the objective
            page.locator("#picture-class input").press("Enter")
            page.wait_for_function("document.querySelector('#picture-objective textarea').value == 'class:banana'",
                                   timeout=10_000)
            assert page.locator("#picture-class input").input_value() == ""  # the picker empties itself
            page.locator("#picture-layer input").click()  # the layer picker, back to the preset's layer
            page.locator("#picture-layer li[aria-label='b10 · 112 channels · recommended']").click()
            page.wait_for_function("document.querySelector('#picture-objective textarea').value == 'b10'",
                                   timeout=10_000)
            page.get_by_label("Steps per octave").fill("8")
            page.get_by_label("Octaves").fill("3")
            page.get_by_label("Step size").fill("0.02")
            page.locator("#picture-more").get_by_text("360°, batch and advanced").click()
            page.locator("#picture-advanced textarea").fill(FAST)
            page.locator("#picture-render").click()
            page.locator("#picture-result img").first.wait_for(timeout=60_000)
            status = page.locator("#picture-status textarea").input_value()
            assert "step 24/24" in status and "done: picture-seed0.png" in status
            assert page.locator("#picture-preview img").first.is_visible()
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot), full_page=False)
        finally:
            browser.close()
    assert screenshot.stat().st_size > 10_000
