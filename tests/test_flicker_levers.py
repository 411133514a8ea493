"""The flicker levers of ``[video]`` (opt-in; the defaults keep every output as it was, which the golden
tests pin): the resampling of the carried dream, and how unreliable and reliable pixels are treated."""

from __future__ import annotations

import numpy as np
import pytest

from dreamvid.errors import ConfigError
from dreamvid.flow import warp
from dreamvid.settings import VideoConfig


@pytest.fixture
def detail() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.normal(0, 0.1, (24, 40, 3)).astype(np.float32)


@pytest.mark.parametrize("interpolation", ["linear", "cubic", "lanczos"])
def test_no_motion_moves_nothing(detail, interpolation):
    still = np.zeros((24, 40, 2), np.float32)
    assert np.array_equal(warp(detail, still, interpolation=interpolation), detail)


@pytest.mark.parametrize("interpolation", ["cubic", "lanczos"])
def test_a_panorama_wraps_with_the_wide_kernels(detail, interpolation):
    """Shifting a panorama by whole columns rolls it, the seam included; a half-pixel shift matches the
    same shift of the panorama laid out three times."""
    shift = np.zeros((24, 40, 2), np.float32)
    shift[..., 0] = 3
    assert np.allclose(warp(detail, shift, wrap_x=True, interpolation=interpolation), np.roll(detail, -3, axis=1))
    shift[..., 0] = 0.5
    tiled = np.concatenate([detail] * 3, axis=1)
    wide = warp(tiled, np.concatenate([shift] * 3, axis=1), interpolation=interpolation)[:, 40:80]
    assert np.allclose(warp(detail, shift, wrap_x=True, interpolation=interpolation), wide, atol=1e-5)


def test_cubic_keeps_more_of_the_detail_it_moves_than_linear(detail):
    """Ten half-pixel moves there and back: bilinear blurs the detail away faster than bicubic."""
    there = np.zeros((24, 40, 2), np.float32)
    there[..., 0] = 0.5
    kept = {}
    for interpolation in ("linear", "cubic"):
        moved = detail
        for k in range(10):
            moved = warp(moved, there if k % 2 == 0 else -there, border="reflect", interpolation=interpolation)
        kept[interpolation] = float(np.std(moved[4:-4, 4:-4]))
    assert kept["cubic"] > 1.3 * kept["linear"]


def test_an_unknown_interpolation_is_one_line():
    with pytest.raises(ConfigError, match="unknown interpolation 'nearest'"):
        warp(np.zeros((2, 2), np.float32), np.zeros((2, 2, 2), np.float32), interpolation="nearest")


@pytest.mark.parametrize("key, value, expected", [
    ("warp", "nearest", "one of"), ("unreliable_carry", 1.5, "0 to 1"), ("reliable_step", -1, "0 to 10")])
def test_the_settings_say_their_range(key, value, expected):
    with pytest.raises(ConfigError, match=expected):
        VideoConfig(**{key: value})


def test_the_defaults_change_nothing():
    config = VideoConfig()
    assert (config.warp, config.unreliable_carry, config.reliable_step) == ("linear", 0.0, 1.0)
