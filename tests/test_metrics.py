"""Tests for dreamvid.metrics: warping error, hallucination flicker, strength and its drift.

Clips are crops of one photo along a known path (a pan of 3 px right and 2 px up per frame), so the
motion is exact and the figures can be bounded tightly. The hallucination is built three ways: none,
a pattern that moves exactly with the scene (flicker ~0), and a fresh pattern each frame (flicker ~2).
"""

from __future__ import annotations

import math
import weakref

import cv2
import numpy as np
import pytest

from dreamvid import metrics
from dreamvid.errors import ConfigError, InputError
from dreamvid.metrics import ClipMetrics, clip_metrics

skimage_data = pytest.importorskip("skimage.data", reason="scikit-image provides the sample photos")

HEIGHT, WIDTH, FRAMES = 120, 160, 5
PHOTO = cv2.resize(skimage_data.astronaut(), (256, 256), interpolation=cv2.INTER_AREA)
WINDOWS = [(40 + 3 * t, 70 - 2 * t) for t in range(FRAMES)]  # top-left corner of each frame


def pan(image: np.ndarray) -> list[np.ndarray]:
    """The clip seen through the moving window, from a 256x256 ``image``."""
    return [np.ascontiguousarray(image[y:y + HEIGHT, x:x + WIDTH]) for x, y in WINDOWS]


def smooth_noise(shape: tuple[int, ...], sigma: float, seed: int) -> np.ndarray:
    """Gaussian-blurred (1 px) noise with standard deviation about ``sigma``: a stand-in for a dream."""
    noise = np.random.default_rng(seed).normal(0, 1, shape).astype(np.float32)
    blurred = cv2.GaussianBlur(noise, (0, 0), 1.0)
    return blurred * (sigma / blurred.std())


INPUTS = pan(PHOTO)
STILL = [INPUTS[0]] * 3  # a static scene: the flow is zero, every pixel reliable


def unit(frame: np.ndarray) -> np.ndarray:
    return frame.astype(np.float32) / 255


# --------------------------------------------------------------------------------------------- figures


class TestFigures:
    def test_output_equal_to_input(self) -> None:
        result = clip_metrics(INPUTS, INPUTS)
        assert result.strength == 0.0 and result.strength_per_frame == [0.0] * FRAMES
        assert result.hflicker == 0.0 and result.hflicker_per_pair == [0.0] * (FRAMES - 1)  # 0/0 := 0
        assert result.ewarp_output == result.ewarp_input
        assert result.strength_drift() == 0.0

    def test_input_warping_error_of_a_pure_pan_is_tiny(self) -> None:
        result = clip_metrics(INPUTS, INPUTS)
        assert 0 < result.ewarp_input < 1e-4  # measured 2.5e-5 (DESIGN: 1.5e-5 at 720p)

    def test_a_dream_that_moves_with_the_scene_does_not_flicker(self) -> None:
        dream = pan(smooth_noise((256, 256, 3), 0.05, seed=1))
        outputs = [unit(frame) + pattern for frame, pattern in zip(INPUTS, dream)]
        result = clip_metrics(INPUTS, outputs)
        assert result.hflicker < 0.05  # measured 0.004: DIS's 0.03 px flow error
        assert max(result.hflicker_per_pair) < 0.05
        assert result.ewarp_output < 2 * result.ewarp_input + 1e-5

    def test_a_fresh_dream_every_frame_flickers_about_2(self) -> None:
        outputs = [unit(frame) + smooth_noise((HEIGHT, WIDTH, 3), 0.05, seed=t)
                   for t, frame in enumerate(INPUTS)]
        result = clip_metrics(INPUTS, outputs)
        assert result.hflicker == pytest.approx(2, abs=0.2)  # measured 1.95
        assert len(result.hflicker_per_pair) == FRAMES - 1

    def test_warping_error_of_per_frame_noise_is_twice_its_variance(self) -> None:
        # Per channel: E‖n_t − warp(n_t+1)‖² = 2σ² (DESIGN §5: 4.8e-3 for σ = 0.05); bilinear
        # sampling at the flow's 0.01-0.03 px offsets averages a little of the noise away.
        sigma = 0.05
        rng = np.random.default_rng(7)
        outputs = [unit(frame) + rng.normal(0, sigma, frame.shape) for frame in INPUTS]
        result = clip_metrics(INPUTS, outputs)
        assert result.ewarp_output == pytest.approx(2 * sigma ** 2, rel=0.1)  # measured 4.7e-3
        assert result.hflicker == pytest.approx(2, abs=0.2)  # measured 1.88

    def test_strength_is_the_mean_absolute_change(self) -> None:
        outputs = [unit(frame) + 0.01 * t for t, frame in enumerate(INPUTS)]  # may exceed 1: not clipped
        result = clip_metrics(INPUTS, outputs)
        np.testing.assert_allclose(result.strength_per_frame, [0.0, 0.01, 0.02, 0.03, 0.04], atol=1e-6)
        assert result.strength == pytest.approx(0.02, abs=1e-6)

    def test_a_dream_appearing_from_nothing_is_2(self) -> None:
        # normalised by both frames of the pair: |0 - 0.1|² / (½ (0 + 0.1²)) = 2, not infinite
        outputs = [unit(STILL[0]), unit(STILL[1]) + 0.1, unit(STILL[2]) + 0.1]
        result = clip_metrics(STILL, outputs)
        assert result.hflicker_per_pair[0] == pytest.approx(2, rel=1e-4)
        assert result.hflicker_per_pair[1] == pytest.approx(0, abs=1e-9)  # a constant H on a still scene
        assert result.hflicker == pytest.approx(1, rel=1e-4)
        assert result.hflicker_median == pytest.approx(1, rel=1e-4)

    def test_one_weak_frame_does_not_dominate(self) -> None:
        # a dark, weakly dreamed frame 1 (H 0.002) between strong ones (H 0.1) on a still scene:
        # each pair is bounded by 4 (here |0.1 - 0.002|² / ½(0.1² + 0.002²) = 1.92); the old
        # first-frame normalisation gave 0.098² / 0.002² = 2401 for pair 1
        outputs = [unit(STILL[0]) + 0.1, unit(STILL[1]) + 0.002, unit(STILL[2]) + 0.1]
        result = clip_metrics(STILL, outputs)
        expected = 0.098**2 / (0.5 * (0.1**2 + 0.002**2))
        assert result.hflicker_per_pair == pytest.approx([expected, expected], rel=1e-3)
        assert result.hflicker_median == pytest.approx(expected, rel=1e-3)

    def test_a_flipped_dream_is_4(self) -> None:
        outputs = [unit(STILL[0]) + 0.1, unit(STILL[1]) - 0.1, unit(STILL[2]) + 0.1]
        result = clip_metrics(STILL, outputs)
        assert result.hflicker_per_pair == pytest.approx([4, 4], rel=1e-4)

    def test_uint8_and_float_frames_agree(self) -> None:
        outputs = [np.clip(frame.astype(np.int16) + 9 * (t % 2), 0, 255).astype(np.uint8)
                   for t, frame in enumerate(INPUTS)]
        as_uint8 = clip_metrics(INPUTS, outputs)
        as_float = clip_metrics([unit(f).astype(np.float64) for f in INPUTS], [unit(f) for f in outputs])
        for name in ("ewarp_output", "ewarp_input", "strength", "hflicker"):
            assert getattr(as_float, name) == pytest.approx(getattr(as_uint8, name), rel=1e-5)

    def test_the_flow_method_is_used_on_the_inputs(self) -> None:
        farneback = clip_metrics(INPUTS, INPUTS, flow_method="farneback")
        dis = clip_metrics(INPUTS, INPUTS)
        assert farneback.ewarp_input != dis.ewarp_input and farneback.ewarp_input < 1e-3

    def test_flow_runs_from_t_into_t_plus_1_on_the_inputs(self, monkeypatch: pytest.MonkeyPatch) -> None:
        calls: list[tuple[int, int]] = []
        real = metrics.make_flow

        def recording_make_flow(method: str):
            flow = real(method)
            index = {id(frame): t for t, frame in enumerate(INPUTS)}

            def recorded(a: np.ndarray, b: np.ndarray) -> np.ndarray:
                calls.append((index[id(a)], index[id(b)]))
                return flow(a, b)
            return recorded

        monkeypatch.setattr(metrics, "make_flow", recording_make_flow)
        outputs = [unit(frame) for frame in INPUTS]
        clip_metrics(INPUTS, outputs)
        assert calls[:4] == [(0, 1), (1, 0), (1, 2), (2, 1)]  # forward (for warping), then its check

    def test_pairs_without_reliable_pixels_are_left_out(self, monkeypatch: pytest.MonkeyPatch) -> None:
        flows = iter([1000.0, 1000.0, 0.0, 0.0])  # pair 0: everything leaves the frame; pair 1: still

        def fake_make_flow(method: str):
            return lambda a, b: np.full((*a.shape[:2], 2), next(flows), np.float32)

        monkeypatch.setattr(metrics, "make_flow", fake_make_flow)
        outputs = [unit(STILL[0]), unit(STILL[1]) + 0.1, unit(STILL[2]) + 0.1]
        result = clip_metrics(STILL, outputs)
        assert math.isnan(result.hflicker_per_pair[0]) and result.hflicker_per_pair[1] == pytest.approx(0)
        assert result.hflicker == pytest.approx(0)
        assert result.ewarp_input == 0.0

    def test_frames_are_not_modified_and_may_be_read_only(self) -> None:
        inputs = [frame.copy() for frame in INPUTS[:3]]
        outputs = [unit(frame) + 0.01 for frame in inputs]
        for frame in (*inputs, *outputs):
            frame.setflags(write=False)
        before = [frame.copy() for frame in (*inputs, *outputs)]
        clip_metrics(inputs, outputs)
        for frame, copy in zip((*inputs, *outputs), before):
            np.testing.assert_array_equal(frame, copy)


class TestStreaming:
    def test_generators_are_read_in_step_holding_few_frames(self) -> None:
        made: list[weakref.ref[np.ndarray]] = []
        most = 0

        def frames(count: int):
            nonlocal most
            for t in range(count):
                most = max(most, sum(ref() is not None for ref in made))
                frame = INPUTS[t % FRAMES].copy()
                made.append(weakref.ref(frame))
                yield frame

        result = clip_metrics(frames(12), frames(12))
        assert len(result.strength_per_frame) == 12 and len(result.hflicker_per_pair) == 11
        assert most <= 4  # two frames of each stream at a time, never the whole clip


# ------------------------------------------------------------------------------------------ ClipMetrics


class TestStrengthDrift:
    @staticmethod
    def drift(values: list[float]) -> float:
        return ClipMetrics(0.0, 0.0, 0.0, 0.0, values, []).strength_drift()

    def test_tenths_of_a_20_frame_clip_are_2_frames(self) -> None:
        values = [0.1, 0.3] + [9.0] * 16 + [0.3, 0.5]
        assert self.drift(values) == pytest.approx(0.4 / 0.2 - 1)

    def test_short_clips_use_one_frame_each(self) -> None:
        assert self.drift([0.2, 5.0, 5.0, 5.0, 0.3]) == pytest.approx(0.5)
        assert self.drift([0.4, 0.1]) == pytest.approx(-0.75)

    def test_steady_strength_is_zero(self) -> None:
        assert self.drift([0.05] * 30) == 0.0

    def test_zero_start(self) -> None:
        assert self.drift([0.0, 0.0]) == 0.0
        assert self.drift([0.0, 0.1]) == math.inf

    def test_no_frames(self) -> None:
        assert math.isnan(self.drift([]))

    def test_is_frozen(self) -> None:
        result = ClipMetrics(0.0, 0.0, 0.0, 0.0, [], [])
        with pytest.raises(AttributeError):
            result.strength = 1.0  # type: ignore[misc]


# -------------------------------------------------------------------------------------------- errors


class TestErrors:
    def test_output_of_another_size(self) -> None:
        outputs = [cv2.resize(frame, (80, 60)) for frame in INPUTS]
        with pytest.raises(InputError, match=r"output is 80x60 but input is 160x120 \(frame 0\); ") as info:
            clip_metrics(INPUTS, outputs)
        assert "\n" not in str(info.value)

    def test_size_changing_mid_clip(self) -> None:
        outputs = list(INPUTS[:2]) + [INPUTS[2][:, :100]]
        with pytest.raises(InputError, match=r"output is 100x120 but input is 160x120 \(frame 2\)"):
            clip_metrics(INPUTS[:3], outputs)
        with pytest.raises(InputError, match="input frame 2 is 100x120 but frame 0 is 160x120"):
            clip_metrics(outputs, outputs)

    @pytest.mark.parametrize(
        ("inputs", "outputs", "message"),
        [
            (3, 2, r"the input has more frames than the output \(output has 2\)"),
            (2, 3, r"the output has more frames than the input \(input has 2\)"),
        ],
    )
    def test_frame_counts_differ(self, inputs: int, outputs: int, message: str) -> None:
        with pytest.raises(InputError, match=message):
            clip_metrics(INPUTS[:inputs], INPUTS[:outputs])

    @pytest.mark.parametrize("count", [0, 1])
    def test_too_few_frames(self, count: int) -> None:
        with pytest.raises(InputError, match=f"temporal metrics need at least 2 frames, got {count}"):
            clip_metrics(INPUTS[:count], INPUTS[:count])

    def test_unknown_flow_method(self) -> None:
        with pytest.raises(ConfigError, match="unknown flow method 'optical'"):
            clip_metrics(INPUTS, INPUTS, flow_method="optical")

    @pytest.mark.parametrize(
        ("frame", "error", "message"),
        [
            ("frame", TypeError, "expected output frame 0 to be a numpy array, got str"),
            (np.zeros((HEIGHT, WIDTH), np.uint8), ValueError, r"output frame 0 of shape \(H, W, 3\)"),
            (np.zeros((HEIGHT, WIDTH, 3), np.int32), ValueError, "output frame 0 of dtype uint8 or float"),
        ],
    )
    def test_bad_frames(self, frame: object, error: type[Exception], message: str) -> None:
        with pytest.raises(error, match=message):
            clip_metrics(INPUTS[:2], [frame, INPUTS[1]])  # type: ignore[list-item]
