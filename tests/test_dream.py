"""The dream engine: settings resolution, priors, one step, and the octave loop on the real model."""

from __future__ import annotations

import pytest
import torch

from dreamvid.config import DreamConfig
from dreamvid.engine import ascent_step, dream, noise_image, resolve_device, resolve_precision
from dreamvid.ops import gaussian_blur, laplacian_normalize, octave_sizes, total_variation
from dreamvid.errors import ConfigError
from dreamvid.models import load_model
from dreamvid.objectives import layer


@pytest.fixture(scope="module")
def model():
    return load_model()


@pytest.fixture()
def picture():
    g = torch.Generator().manual_seed(1)
    return torch.rand(1, 3, 48, 64, generator=g)


def quick(**kw) -> DreamConfig:
    return DreamConfig(**{"octaves": 2, "steps": 3, "octave_scale": 1.4, **kw})


class TestResolve:
    def test_cpu_and_auto(self):
        assert resolve_device("cpu") == torch.device("cpu")
        expected = "cuda" if torch.cuda.is_available() else "cpu"
        assert resolve_device("auto").type == expected

    @pytest.mark.parametrize("name", ["gpu", "cuda:x"])
    def test_unknown_device(self, name):
        with pytest.raises(ConfigError, match="unknown device"):
            resolve_device(name)

    @pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is present")
    def test_cuda_absent(self):
        with pytest.raises(ConfigError, match="CUDA is not available"):
            resolve_device("cuda")

    def test_precisions(self):
        cpu, cuda = torch.device("cpu"), torch.device("cuda")
        assert resolve_precision("fp32", cpu) is None
        assert resolve_precision("bf16", cpu) is torch.bfloat16
        assert resolve_precision("fp16", cuda) is torch.float16
        assert resolve_precision("auto", cuda) is torch.float16
        assert resolve_precision("auto", cpu) in (None, torch.bfloat16)

    def test_fp16_on_cpu_refused(self):
        with pytest.raises(ConfigError, match="fp16 is not supported on the CPU"):
            resolve_precision("fp16", torch.device("cpu"))

    def test_unknown_precision(self):
        with pytest.raises(ConfigError, match="unknown precision 'half'"):
            resolve_precision("half", torch.device("cpu"))


class TestOctaves:
    def test_exact_sizes(self):
        assert octave_sizes(100, 200, octaves=3, scale=2.0) == [(50, 100), (100, 200)]
        assert octave_sizes(280, 280, octaves=3, scale=1.4) == [(143, 143), (200, 200), (280, 280)]

    def test_single_octave_is_full_size(self):
        assert octave_sizes(10, 12, octaves=1, scale=1.4) == [(10, 12)]

    def test_tiny_image_keeps_only_full_size(self):
        assert octave_sizes(20, 20, octaves=4, scale=1.4) == [(20, 20)]


class TestPriors:
    def test_blur_sigma_zero_is_identity(self, picture):
        assert gaussian_blur(picture, 0.0) is picture

    def test_blur_keeps_constant_and_smooths(self, picture):
        flat = torch.full((1, 3, 9, 9), 0.25)
        assert torch.allclose(gaussian_blur(flat, 1.5), flat, atol=1e-6)
        assert total_variation(gaussian_blur(picture, 1.0)) < 0.5 * total_variation(picture)

    def test_blur_does_not_modify_input(self, picture):
        version, before = picture._version, picture.clone()
        gaussian_blur(picture, 2.0)
        assert picture._version == version and torch.equal(picture, before)

    def test_blur_tiny_image(self):
        out = gaussian_blur(torch.rand(1, 3, 2, 3), 3.0)
        assert out.shape == (1, 3, 2, 3)

    def test_total_variation_exact(self):
        x = torch.tensor([[[[0.0, 1.0], [0.0, 1.0]]]])
        # vertical differences 0, horizontal differences 1 and 1
        assert float(total_variation(x)) == pytest.approx(1.0)

    def test_lapnorm_off(self, picture):
        assert laplacian_normalize(picture, 1) is picture

    def test_lapnorm_balances_bands(self):
        g = torch.Generator().manual_seed(0)
        low = torch.nn.functional.interpolate(torch.randn(1, 3, 4, 4, generator=g), size=(64, 64), mode="bilinear")
        grad = low * 0.01 + torch.randn(1, 3, 64, 64, generator=g)
        out = laplacian_normalize(grad, 4)
        assert out.shape == grad.shape
        smooth_share_before = gaussian_blur(grad, 4.0).std() / grad.std()
        smooth_share_after = gaussian_blur(out, 4.0).std() / out.std()
        assert smooth_share_after > 2 * smooth_share_before

    def test_noise_image(self):
        a = noise_image(40, 30, generator=torch.Generator().manual_seed(3))
        b = noise_image(40, 30, generator=torch.Generator().manual_seed(3))
        assert a.shape == (1, 3, 30, 40) and torch.equal(a, b)
        assert 0 <= float(a.min()) and float(a.max()) <= 1 and abs(float(a.mean()) - 0.5) < 0.05


class TestAscentStep:
    def test_raises_the_objective(self, model, picture):
        objective = layer("b6")
        with torch.no_grad():
            before = float(objective(model(picture, ["b6"])))
        x = picture
        for _ in range(3):
            x = ascent_step(x, model, objective, quick(jitter=0), generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            after = float(objective(model(x, ["b6"])))
        assert after > before * 1.05

    def test_step_size_and_range(self, model, picture):
        settings = quick(jitter=4, step_size=0.05)
        out = ascent_step(picture, model, layer("b4"), settings, generator=torch.Generator().manual_seed(0))
        assert out.min() >= 0 and out.max() <= 1
        # the normalised step moves pixels by step_size on average (less where clamped)
        assert 0.02 < float((out - picture).abs().mean()) <= 0.05 + 1e-6
        assert not out.requires_grad

    def test_weight_mask_freezes_pixels(self, model, picture):
        weight = torch.ones(1, 1, 48, 64)
        weight[..., :, :32] = 0
        out = ascent_step(picture, model, layer("b4"), quick(), generator=torch.Generator().manual_seed(0), weight=weight)
        assert torch.equal(out[..., :32], picture[..., :32])
        assert not torch.equal(out[..., 32:], picture[..., 32:])

    def test_transforms_run(self, model, picture):
        settings = quick(scale_jitter=0.2, rotate_jitter=20, smooth=1.0, tv=1.0, lapnorm=3)
        out = ascent_step(picture, model, layer("b4"), settings, generator=torch.Generator().manual_seed(0))
        assert out.shape == picture.shape and torch.isfinite(out).all()


class TestDream:
    def test_shape_dtype_device_and_input_untouched(self, model, picture):
        version, before = picture._version, picture.clone()
        out = dream(picture, model, layer("b4"), quick(), generator=torch.Generator().manual_seed(0))
        assert out.shape == picture.shape and out.dtype == picture.dtype and out.device == picture.device
        assert picture._version == version and torch.equal(picture, before)
        assert float((out - picture).abs().mean()) > 0.01

    def test_same_seed_same_result(self, model, picture):
        a = dream(picture, model, layer("b6"), quick(), generator=torch.Generator().manual_seed(7))
        b = dream(picture, model, layer("b6"), quick(), generator=torch.Generator().manual_seed(7))
        c = dream(picture, model, layer("b6"), quick(), generator=torch.Generator().manual_seed(8))
        assert torch.equal(a, b)
        assert not torch.equal(a, c)

    def test_zero_steps_is_identity(self, model, picture):
        out = dream(picture, model, layer("b4"), quick(steps=0), generator=torch.Generator())
        assert torch.allclose(out, picture, atol=1e-6)

    def test_progress_counts_every_step(self, model, picture):
        calls = []
        dream(picture, model, layer("b4"), quick(octaves=2, steps=3), generator=torch.Generator(),
              progress=lambda done, total: calls.append((done, total)))
        assert calls == [(i, 6) for i in range(0, 7)]

    def test_dreaming_raises_the_objective(self, model, picture):
        objective = layer("b8")
        out = dream(picture, model, objective, quick(steps=5), generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            assert float(objective(model(out, ["b8"]))) > 1.2 * float(objective(model(picture, ["b8"])))

    def test_max_size_dreams_small_and_returns_full(self, model):
        big = torch.rand(1, 3, 96, 128, generator=torch.Generator().manual_seed(2))
        out = dream(big, model, layer("b4"), quick(max_size=64), generator=torch.Generator().manual_seed(0))
        assert out.shape == big.shape
        # the added detail was made at half size: it is smooth at full size
        detail = out - big
        assert total_variation(detail) < total_variation(big)

    def test_fp32_and_bf16_agree_roughly(self, model, picture):
        a = dream(picture, model, layer("b4"), quick(), generator=torch.Generator().manual_seed(0), precision="fp32")
        b = dream(picture, model, layer("b4"), quick(), generator=torch.Generator().manual_seed(0), precision="bf16")
        assert float((a - b).abs().mean()) < 0.02

    def test_bad_shape(self, model):
        with pytest.raises(ValueError, match=r"expected an image of shape \(1, 3, H, W\)"):
            dream(torch.rand(3, 8, 8), model, layer("b4"), quick(), generator=torch.Generator())
