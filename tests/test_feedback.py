"""Feedback transforms and keyframed schedules (issue 4's building blocks)."""

from __future__ import annotations

import numpy as np
import pytest

from dreamvid.errors import ConfigError
from dreamvid.feedback import affine_matrix, compose, feedback_matrix, frame_matrix, warp_affine
from dreamvid.schedule import parse_schedule


def textured(height: int = 40, width: int = 48) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.random((height, width, 3), dtype=np.float32)


class TestAffine:
    def test_identity_leaves_a_frame_unchanged(self):
        image = textured()
        out = warp_affine(image, frame_matrix((48, 40), fps=30))
        assert np.array_equal(out, image) and out is not image

    def test_identity_uint8(self):
        image = (textured() * 255).astype(np.uint8)
        assert np.array_equal(warp_affine(image, affine_matrix((48, 40))), image)

    def test_rotate_90_exact_values(self):
        image = np.arange(9, dtype=np.float32).reshape(3, 3, 1)
        out = warp_affine(image, affine_matrix((3, 3), degrees=90))
        assert out[..., 0].tolist() == np.rot90(image[..., 0]).tolist()  # counter-clockwise on screen

    def test_rotate_minus_90_is_clockwise(self):
        image = np.arange(12, dtype=np.float32).reshape(3, 4, 1)[:, :3]
        out = warp_affine(np.ascontiguousarray(image), affine_matrix((3, 3), degrees=-90))
        assert out[..., 0].tolist() == np.rot90(image[..., 0], k=-1).tolist()

    def test_zoom_in_grows_content_about_the_centre(self):
        image = np.zeros((41, 41, 1), np.float32)
        image[20, 24] = 1.0  # 4 px right of the centre
        out = warp_affine(image, affine_matrix((41, 41), zoom=2.0), filter="linear")
        assert np.unravel_index(out[..., 0].argmax(), (41, 41)) == (20, 28)

    def test_shift_moves_content_right_and_down(self):
        image = np.zeros((20, 20, 1), np.float32)
        image[5, 5] = 1.0
        out = warp_affine(image, affine_matrix((20, 20), shift=(3, 2)), filter="linear")
        assert np.unravel_index(out[..., 0].argmax(), (20, 20)) == (7, 8)

    @pytest.mark.parametrize("kwargs", [
        dict(zoom_per_second=1.3, degrees_per_second=20),
        dict(shift_per_second=(6.0, -3.0)),
        dict(zoom_per_second=0.8, degrees_per_second=-45, shift_per_second=(12.0, 5.0), center=(0.3, 0.7)),
    ])
    def test_two_frames_at_60fps_equal_one_at_30fps(self, kwargs):
        m60 = frame_matrix((64, 48), fps=60, **kwargs)
        m30 = frame_matrix((64, 48), fps=30, **kwargs)
        assert np.allclose(compose(m60, m60), m30)

    def test_zoom_is_exponential_in_fps(self):
        # one second of frames multiplies the scale by exactly zoom_per_second, at any fps
        for fps in (24, 30, 60):
            m = frame_matrix((10, 10), fps=fps, zoom_per_second=1.5)
            total = m
            for _ in range(fps - 1):
                total = compose(m, total)
            assert total[0, 0] == pytest.approx(1.5)

    def test_one_second_of_frames_is_the_per_second_motion(self):
        # 30 frames at 30 fps = 1 frame at 1 fps, which is exactly zoom·R(degrees) about the centre
        kwargs = dict(zoom_per_second=1.4, degrees_per_second=30.0)
        m = frame_matrix((21, 21), fps=30, **kwargs)
        total = m
        for _ in range(29):
            total = compose(m, total)
        assert np.allclose(total, affine_matrix((21, 21), zoom=1.4, degrees=30.0))
        assert np.allclose(frame_matrix((21, 21), fps=1, **kwargs), affine_matrix((21, 21), zoom=1.4, degrees=30.0))

    def test_shift_alone_moves_its_pixels_per_second(self):
        m = frame_matrix((21, 21), fps=25, shift_per_second=(50.0, -25.0))
        assert np.allclose(m, [[1, 0, 2.0], [0, 1, -1.0]])

    def test_reflect_border_leaves_no_constant_edges(self):
        image = textured()
        out = warp_affine(image, affine_matrix((48, 40), zoom=0.8))
        assert out[0].std() > 0.05 and out[:, 0].std() > 0.05

    def test_input_not_modified(self):
        image = textured()
        before = image.copy()
        warp_affine(image, affine_matrix((48, 40), zoom=1.1, degrees=5))
        assert np.array_equal(image, before)

    @pytest.mark.parametrize("kwargs, message", [
        (dict(zoom=0.0), "zoom must be a positive number"),
        (dict(zoom=float("nan")), "zoom must be a positive number"),
    ])
    def test_bad_values(self, kwargs, message):
        with pytest.raises(ConfigError, match=message):
            affine_matrix((4, 4), **kwargs)

    def test_bad_fps_border_filter(self):
        with pytest.raises(ConfigError, match="fps must be positive"):
            frame_matrix((4, 4), fps=0)
        with pytest.raises(ConfigError, match="unknown border"):
            warp_affine(textured(), affine_matrix((48, 40), zoom=1.1), border="mirror")


class TestFeedbackMatrix:
    def test_identity_is_none(self):
        from dreamvid.config import ZoomConfig

        assert feedback_matrix(ZoomConfig(), (8, 8), 30) is None
        assert feedback_matrix(ZoomConfig(zoom=1.2), (8, 8), 30) is not None

    def test_evaluated_config(self):
        from dreamvid.config import load_config

        config = load_config(None, ["zoom.zoom='0:1.0, 10:2.0'", "zoom.center_x=0.25"])
        assert feedback_matrix(config.at(0).zoom, (9, 9), 1) is None
        expected = affine_matrix((9, 9), zoom=2.0, center=(0.25, 0.5))
        assert np.allclose(feedback_matrix(config.at(10).zoom, (9, 9), 1), expected)


class TestSchedule:
    def test_constant(self):
        assert parse_schedule(1.25)(0) == 1.25 and parse_schedule("1.25")(500) == 1.25

    def test_exact_at_and_between_keyframes(self):
        zoom = parse_schedule("0:1.0, 90:1.3, 180:1.0", name="zoom")
        assert [zoom(f) for f in (0, 90, 180)] == [1.0, 1.3, 1.0]
        assert zoom(30) == pytest.approx(1.1)
        assert zoom(135) == pytest.approx(1.15)
        assert zoom(-5) == 1.0 and zoom(1000) == 1.0

    def test_smooth_eases(self):
        s = parse_schedule("smooth 0:0, 100:1")
        assert s(0) == 0 and s(100) == 1 and s(50) == pytest.approx(0.5)
        assert s(25) == pytest.approx(0.15625)  # smoothstep(0.25)
        assert s(25) < 0.25

    def test_text_switches_at_keyframes(self):
        objective = parse_schedule("0:b8, 120:b12:7,9, 200:class:banana", name="objective")
        assert [objective(f) for f in (0, 119, 120, 199, 200, 999)] == ["b8", "b8", "b12:7,9", "b12:7,9",
                                                                       "class:banana", "class:banana"]

    @pytest.mark.parametrize("text, message", [
        ("0:1.0, x", "malformed schedule for zoom"),
        ("0:1.0, 90:", "malformed schedule for zoom"),
        ("a:1.0", "malformed schedule for zoom"),
        ("90:1.0, 10:1.3", "increasing frames"),
        ("0:1.0, 10:b8", "mixes numbers and text"),
        ("smooth 0:b8, 10:b12", "'smooth' needs numeric values"),
    ])
    def test_malformed_schedules(self, text, message):
        with pytest.raises(ConfigError, match=message):
            parse_schedule(text, name="zoom")

    def test_bool_refused(self):
        with pytest.raises(ConfigError, match="must be a number or a schedule"):
            parse_schedule(True, name="zoom")
