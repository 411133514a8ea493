"""The public Python API: ``import dreamvid`` is light and documented; ``dream`` keeps the caller's type;
renders report previews, stop cleanly on an event and resume to the frames of an uninterrupted render."""

from __future__ import annotations

import pydoc
import subprocess
import sys
import threading
from fractions import Fraction

import numpy as np
import pytest
import torch

import dreamvid
from dreamvid.checkpoint import checkpoint_dir, frames_kept
from dreamvid.video import read_frames

LIGHT = ["dream.octaves=1", "dream.steps=1", "video.seeded_octaves=1", "video.seeded_steps=1", "run.device='cpu'"]
API = ["Config", "RenderStopped", "analyze_audio", "dream", "dream_image", "load_config", "render_video", "render_zoom"]


def test_import_is_light_and_help_shows_the_api():
    code = "import sys, dreamvid; print('torch' in sys.modules); dreamvid.load_config('classic'); print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False"]
    text = pydoc.render_doc(dreamvid, renderer=pydoc.plaintext)
    for name in API:
        assert name in text
    assert all(callable(getattr(dreamvid, name)) for name in API)
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        dreamvid.nothing  # noqa: B018


@pytest.fixture(scope="module")
def config():
    return dreamvid.load_config(None, ["dream.octaves=1", "dream.steps=2", "dream.objective=b4", "run.device='cpu'"])


def picture() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.chelsea()[::8, ::8])  # 38×57 RGB


def test_dream_keeps_the_type_shape_and_dtype(config):
    frame = picture()
    before = frame.copy()
    out = dreamvid.dream(frame, config)
    assert out.dtype == np.uint8 and out.shape == frame.shape and np.array_equal(frame, before)
    assert np.abs(out.astype(int) - frame).mean() > 0.5  # it dreamed
    as_float = dreamvid.dream(frame.astype(np.float64) / 255, config)
    assert as_float.dtype == np.float64 and as_float.shape == frame.shape
    tensor = torch.from_numpy(frame).permute(2, 0, 1).float() / 255
    for image in (tensor, tensor[None], tensor.double()):
        out_t = dreamvid.dream(image, config)
        assert isinstance(out_t, torch.Tensor) and out_t.shape == image.shape and out_t.dtype == image.dtype
    # the same seed dreams the same picture, whichever type it came in
    assert np.abs(out_t.float().permute(1, 2, 0).numpy() * 255 - out).max() <= 1


@pytest.mark.parametrize("bad, error", [
    (np.zeros((8, 8), np.uint8), ValueError),
    (np.zeros((8, 8, 3), np.int32), ValueError),
    (torch.zeros(2, 3, 8, 8), ValueError),
    (torch.zeros(3, 8, 8, dtype=torch.uint8), ValueError),
    ([[0, 0, 0]], TypeError),
])
def test_dream_refuses_what_is_not_an_image(config, bad, error):
    with pytest.raises(error, match="expected"):
        dreamvid.dream(bad, config)


def stop_after(frames: int, event: threading.Event, previews: list):
    """A progress callback that records previews and sets ``event`` once ``frames`` frames are done."""
    def progress(done: int, total: int, preview=None) -> None:
        if preview is not None:
            previews.append((done, preview.shape, preview.dtype))
        if done >= frames:
            event.set()
    return progress


def test_zoom_stops_on_the_event_and_resumes_to_the_same_frames(tmp_path):
    config = dreamvid.load_config("endless-zoom", LIGHT)
    options = dict(fps=Fraction(12), frames=6, size=(48, 32), loop=0.25)
    whole = dreamvid.render_zoom(config, tmp_path / "whole.gif", **options)
    stop, previews = threading.Event(), []
    with pytest.raises(dreamvid.RenderStopped) as stopped:
        dreamvid.render_zoom(config, tmp_path / "z.gif", progress=stop_after(2, stop, previews), stop=stop, **options)
    assert stopped.value.frames_done == 2 == frames_kept(tmp_path / "z.gif")
    assert previews == [(1, (32, 48, 3), np.uint8), (2, (32, 48, 3), np.uint8)]
    assert not (tmp_path / "z.gif").exists()
    out = dreamvid.render_zoom(config, tmp_path / "z.gif", resume=True, **options)
    a, b = list(read_frames(whole)), list(read_frames(out))
    assert len(a) == len(b) == 6 and all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not checkpoint_dir(out).exists()


def test_video_stops_on_the_event_and_resumes_to_the_same_frames(tmp_path):
    from test_pipeline_video import make_clip, pan

    clip = make_clip(tmp_path / "in.mp4", pan(5, width=64, height=48))
    config = dreamvid.load_config("video", LIGHT)
    whole = dreamvid.render_video(config, clip, tmp_path / "whole")
    stop = threading.Event()
    stop.set()  # set before the first frame: nothing is rendered, nothing is lost
    with pytest.raises(dreamvid.RenderStopped) as stopped:
        dreamvid.render_video(config, clip, tmp_path / "frames", stop=stop)
    assert stopped.value.frames_done == 0
    stop = threading.Event()
    with pytest.raises(dreamvid.RenderStopped):
        dreamvid.render_video(config, clip, tmp_path / "frames", resume=True, stop=stop,
                              progress=stop_after(3, stop, []))
    assert frames_kept(tmp_path / "frames") == 3
    out = dreamvid.render_video(config, clip, tmp_path / "frames", resume=True)
    a, b = list(read_frames(whole)), list(read_frames(out))
    assert len(a) == len(b) == 5 and all(np.array_equal(x, y) for x, y in zip(a, b))


def test_analyze_audio_takes_samples_or_a_file(tmp_path):
    from test_audio import CLICKS, click_track, write_wav

    song = write_wav(tmp_path / "song.wav", click_track(CLICKS[:4], 2.0))
    from_file = dreamvid.analyze_audio(song, fps=10)
    from dreamvid.video import read_audio

    from_samples = dreamvid.analyze_audio(read_audio(song), fps=10)
    assert from_file.frames == from_samples.frames == 20
    assert all(np.array_equal(from_file[name], from_samples[name]) for name in ("rms", "onset", "low"))
