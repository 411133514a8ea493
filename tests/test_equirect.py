"""Tests for dreamvid.equirect (360° geometry) and the ``wrap_x`` options of dreamvid.flow.

Test panoramas are functions of the direction on the sphere (so they are continuous across the seam
and at the poles, and the expected result of a motion is known exactly), or a photo made periodic by
mirroring (for optical flow, which needs real texture).
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from dreamvid import equirect
from dreamvid.equirect import (
    face_size,
    from_face,
    latitudes,
    longitudes,
    motion_maps,
    motion_per_frame,
    to_face,
    warp_equirect,
)
from dreamvid.errors import ConfigError
from dreamvid.flow import change_score, make_flow, periodic_flow, reliability, warp

skimage_data = pytest.importorskip("skimage.data", reason="scikit-image provides the sample photos")


def directions(width: int, height: int) -> np.ndarray:
    """The panorama whose pixels are their own unit directions ``(x, y, z)``: x right, y up, z front."""
    lam, phi = longitudes(width)[None, :], latitudes(height)[:, None]
    x, y, z = np.cos(phi) * np.sin(lam), np.sin(phi) + 0 * lam, np.cos(phi) * np.cos(lam)
    return np.stack([x, y, z], axis=-1).astype(np.float32)


def smooth(width: int = 128, height: int = 64) -> np.ndarray:
    """A smooth colour panorama (functions of the direction, so no seam and no pole singularity)."""
    x, y, z = np.moveaxis(directions(width, height).astype(np.float64), -1, 0)
    red = 0.5 + 0.2 * np.sin(3 * x + 2 * y + 1) + 0.15 * np.cos(2 * z - 3 * y)
    green = 0.5 + 0.2 * np.cos(2 * x - y + z) + 0.1 * np.sin(4 * x * z)
    return np.stack([red, green, 0.5 + 0.3 * y], axis=-1).astype(np.float32)


def photo_panorama(width: int = 256, height: int = 128) -> np.ndarray:
    """A uint8 photo panorama, periodic in x: the astronaut next to its mirror image."""
    photo = cv2.resize(skimage_data.astronaut(), (width // 2, height), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(np.concatenate([photo, photo[:, ::-1]], axis=1))


def seam_ratio(image: np.ndarray) -> float:
    """Mean |difference| across the wrap seam over the mean across the two columns next to it."""
    step = np.abs(np.diff(image.astype(np.float64), axis=1, append=image[:, :1])).mean(axis=(0, 2))
    return float(step[-1] / ((step[-2] + step[0]) / 2))


# ------------------------------------------------------------------------------------------ coordinates


class TestCoordinates:
    def test_latitudes_are_row_centres_north_first(self):
        assert np.degrees(latitudes(4)).tolist() == [67.5, 22.5, -22.5, -67.5]

    def test_longitudes_are_column_centres_front_in_the_middle(self):
        assert np.degrees(longitudes(4)).tolist() == [-135.0, -45.0, 45.0, 135.0]
        assert longitudes(5)[2] == 0.0

    @pytest.mark.parametrize("size", [0, -3, 2.0, True])
    def test_bad_sizes(self, size):
        with pytest.raises(ValueError, match="positive integer"):
            latitudes(size)


# ------------------------------------------------------------------------------------------ polar faces


class TestFaces:
    def test_face_size_matches_the_equator_density(self):
        assert face_size(2048) == round(2048 / math.pi * math.tan(math.radians(50)))
        assert face_size(2048, 90.0) == 652  # W/π
        assert to_face(smooth(), "north").shape == (face_size(128), face_size(128), 3)

    def test_north_face_looks_up_with_the_front_at_the_bottom(self):
        face = to_face(directions(128, 64), "north", fov_deg=90.0, size=21)
        np.testing.assert_allclose(face[10, 10], [0, 1, 0], atol=2e-3)  # the centre is the north pole
        assert face[20, 10, 2] > 0.6 and abs(face[20, 10, 0]) < 1e-3  # bottom: the front (z)
        assert face[10, 20, 0] > 0.6 and abs(face[10, 20, 2]) < 1e-3  # right: λ = 90° (x)
        assert face[0, 10, 2] < -0.6  # top: the back

    def test_south_face_looks_down_with_the_front_at_the_top(self):
        face = to_face(directions(128, 64), "south", fov_deg=90.0, size=21)
        np.testing.assert_allclose(face[10, 10], [0, -1, 0], atol=2e-3)
        assert face[0, 10, 2] > 0.6 and abs(face[0, 10, 0]) < 1e-3  # top: the front
        assert face[10, 20, 0] > 0.6  # right: λ = 90°
        assert face[20, 10, 2] < -0.6  # bottom: the back

    def test_face_edges_are_at_the_field_of_view(self):
        face = to_face(directions(256, 128), "north", fov_deg=90.0, size=400)
        latitude_at_bottom_edge = np.degrees(np.arcsin(face[-1, 200, 1]))
        assert latitude_at_bottom_edge == pytest.approx(45.0, abs=0.3)

    @pytest.mark.parametrize("pole", ["north", "south"])
    def test_round_trip_reproduces_a_smooth_panorama_in_the_cap(self, pole):
        image = smooth(256, 128)
        back, mask = from_face(to_face(image, pole), pole, 256, 128)
        error = np.abs(back - image)[mask > 0]
        assert error.mean() < 3e-4 and error.max() < 1e-2  # measured 8e-5 and 2.4e-3

    @pytest.mark.parametrize("pole", ["north", "south"])
    @pytest.mark.parametrize("fov", [60.0, 100.0, 120.0])
    def test_mask_covers_the_cap_and_stops_at_the_corners(self, pole, fov):
        mask = from_face(np.zeros((40, 40, 3), np.float32), pole, 128, 64, fov_deg=fov)[1]
        lat = np.degrees(latitudes(64)) * (1 if pole == "north" else -1)
        corner = 90 - np.degrees(np.arctan(math.sqrt(2) * math.tan(math.radians(fov / 2))))
        assert mask[lat >= 90 - fov / 2].min() == 1.0
        assert mask[lat < corner].max() == 0.0
        assert set(np.unique(mask).tolist()) == {0.0, 1.0}

    def test_a_one_row_panorama_has_no_cap(self):
        frame, mask = from_face(np.ones((8, 8), np.float32), "north", 16, 1)
        assert frame.shape == (1, 16) and mask.max() == 0.0

    def test_from_face_is_zero_outside_the_mask(self):
        frame, mask = from_face(np.full((30, 30, 3), 7, np.uint8), "north", 64, 32)
        assert frame.dtype == np.uint8 and frame.shape == (32, 64, 3)
        assert (frame[mask == 0] == 0).all() and (frame[mask == 1] == 7).all()

    @pytest.mark.parametrize("shape", [(32, 64), (32, 64, 1), (32, 64, 2), (32, 64, 3), (32, 64, 5)])
    @pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.float64])
    def test_shapes_and_dtypes(self, shape, dtype):
        image = np.random.default_rng(0).integers(0, 256, shape).astype(dtype)
        face = to_face(image, "south", size=12)
        assert face.shape == (12, 12) + shape[2:] and face.dtype == dtype
        back, mask = from_face(face, "south", 64, 32)
        assert back.shape == shape and back.dtype == dtype and mask.shape == (32, 64)

    def test_channels_are_independent(self):
        image = smooth()
        face = to_face(image, "north")
        for c in range(3):
            np.testing.assert_allclose(to_face(image[..., c], "north"), face[..., c], atol=1e-6)

    def test_inputs_are_not_modified_and_maps_are_cached(self):
        image = smooth()
        image.setflags(write=False)
        face = to_face(image, "north")
        face.setflags(write=False)
        from_face(face, "north", 128, 64)
        maps = equirect._face_maps("north", face.shape[0], 100.0, 128, 64)
        assert maps is equirect._face_maps("north", face.shape[0], 100.0, 128, 64)
        assert not maps[0].flags.writeable

    def test_bad_arguments(self):
        image = smooth()
        with pytest.raises(ConfigError, match="pole 'north' or 'south'"):
            to_face(image, "east")
        with pytest.raises(ConfigError, match="between 0 and 180"):
            to_face(image, "north", fov_deg=180.0)
        with pytest.raises(ConfigError, match="between 0 and 180"):
            face_size(100, 0)
        with pytest.raises(ValueError, match="square face"):
            from_face(np.zeros((10, 12, 3), np.float32), "north", 64, 32)
        with pytest.raises(ValueError, match="shape"):
            to_face(np.zeros((4, 8, 3, 1), np.float32), "north")
        with pytest.raises(TypeError, match="numpy array"):
            to_face([[0.0]], "north")
        with pytest.raises(ConfigError, match="unknown filter"):
            to_face(image, "north", filter="nearest")


# --------------------------------------------------------------------------------------------- motion


class TestMotion:
    def test_no_motion_is_none_and_warping_with_none_copies(self):
        image = smooth()
        assert motion_maps(128, 64) is None
        assert motion_maps(128, 64, zoom=1, roll=0, yaw=0.0, pitch=0) is None
        out = warp_equirect(image, None)
        assert np.array_equal(out, image) and out is not image

    def test_zero_yaw_maps_leave_the_frame_unchanged(self):
        image = smooth()
        assert np.array_equal(warp_equirect(image, motion_maps(128, 64, yaw=360.0)), image)

    @pytest.mark.parametrize("k", [1, 7, -3, 64, 130])
    @pytest.mark.parametrize("dtype", [np.float32, np.uint8])
    def test_yaw_by_whole_pixels_is_np_roll(self, k, dtype):
        image = np.random.default_rng(k % 7).integers(0, 256, (16, 32, 3)).astype(dtype)
        out = warp_equirect(image, motion_maps(32, 16, yaw=360.0 * k / 32))
        assert np.array_equal(out, np.roll(image, -k, axis=1))  # turning right moves the picture left

    def test_yaw_through_the_general_path_matches_the_shift(self):
        shift_x, _ = motion_maps(128, 64, yaw=10.0)
        general_x, general_y = motion_maps(128, 64, yaw=10.0, pitch=1e-9)
        np.testing.assert_allclose(general_x, shift_x, atol=2e-3)
        np.testing.assert_allclose(general_y, np.arange(64)[:, None] + 0 * general_y, atol=2e-3)

    def test_roll_90_exact_values(self):
        # 5x5: the front is pixel (2, 2); its right neighbour (3, 2) is 72° away, as is row 0 above it
        image = np.arange(25, dtype=np.float32).reshape(5, 5, 1)
        out = warp_equirect(image, motion_maps(5, 5, roll=90.0))[..., 0]
        src = image[..., 0]
        assert out[2, 2] == src[2, 2]  # the front stays
        assert out[0, 2] == src[2, 3]  # right → top (counter-clockwise)
        assert out[2, 1] == src[0, 2]  # top → left
        assert out[4, 2] == src[2, 1]  # left → bottom
        assert out[2, 3] == src[4, 2]  # bottom → right

    def test_pitch_up_moves_the_picture_down(self):
        map_x, map_y = motion_maps(65, 33, pitch=10.0)
        assert map_x[16, 32] == pytest.approx(32, abs=1e-4)
        assert map_y[16, 32] == pytest.approx(16 - 10 / (180 / 33), abs=1e-4)  # the front shows what was above

    def test_zoom_keeps_the_front_and_back_and_magnifies_by_zoom(self):
        zoom, width, height = 1.2, 65, 33  # odd sizes: the front (32, 16) is a pixel centre
        map_x, map_y = motion_maps(width, height, zoom=zoom)
        pixel = 2 * math.pi / width
        assert (map_x[16, 32], map_y[16, 32]) == pytest.approx((32, 16), abs=1e-4)
        near = 2 * math.atan(math.tan(pixel / 2) / zoom) / pixel  # stereographic: tan(θ/2) / zoom
        assert map_x[16, 33] - 32 == pytest.approx(near, abs=1e-4)
        assert near == pytest.approx(1 / zoom, abs=1e-3)
        assert map_y[16 - 1, 32] - 16 == pytest.approx(-near, abs=1e-4)  # same in every direction
        # the back (the seam) stays; pixels half a column from it now sample zoom·½ column from it
        far = 2 * math.atan(math.tan(pixel / 4) * zoom) / pixel
        assert map_x[16, 0] == pytest.approx(far - 0.5, abs=1e-4)
        assert map_x[16, -1] == pytest.approx(width - 0.5 - far, abs=1e-4)
        assert far == pytest.approx(zoom / 2, abs=1e-3)

    def test_zoom_out_is_the_inverse_of_zoom_in(self):
        image = smooth(256, 128)
        out = warp_equirect(warp_equirect(image, motion_maps(256, 128, zoom=1.1)), motion_maps(256, 128, zoom=1 / 1.1))
        assert np.abs(out - image).mean() < 5e-4

    @pytest.mark.parametrize("rates", [  # per second: 2 to 4° a frame at 30 fps
        dict(zoom=3.0), dict(roll=120.0), dict(pitch=-60.0, yaw=90.0),
        dict(zoom=3.0, roll=120.0, yaw=90.0, pitch=60.0),
    ])
    def test_two_frames_at_60fps_equal_one_at_30fps(self, rates):
        image = smooth(256, 128)
        m60 = motion_maps(256, 128, **motion_per_frame(60, **rates))
        m30 = motion_maps(256, 128, **motion_per_frame(30, **rates))
        twice = warp_equirect(warp_equirect(image, m60), m60)
        once = warp_equirect(image, m30)
        assert np.abs(twice - once).mean() < 0.05 * np.abs(once - image).mean()

    def test_motion_matches_the_rotated_function_everywhere_poles_included(self):
        # pitching up by 30° samples every direction d at R·d: pixels near the pole read across it
        image, (map_x, map_y) = directions(256, 128), motion_maps(256, 128, pitch=30.0)
        out = warp_equirect(image, (map_x, map_y))
        a = math.radians(30)
        x, y, z = np.moveaxis(image, -1, 0)
        expected = np.stack([x, y * math.cos(a) + z * math.sin(a), z * math.cos(a) - y * math.sin(a)], -1)
        error = np.abs(out - expected)
        assert error.mean() < 2e-4 and error.max() < 3e-3

    def test_motion_per_frame(self):
        assert motion_per_frame(30, zoom=1.5, roll=3, yaw=-15, pitch=6) == pytest.approx(
            {"zoom": 1.5 ** (1 / 30), "roll": 0.1, "yaw": -0.5, "pitch": 0.2})
        with pytest.raises(ConfigError, match="positive fps"):
            motion_per_frame(0)
        with pytest.raises(ConfigError, match="zoom"):
            motion_per_frame(30, zoom=-1.0)

    @pytest.mark.parametrize("motion", [dict(zoom=1.1), dict(roll=10.0), dict(pitch=10.0, yaw=3.3),
                                        dict(zoom=1.3, roll=30.0, pitch=20.0, yaw=10.0)])
    def test_no_seam(self, motion):
        image = smooth(256, 128)
        maps = motion_maps(256, 128, **motion)
        assert seam_ratio(image) == pytest.approx(1.0, abs=0.02)
        assert seam_ratio(warp_equirect(image, maps)) == pytest.approx(1.0, abs=0.05)  # measured ≤ 1.02

    @pytest.mark.parametrize("motion", [dict(zoom=1.1), dict(roll=10.0), dict(pitch=10.0, yaw=3.3),
                                        dict(zoom=1.3, roll=30.0, pitch=20.0, yaw=10.0)])
    def test_the_seam_is_sampled_like_the_middle(self, motion):
        # Turning the panorama 180° puts the seam in the middle; the motion seen from the back is the
        # same motion with zoom, roll and pitch reversed. Both ways must agree on a textured image.
        # (Measured: 0 difference; 0.2–0.5 where the padding repeats the edge columns instead.)
        image = cv2.GaussianBlur(np.random.default_rng(0).random((64, 128, 3)).astype(np.float32), (0, 0), 1.0)
        turned = np.roll(warp_equirect(np.roll(image, 64, axis=1), motion_maps(128, 64, **motion)), 64, axis=1)
        reversed_motion = dict(zoom=1 / motion.get("zoom", 1.0), roll=-motion.get("roll", 0.0),
                               yaw=motion.get("yaw", 0.0), pitch=-motion.get("pitch", 0.0))
        direct = warp_equirect(image, motion_maps(128, 64, **reversed_motion))
        assert np.abs(turned - direct).max() < 1e-4

    def test_samples_beyond_the_top_and_bottom_rows_cross_the_pole(self):
        image = np.arange(8, dtype=np.float32).reshape(2, 4)  # rows [0 1 2 3] and [4 5 6 7]
        columns = np.tile(np.arange(4, dtype=np.float32), (2, 1))
        above, below = np.full((2, 4), -1.0, np.float32), np.full((2, 4), 2.0, np.float32)
        assert warp_equirect(image, (columns, above))[0].tolist() == [2.0, 3.0, 0.0, 1.0]  # half a turn
        assert warp_equirect(image, (columns, below))[0].tolist() == [6.0, 7.0, 4.0, 5.0]
        odd = np.arange(6, dtype=np.float32).reshape(2, 3)  # odd W: no column is opposite, the edge row repeats
        assert warp_equirect(odd, (columns[:, :3], above[:, :3]))[0].tolist() == [0.0, 1.0, 2.0]

    def test_samples_past_the_left_and_right_edges_wrap(self):
        image = np.arange(8, dtype=np.float32).reshape(2, 4)
        rows = np.zeros((2, 4), np.float32)
        left = np.tile(np.arange(-2, 2, dtype=np.float32), (2, 1))
        assert warp_equirect(image, (left, rows))[0].tolist() == [2.0, 3.0, 0.0, 1.0]
        assert warp_equirect(image, (left + 4.5, rows), filter="linear")[0].tolist() == [2.5, 1.5, 0.5, 1.5]  # 3.5: between 3 and 0

    @pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.float64])
    @pytest.mark.parametrize("shape", [(16, 32), (16, 32, 1), (16, 32, 2), (16, 32, 3), (16, 32, 6)])
    def test_shapes_and_dtypes(self, shape, dtype):
        image = np.random.default_rng(1).integers(0, 256, shape).astype(dtype)
        out = warp_equirect(image, motion_maps(32, 16, zoom=1.05, roll=5.0))
        assert out.shape == shape and out.dtype == dtype

    def test_inputs_are_not_modified_and_maps_are_cached_read_only(self):
        image = smooth()
        image.setflags(write=False)
        maps = motion_maps(128, 64, zoom=1.01, yaw=0.5)
        warp_equirect(image, maps)
        assert maps is motion_maps(128, 64, zoom=1.01, yaw=0.5)
        assert not maps[0].flags.writeable and not maps[1].flags.writeable

    def test_bad_arguments(self):
        with pytest.raises(ConfigError, match="zoom"):
            motion_maps(32, 16, zoom=0.0)
        with pytest.raises(ConfigError, match="finite"):
            motion_maps(32, 16, yaw=math.nan)
        with pytest.raises(ValueError, match="positive integer"):
            motion_maps(0, 16, yaw=1.0)
        with pytest.raises(ValueError, match="maps of the image's size"):
            warp_equirect(smooth(), motion_maps(32, 16, yaw=1.0))
        with pytest.raises(ConfigError, match="unknown filter"):
            warp_equirect(smooth(), None, filter="area")


# ------------------------------------------------------------------------------------ flow across the seam


SHIFT = 7  # current = previous rolled 7 px right: current(p) = previous(p − 7), so b = (−7, 0)


def rolled_pair() -> tuple[np.ndarray, np.ndarray]:
    previous = photo_panorama()
    return previous, np.roll(previous, SHIFT, axis=1)


def seam_columns(width: int, reach: int = 4) -> np.ndarray:
    return np.r_[0:reach, width - reach:width]


class TestFlowWrap:
    ROWS = slice(16, -16)

    def test_periodic_flow_tracks_content_across_the_seam(self):
        previous, current = rolled_pair()
        near = seam_columns(current.shape[1])
        wrapped = make_flow("dis", wrap_x=True)(current, previous)[self.ROWS][:, near]
        plain = make_flow("dis")(current, previous)[self.ROWS][:, near]
        wrapped_error = np.abs(wrapped - [-SHIFT, 0]).sum(-1)
        plain_error = np.abs(plain - [-SHIFT, 0]).sum(-1)
        assert wrapped_error.mean() < 0.15 and wrapped_error.max() < 0.5  # measured 0.027 and 0.08 px
        assert plain_error.mean() > 10 * wrapped_error.mean()  # measured 0.78 px: extrapolated, not tracked

    def test_make_flow_wrap_x_is_periodic_flow(self):
        previous, current = rolled_pair()
        np.testing.assert_array_equal(make_flow("dis-fast", wrap_x=True)(current, previous),
                                      periodic_flow(make_flow("dis-fast"))(current, previous))

    @pytest.mark.parametrize("margin", [0, 3, 300])
    def test_periodic_flow_margins_and_narrow_frames(self, margin):
        previous, current = rolled_pair()
        flow = periodic_flow(make_flow("dis-fast"), margin=margin)(current[:40, :48], previous[:40, :48])
        assert flow.shape == (40, 48, 2) and flow.dtype == np.float32

    def test_periodic_flow_reports_bad_frames_and_margins(self):
        with pytest.raises(ValueError, match="equal size"):
            periodic_flow(make_flow("dis-fast"))(np.zeros((40, 64, 3), np.uint8), np.zeros((40, 60, 3), np.uint8))
        with pytest.raises(ConfigError, match="margin"):
            periodic_flow(make_flow("dis-fast"), margin=-1)

    def test_warp_with_wrap_x_rebuilds_the_frame_across_the_seam(self):
        previous, current = rolled_pair()
        exact = np.zeros(current.shape[:2] + (2,), np.float32)
        exact[..., 0] = -SHIFT
        assert np.array_equal(warp(previous, exact, wrap_x=True), current)
        assert not np.array_equal(warp(previous, exact), current)
        estimated = make_flow("dis", wrap_x=True)(current, previous)
        error = np.abs(warp(previous, estimated, wrap_x=True).astype(float) - current)[self.ROWS].mean(axis=(0, 2))
        near = seam_columns(current.shape[1])
        assert error[near].mean() < 1.5 * np.median(error) + 0.5  # 0–255 levels; measured 0.25 vs 0.26
        plain = make_flow("dis")(current, previous)
        plain_error = np.abs(warp(previous, plain).astype(float) - current)[self.ROWS].mean(axis=(0, 2))
        assert plain_error[near].mean() > 10  # measured 24.7: the seam shows without wrap_x

    def test_warp_with_wrap_x_half_pixel_and_rows_kept_apart(self):
        row = np.array([[10.0, 20.0, 30.0]], np.float32)
        half = np.zeros((1, 3, 2), np.float32)
        half[..., 0] = 0.5
        assert warp(row, half, wrap_x=True).tolist() == [[15.0, 25.0, 20.0]]
        assert warp(row, -half, wrap_x=True).tolist() == [[20.0, 15.0, 25.0]]
        column = np.array([[10.0], [20.0], [30.0]], np.float32)
        up = np.zeros((3, 1, 2), np.float32)
        up[..., 1] = -1
        assert warp(column, up, wrap_x=True).tolist() == [[10.0], [10.0], [20.0]]  # rows replicate

    def test_warp_with_wrap_x_takes_any_number_of_turns(self):
        image = np.random.default_rng(0).random((4, 6, 3)).astype(np.float32)
        flow = np.zeros((4, 6, 2), np.float32)
        flow[..., 0] = 6 * 3 + 2
        np.testing.assert_allclose(warp(image, flow, wrap_x=True), np.roll(image, -2, axis=1), atol=1e-5)

    def test_reliability_with_wrap_x_trusts_the_seam(self):
        backward = np.zeros((12, 40, 2), np.float32)
        backward[..., 0] = -SHIFT
        assert reliability(backward, -backward, wrap_x=True).min() == 1.0
        assert reliability(backward, -backward, soft=False, wrap_x=True).min() == 1.0
        plain = reliability(backward, -backward, soft=False)
        assert plain[:, :SHIFT].max() == 0.0 and plain[:, SHIFT:].min() == 1.0

    def test_reliability_with_wrap_x_finds_a_boundary_at_the_seam(self):
        backward = np.zeros((12, 40, 2), np.float32)
        backward[:, :20, 0] = -3  # the left half moves, the right half stands still: boundaries at 0 and 20
        hard = reliability(backward, -backward, soft=False, wrap_x=True)
        assert hard[:, 0].max() == 0.0 and hard[:, -1].max() == 0.0 and hard[:, 10].min() == 1.0

    def test_change_score_with_wrap_x_keeps_every_pixel(self):
        previous, current = rolled_pair()
        backward = np.zeros(current.shape[:2] + (2,), np.float32)
        backward[..., 0] = -SHIFT
        score, fraction = change_score(current, previous, backward, wrap_x=True)
        assert (score, fraction) == (0.0, 1.0)
        assert change_score(current, previous, backward)[1] < 1.0
