"""Stereo frames take the per-frame ``fresh_boost`` in both eyes: a schedule, and an audio reaction."""

from __future__ import annotations

import numpy as np

from dreamvid.arrays import to_uint8
from dreamvid.audio import NAMES, Envelopes
from dreamvid.config import load_config
from dreamvid.panorama import Layout
from dreamvid.pipeline import engine_for
from dreamvid.timeline import Timeline
from test_pipeline_video import dream_frames  # noqa: I001 (tests/ is on the path)

FAST = ["dream.octaves=1", "dream.steps=2", "video.seeded_octaves=1", "video.seeded_steps=2", "run.device='cpu'"]
STEREO = Layout("flat", "top-bottom")


def stereo_still() -> np.ndarray:
    """A top-bottom stereo frame: the right eye is the left moved 6 px (occlusions at the edge)."""
    from skimage import data

    import cv2

    left = cv2.resize(data.chelsea(), (64, 40), interpolation=cv2.INTER_AREA)
    return np.concatenate([left, np.roll(left, -6, axis=1)], axis=0)


def render(config, timeline=None) -> list[np.ndarray]:
    pairs = dream_frames([stereo_still()] * 2, engine_for(config), config, timeline=timeline, layout=STEREO)
    return [to_uint8(frame) for _, frame in pairs]


def test_scheduled_fresh_boost_dreams_a_stereo_video():
    out = render(load_config(None, [*FAST, "video.fresh_boost='0:0, 1:6'"]))
    assert len(out) == 2 and out[1].shape == stereo_still().shape


def test_a_reaction_on_fresh_boost_reaches_the_right_eye():
    config = load_config(None, [*FAST, "video.fresh_boost=0", "audio.react=['fresh_boost = 6 * rms']"])
    loud = Envelopes(30.0, {name: np.ones(2, np.float32) for name in NAMES})
    reacted = render(config, Timeline(config, loud))
    plain = render(load_config(None, [*FAST, "video.fresh_boost=6"]))
    rest = render(load_config(None, [*FAST, "video.fresh_boost=0"]))
    right = slice(40, None)
    assert not np.array_equal(plain[0][right], rest[0][right])  # fresh_boost matters in the right eye
    assert all(np.array_equal(a, b) for a, b in zip(reacted, plain))
