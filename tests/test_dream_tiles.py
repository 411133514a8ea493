"""Large frames in tiles (``max_memory``) and horizontally periodic panoramas (``wrap_x``), on the real model."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from dreamvid.config import DreamConfig
from dreamvid.engine import ascent_step, dream
from dreamvid.ops import gaussian_blur, laplacian_normalize, random_affine, resize, total_variation
from dreamvid.tiles import _plan_tiles, _probe, estimate_step_memory
from dreamvid.errors import ConfigError
from dreamvid.models import load_model
from dreamvid.objectives import layer


@pytest.fixture(scope="module")
def model():
    return load_model()


@pytest.fixture(scope="module")
def photo():
    """scikit-image's astronaut at 256×384, ``(1, 3, 256, 384)`` in [0, 1]."""
    from skimage import data

    image = torch.from_numpy(data.astronaut()).permute(2, 0, 1)[None].float() / 255
    return F.interpolate(image, size=(256, 384), mode="bilinear", antialias=True, align_corners=False).clamp(0, 1)


def forward_count(model):
    """A list that grows by one per forward pass of ``model``, and the hook's handle (the caller removes it)."""
    calls: list[int] = []
    handle = model.register_forward_hook(lambda *_: calls.append(1))
    return calls, handle


def budget(model, layers, h, w, tile_side, dtype=None) -> int:
    """A ``max_memory`` that makes a step on ``h × w`` use tiles of about ``tile_side``² pixels."""
    per_pixel = estimate_step_memory(1, 1, model, layers, autocast_dtype=dtype)
    return 48 * h * w + per_pixel * tile_side**2 + 1


class TestEstimate:
    def test_linear_in_pixels_and_grows_with_depth(self, model):
        small = estimate_step_memory(100, 200, model, ["b10"])
        assert estimate_step_memory(200, 400, model, ["b10"]) == pytest.approx(4 * small, rel=1e-6)
        assert estimate_step_memory(100, 200, model, ["b4"]) < small < estimate_step_memory(100, 200, model, ["b15"])

    def test_bf16_needs_less_than_fp32(self, model):
        assert estimate_step_memory(64, 64, model, ["b10"], autocast_dtype=torch.bfloat16) < estimate_step_memory(
            64, 64, model, ["b10"])

    def test_measured_order_of_magnitude(self, model):
        # docstring figures: 550 bytes per pixel for b10 under bf16, 1087 in fp32
        assert 400 < estimate_step_memory(1, 1, model, ["b10"], autocast_dtype=torch.bfloat16) < 700
        assert 900 < estimate_step_memory(1, 1, model, ["b10"]) < 1300

    def test_strides(self, model):
        assert _probe(model, ["b4"], None).stride == 8
        assert _probe(model, ["b10"], None).strides == {"b10": 16}
        assert _probe(model, ["logits"], None).stride == 32

    @pytest.mark.parametrize("bad", [0, -5, 1.5, True])
    def test_bad_max_memory(self, model, photo, bad):
        with pytest.raises(ConfigError, match="max_memory must be a positive number of bytes"):
            dream(photo, model, layer("b4"), DreamConfig(octaves=1, steps=1), generator=torch.Generator(),
                  max_memory=bad)


class TestPlan:
    @pytest.mark.parametrize("wrap_x", [False, True])
    @pytest.mark.parametrize(("h", "w", "side"), [(256, 384, 150), (183, 274, 120), (100, 700, 400), (97, 101, 10)])
    def test_cores_partition_the_frame(self, model, h, w, side, wrap_x):
        probe = _probe(model, ["b4"], None)
        tiles = _plan_tiles(h, w, tile_pixels=side**2, probe=probe, wrap_x=wrap_x,
                            generator=torch.Generator().manual_seed(h))
        cover = torch.zeros(h, w)
        for tile in tiles:
            top, bottom, left, right = tile.core
            cover[tile.rows[top:bottom, None], tile.cols[None, left:right]] += 1
            assert int(tile.rows[0]) % probe.stride == 0 or wrap_x
        assert torch.equal(cover, torch.ones(h, w))
        assert sum(t.share for t in tiles) == pytest.approx(1.0)
        assert len({(len(t.rows), len(t.cols)) for t in tiles}) == 1  # one input shape per step

    def test_offsets_move_between_steps(self, model):
        probe = _probe(model, ["b4"], None)
        g = torch.Generator().manual_seed(0)
        cuts = {tuple(t.core for t in _plan_tiles(512, 512, tile_pixels=200**2, probe=probe, wrap_x=False,
                                                  generator=g)) for _ in range(5)}
        assert len(cuts) > 1

    def test_tiles_fit_the_budget(self, model):
        h, w, limit = 640, 960, 200_000_000
        probe = _probe(model, ["b10"], torch.bfloat16)
        per_pixel = estimate_step_memory(1, 1, model, ["b10"], autocast_dtype=torch.bfloat16)
        tiles = _plan_tiles(h, w, tile_pixels=(limit - 48 * h * w) / per_pixel, probe=probe, wrap_x=False,
                            generator=torch.Generator())
        assert len(tiles) > 1
        assert 48 * h * w + per_pixel * len(tiles[0].rows) * len(tiles[0].cols) <= limit


class TestTiledMatchesUntiled:
    def test_big_budget_is_bit_identical(self, model, photo):
        settings = DreamConfig(octaves=2, steps=2)
        a = dream(photo, model, layer("b6"), settings, generator=torch.Generator().manual_seed(3))
        b = dream(photo, model, layer("b6"), settings, generator=torch.Generator().manual_seed(3), max_memory=10**12)
        assert torch.equal(a, b)

    def test_tiles_only_over_budget(self, model, photo):
        need = estimate_step_memory(256, 384, model, ["b4"])
        calls, handle = forward_count(model)
        try:
            ascent_step(photo, model, layer("b4"), DreamConfig(), generator=torch.Generator(), max_memory=need)
            assert len(calls) == 1
            ascent_step(photo, model, layer("b4"), DreamConfig(), generator=torch.Generator(), max_memory=need - 1)
            assert len(calls) > 2
        finally:
            handle.remove()

    def test_step_equals_untiled_step(self, model, photo):
        # fp32, a layer whose receptive field (radius 33 px) fits the 64 px margin: the same step exactly
        settings = DreamConfig(jitter=16)
        limit = budget(model, ["b4"], 256, 384, 200)
        a = ascent_step(photo, model, layer("b4"), settings, generator=torch.Generator().manual_seed(1))
        b = ascent_step(photo, model, layer("b4"), settings, generator=torch.Generator().manual_seed(1),
                        max_memory=limit)
        assert float((a - b).abs().max()) < 1e-4

    def test_deep_layer_step_matches_untiled_step(self, model):
        # b10 (receptive-field radius 170 px) with the 128 px margin, in full-height tiles: 0.06 % apart
        x = torch.rand(1, 3, 256, 768, generator=torch.Generator().manual_seed(0))
        x = F.avg_pool2d(x, 3, stride=1, padding=1)
        calls, handle = forward_count(model)
        try:
            a = ascent_step(x, model, layer("b10"), DreamConfig(), generator=torch.Generator().manual_seed(1),
                            max_memory=budget(model, ["b10"], 256, 768, 400))
        finally:
            handle.remove()
        b = ascent_step(x, model, layer("b10"), DreamConfig(), generator=torch.Generator().manual_seed(1))
        assert len(calls) == 3
        assert float((a - b).abs().mean()) < 0.005 * float((b - x).abs().mean())

    def test_dream_matches_untiled(self, model, photo):
        # Dreaming is chaotic (a 1e-6 change of the input moves the detail by 14 % in 3 steps), so only a
        # short fp32 dream without jitter can be compared pixel by pixel: 1 % of the detail apart.
        settings = DreamConfig(octaves=2, steps=2, jitter=0)
        limit = budget(model, ["b4"], 256, 384, 200)
        tiled = dream(photo, model, layer("b4"), settings, generator=torch.Generator(), precision="fp32",
                      max_memory=limit)
        plain = dream(photo, model, layer("b4"), settings, generator=torch.Generator(), precision="fp32")
        assert float((tiled - plain).abs().mean()) < 0.02 * float((plain - photo).abs().mean())

    def test_jittered_dream_as_strong_as_untiled(self, model, photo):
        # with jitter the tile offsets take draws from the generator, so the dreams differ; their strength not
        settings = DreamConfig(octaves=2, steps=3)
        limit = budget(model, ["b4"], 256, 384, 200, torch.bfloat16)
        tiled = dream(photo, model, layer("b4"), settings, generator=torch.Generator().manual_seed(0),
                      precision="bf16", max_memory=limit)
        plain = dream(photo, model, layer("b4"), settings, generator=torch.Generator().manual_seed(0), precision="bf16")
        with torch.no_grad():
            gain_tiled, gain_plain = (float(layer("b4")(model(y, ["b4"]))) for y in (tiled, plain))
        assert gain_tiled == pytest.approx(gain_plain, rel=0.1)
        assert float((tiled - photo).abs().mean()) == pytest.approx(float((plain - photo).abs().mean()), rel=0.05)

    def test_input_untouched_and_types_kept(self, model, photo):
        x = photo.clone()
        version = x._version
        settings = DreamConfig(octaves=1, steps=1, scale_jitter=0.1, rotate_jitter=5, tv=0.1, smooth=1.0, lapnorm=2)
        out = dream(x, model, layer("b4"), settings, generator=torch.Generator(), max_memory=budget(
            model, ["b4"], 256, 384, 200))
        assert x._version == version and torch.equal(x, photo)
        assert out.shape == x.shape and out.dtype == x.dtype and torch.isfinite(out).all()

    def test_class_objective_runs_in_tiles(self, model, photo):
        # a logit reads a whole tile: approximated, but it must run and raise the logit
        from dreamvid.objectives import class_logit

        objective = class_logit(954, "banana")
        settings = DreamConfig(octaves=1, steps=3, jitter=0, step_size=0.02)
        out = dream(photo, model, objective, settings, generator=torch.Generator(),
                    max_memory=budget(model, ["logits"], 256, 384, 300))
        with torch.no_grad():
            assert float(objective(model(out, ["logits"]))) > float(objective(model(photo, ["logits"])))


class TestWrapHelpers:
    def test_resize_is_periodic(self):
        x = torch.rand(1, 3, 40, 100, generator=torch.Generator().manual_seed(0))
        for size, shift, out_shift in [((20, 50), 10, 5), ((80, 200), 10, 20)]:
            rolled = resize(torch.roll(x, shift, -1), size, wrap_x=True)
            assert torch.allclose(rolled, torch.roll(resize(x, size, wrap_x=True), out_shift, -1), atol=1e-6)

    @pytest.mark.parametrize("size", [(20, 50), (28, 71), (57, 143), (40, 100)])
    def test_resize_matches_interpolate_inside(self, size):
        x = torch.rand(1, 3, 40, 100, generator=torch.Generator().manual_seed(0))
        inside = (slice(None), slice(None), slice(None), slice(4, -4))
        assert torch.allclose(resize(x, size, wrap_x=True)[inside], resize(x, size)[inside], atol=1e-5)

    def test_blur_and_lapnorm_are_periodic(self):
        x = torch.rand(1, 3, 32, 48, generator=torch.Generator().manual_seed(0))
        assert torch.allclose(gaussian_blur(torch.roll(x, 7, -1), 2.0, wrap_x=True),
                              torch.roll(gaussian_blur(x, 2.0, wrap_x=True), 7, -1), atol=1e-6)
        assert torch.allclose(laplacian_normalize(torch.roll(x, 8, -1), 3, wrap_x=True),
                              torch.roll(laplacian_normalize(x, 3, wrap_x=True), 8, -1), atol=1e-5)

    def test_total_variation_counts_the_wrap(self):
        x = torch.tensor([[[[0.0, 1.0], [0.0, 1.0]]]])
        # vertical differences 0; horizontal 1 (inside) and 1 (across the wrap)
        assert float(total_variation(x, wrap_x=True)) == pytest.approx(1.0)
        # horizontal: 0.5, 0.5 and 1 across the wrap
        assert float(total_variation(torch.tensor([[[[0.0, 0.5, 1.0]] * 2]]), wrap_x=True)) == pytest.approx(2 / 3)

    def test_affine_samples_wrapped_columns(self):
        x = torch.rand(1, 3, 30, 40, generator=torch.Generator().manual_seed(0))
        settings = DreamConfig(scale_jitter=0.3, rotate_jitter=20)
        for seed in range(4):
            out = random_affine(x, settings, torch.Generator().manual_seed(seed), wrap_x=True)
            # reference: the same transform sampled from three copies side by side
            u = torch.rand(2, generator=torch.Generator().manual_seed(seed)) * 2 - 1
            scale, angle = 1 + 0.3 * float(u[0]), math.radians(20 * float(u[1]))
            cos, sin = math.cos(angle) / scale, math.sin(angle) / scale
            theta = torch.tensor([[[cos, -sin * 30 / 40, 0.0], [sin * 40 / 30, cos, 0.0]]])
            grid = F.affine_grid(theta, [1, 3, 30, 40], align_corners=False)
            gx = (2 * (((grid[..., 0] + 1) * 40 - 1) / 2 + 40) + 1) / 120 - 1
            ref = F.grid_sample(torch.cat([x, x, x], -1), torch.stack([gx, grid[..., 1]], -1), mode="bilinear",
                                padding_mode="reflection", align_corners=False)
            assert torch.allclose(out, ref, atol=1e-5)


class TestWrapDream:
    def test_seam_can_be_anywhere(self, model):
        # rolling the panorama by a multiple of the network's stride at every octave rolls the dream
        x = torch.rand(1, 3, 64, 256, generator=torch.Generator().manual_seed(0))
        x = F.avg_pool2d(F.pad(x, (2, 2, 2, 2), mode="circular"), 5, stride=1)  # smooth, still periodic
        settings = DreamConfig(octaves=2, octave_scale=2.0, steps=1, jitter=8, step_size=0.05)  # one step: no chaos

        def run(image, wrap_x):
            return dream(image, model, layer("b4"), settings, generator=torch.Generator().manual_seed(5),
                         precision="fp32", wrap_x=wrap_x)

        for wrap_x, close in ((True, True), (False, False)):
            a, b = torch.roll(run(x, wrap_x), 64, -1), run(torch.roll(x, 64, -1), wrap_x)
            assert (float((a - b).abs().max()) < 1e-4) is close

    def test_wrap_runs_with_every_prior_and_in_tiles(self, model, photo):
        settings = DreamConfig(octaves=2, steps=1, scale_jitter=0.1, rotate_jitter=10, tv=0.1, smooth=1.0, lapnorm=3)
        weight = torch.ones(1, 1, 256, 384)
        out = dream(photo, model, layer("b4"), settings, generator=torch.Generator(), wrap_x=True, weight=weight,
                    max_memory=budget(model, ["b4"], 256, 384, 200))
        assert out.shape == photo.shape and torch.isfinite(out).all()
        assert float((out - photo).abs().mean()) > 0.002
