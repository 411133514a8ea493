"""Tests for dreamvid.models: the embedded EfficientNet-Lite0, torchvision models, weights and layers.

Nothing is downloaded (tests/conftest.py sets ``DREAMVID_OFFLINE=1`` and an empty ``TORCH_HOME``). The
torchvision networks are checked with random weights saved to ``tmp_path``: load_model's batch-norm-folded
:class:`FeatureModel` must give the same logits as torchvision's own network, configured the way torchvision
configures it for its pretrained weights and fed the input those weights expect. The embedded network is
checked against real photographs, which is what proves its architecture matches its weights.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from urllib.error import URLError

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn
from torchvision.models import GoogLeNet_Weights
from torchvision.models._api import WeightsEnum

from dreamvid import models
from dreamvid.errors import ModelError
from dreamvid.models import (
    DEFAULT_MODEL,
    IMAGENET_MEAN,
    IMAGENET_STD,
    MODELS,
    EfficientNetLite0,
    FeatureModel,
    LayerInfo,
    SameConv2d,
    available_models,
    imagenet_categories,
    list_layers,
    load_model,
    offline,
)

skimage_data = pytest.importorskip("skimage.data", reason="scikit-image provides the sample photos")

TORCHVISION_MODELS = ["googlenet", "vgg16", "vgg19", "inception_v3", "resnet50"]
ALL_MODELS = ["efficientnet-lite0", *TORCHVISION_MODELS]
# Torchvision builds these two with transform_input=True for its pretrained weights, whose inputs are
# ImageNet-normalised; load_model builds them without it and normalises with mean = std = 0.5 instead.
TRANSFORM_INPUT = {"googlenet", "inception_v3"}
LITE0_CHANNELS = [32, 16, 24, 24, 40, 40, 80, 80, 80, 112, 112, 112, 192, 192, 192, 192, 320, 1280, 1000]
LITE0_STRIDES = [2, 2, 4, 4, 8, 8, 16, 16, 16, 16, 16, 16, 32, 32, 32, 32, 32, 32, 0]


def raises_model(message: str) -> AbstractContextManager[pytest.ExceptionInfo[ModelError]]:
    """Expect a ModelError whose message contains ``message`` verbatim."""
    return pytest.raises(ModelError, match=re.escape(message))


def photo(name: str) -> torch.Tensor:
    """A scikit-image sample photo as a (1, 3, 224, 224) tensor in [0, 1], squashed with antialiasing."""
    image = torch.from_numpy(getattr(skimage_data, name)()).permute(2, 0, 1)[None].float() / 255
    return F.interpolate(image, size=(224, 224), mode="bilinear", antialias=True, align_corners=False)


def imagenet_normalise(image: torch.Tensor) -> torch.Tensor:
    """What torchvision's pretrained-weight transforms feed a network."""
    return (image - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)


def randomise_batchnorm(net: nn.Module, seed: int = 0) -> int:
    """Give every BatchNorm2d non-trivial affine parameters and running statistics; return how many."""
    generator = torch.Generator().manual_seed(seed)
    count = 0
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, nn.BatchNorm2d):
                c = module.num_features
                module.weight.copy_(torch.rand(c, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(c, generator=generator) * 0.1)
                module.running_mean.copy_(torch.randn(c, generator=generator) * 0.1)
                module.running_var.copy_(torch.rand(c, generator=generator) * 1.5 + 0.5)
                count += 1
    return count


def torchvision_reference(name: str, seed: int = 0) -> nn.Module:
    """Torchvision's network with random weights, configured as for its pretrained weights, in eval mode."""
    torch.manual_seed(seed)
    kwargs = {"aux_logits": True, "init_weights": False, "transform_input": True} if name in TRANSFORM_INPUT else {}
    net = torchvision.models.get_model(name, weights=None, **kwargs).eval()
    for module in net.modules():  # PyTorch's default init fades to a constant output in deep nets
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
    randomise_batchnorm(net, seed)
    return net


def assert_logits_close(got: torch.Tensor, want: torch.Tensor) -> None:
    scale = want.abs().max().item()
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4 * scale)


@contextmanager
def no_download(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict]]:
    """Make any torchvision weight download fail the test; yields the list of attempted calls."""
    calls: list[dict] = []

    def refuse(self: WeightsEnum, **kwargs: object) -> dict:
        calls.append(kwargs)
        raise AssertionError(f"tried to download {self.url}")

    monkeypatch.setattr(WeightsEnum, "get_state_dict", refuse)
    yield calls


# ------------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def lite0() -> FeatureModel:
    return load_model("efficientnet-lite0")


@pytest.fixture(scope="module")
def googlenet_saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[nn.Module, Path]:
    """A random torchvision GoogLeNet (reference) and its state dict saved to a file."""
    net = torchvision_reference("googlenet", seed=1)
    path = tmp_path_factory.mktemp("googlenet") / "googlenet.pth"
    torch.save(net.state_dict(), path)
    return net, path


@pytest.fixture(scope="module")
def googlenet(googlenet_saved: tuple[nn.Module, Path]) -> FeatureModel:
    return load_model("googlenet", weights=googlenet_saved[1])


@pytest.fixture(scope="module")
def lite0_state() -> dict[str, torch.Tensor]:
    return torch.load(models._lite0_weights_file(), map_location="cpu", weights_only=True)


# ------------------------------------------------------------------------------ the embedded network


class TestEmbeddedEfficientNet:
    @pytest.mark.parametrize(
        ("name", "is_expected"),
        [
            ("chelsea", lambda label: "cat" in label.lower() or label.lower() == "tabby"),
            ("coffee", lambda label: label == "espresso"),
        ],
    )
    def test_classifies_real_photographs(self, lite0: FeatureModel, name: str, is_expected) -> None:
        with torch.no_grad():
            probs = lite0(photo(name), ["logits"])["logits"].softmax(1)[0]
        best = int(probs.argmax())
        assert is_expected(lite0.categories[best]), f"{name}: top-1 {lite0.categories[best]} ({probs[best]:.2f})"
        assert probs[best] > 0.5  # measured 0.80 (Egyptian cat) and 0.86 (espresso)

    def test_folded_network_equals_unfolded(self, lite0: FeatureModel, lite0_state: dict) -> None:
        net = EfficientNetLite0()
        net.load_state_dict(lite0_state)
        net.eval()
        image = torch.rand(2, 3, 64, 80, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            x = F.relu6(net._bn0(net._conv_stem(imagenet_normalise(image))))
            for block in net._blocks:
                x = block(x)
            b15 = x
            x = F.relu6(net._bn1(net._conv_head(x)))
            want = net._fc(x.mean(dim=(2, 3)))
            got = lite0(image, ["b15", "logits"])
        assert_logits_close(got["logits"], want)
        torch.testing.assert_close(got["b15"], b15, rtol=1e-4, atol=1e-4 * b15.abs().max().item())
        assert (want[0] - want[1]).abs().max() > 0.1  # the logits depend on the image

    def test_no_batchnorm_is_left_after_folding(self, lite0: FeatureModel) -> None:
        assert not any(isinstance(m, nn.BatchNorm2d) for m in lite0.modules())
        convs = [m for m in lite0.modules() if isinstance(m, nn.Conv2d)]
        assert len(convs) == 1 + 16 * 2 + 15 + 1  # stem, depthwise + project, expand (not block 0), head
        assert all(conv.bias is not None for conv in convs)


# --------------------------------------------------------------------------------- batch-norm folding


class TestBatchNormFolding:
    @pytest.mark.parametrize("name", TORCHVISION_MODELS)
    def test_logits_equal_torchvision(self, name: str, tmp_path: Path) -> None:
        reference = torchvision_reference(name)
        assert randomise_batchnorm(reference) > 0 or name.startswith("vgg")
        path = tmp_path / f"{name}.pth"
        torch.save(reference.state_dict(), path)
        model = load_model(name, weights=path)
        size = 96 if name == "inception_v3" else 64
        image = torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(2))
        with torch.no_grad():
            want = reference(imagenet_normalise(image))
            got = model(image, ["logits"])["logits"]
        assert got.shape == (2, 1000)
        assert_logits_close(got, want)
        assert (want[0] - want[1]).abs().max() > 1e-3 * want.abs().max()  # not a constant function
        assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())

    @pytest.mark.parametrize("name", TORCHVISION_MODELS)
    def test_normalisation_matches_what_the_net_was_built_for(self, name: str) -> None:
        half = name in TRANSFORM_INPUT
        assert MODELS[name].mean == ((0.5,) * 3 if half else IMAGENET_MEAN)
        assert MODELS[name].std == ((0.5,) * 3 if half else IMAGENET_STD)
        with torch.device("meta"):
            assert getattr(MODELS[name].builder(), "transform_input", False) is False

    def test_exact_values_on_a_tiny_conv(self) -> None:
        net = nn.Sequential(nn.Conv2d(1, 2, 1, bias=False), nn.BatchNorm2d(2, eps=0.0)).eval()
        with torch.no_grad():
            net[0].weight.copy_(torch.tensor([2.0, 3.0]).view(2, 1, 1, 1))
            net[1].weight.copy_(torch.tensor([1.0, 2.0]))
            net[1].bias.copy_(torch.tensor([0.5, -1.0]))
            net[1].running_mean.copy_(torch.tensor([1.0, 3.0]))
            net[1].running_var.copy_(torch.tensor([4.0, 16.0]))
        models._fold_batchnorm(net)
        assert isinstance(net[1], nn.Identity)
        # scale = weight / sqrt(var) = [0.5, 0.5]; bias = beta - mean * scale
        torch.testing.assert_close(net[0].weight.flatten(), torch.tensor([1.0, 1.5]), rtol=0, atol=0)
        torch.testing.assert_close(net[0].bias, torch.tensor([0.0, -2.5]), rtol=0, atol=0)

    def test_conv_bias_is_scaled_too(self) -> None:
        net = nn.Sequential(nn.Conv2d(1, 2, 1, bias=True), nn.BatchNorm2d(2, eps=0.0)).eval()
        with torch.no_grad():
            net[0].bias.copy_(torch.tensor([1.0, 2.0]))
            net[1].weight.copy_(torch.tensor([1.0, 2.0]))
            net[1].bias.copy_(torch.tensor([0.5, -1.0]))
            net[1].running_mean.copy_(torch.tensor([1.0, 3.0]))
            net[1].running_var.copy_(torch.tensor([4.0, 16.0]))
        x = torch.randn(1, 1, 3, 3)
        want = net(x)
        models._fold_batchnorm(net)
        torch.testing.assert_close(net[0].bias, torch.tensor([0.5, -1.5]), rtol=0, atol=0)
        torch.testing.assert_close(net(x), want)

    def test_batchnorm_not_after_its_conv_is_kept(self) -> None:
        net = nn.Sequential(nn.BatchNorm2d(3), nn.Conv2d(3, 3, 1), nn.ReLU(), nn.BatchNorm2d(3))
        models._fold_batchnorm(net)
        assert [type(m) for m in net] == [nn.BatchNorm2d, nn.Conv2d, nn.ReLU, nn.BatchNorm2d]

    def test_nested_modules_are_folded(self) -> None:
        net = nn.Sequential(nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)), nn.ReLU()).eval()
        randomise_batchnorm(net)
        x = torch.randn(1, 3, 5, 5)
        want = net(x)
        models._fold_batchnorm(net)
        assert isinstance(net[0][1], nn.Identity)
        torch.testing.assert_close(net(x), want)


# ------------------------------------------------------------------------------------- weight files


class TestWeightsFiles:
    @pytest.mark.parametrize("wrap", ["state_dict", "model", "module.", "state_dict+module."])
    def test_wrapped_and_prefixed_state_dicts_load(
        self, lite0: FeatureModel, lite0_state: dict, tmp_path: Path, wrap: str
    ) -> None:
        state: object = lite0_state
        if "module." in wrap:
            state = {f"module.{k}": v for k, v in lite0_state.items()}
        if wrap.startswith(("state_dict", "model")):
            state = {wrap.split("+")[0]: state, "epoch": 3}
        path = tmp_path / "wrapped.pth"
        torch.save(state, path)
        model = load_model("efficientnet-lite0", weights=str(path))
        image = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            torch.testing.assert_close(model(image, ["logits"]), lite0(image, ["logits"]), rtol=0, atol=0)

    def test_weights_file_replaces_the_embedded_weights(
        self, lite0: FeatureModel, lite0_state: dict, tmp_path: Path
    ) -> None:
        changed = {k: v.clone() for k, v in lite0_state.items()}
        changed["_fc.bias"] += torch.arange(1000.0)
        torch.save(changed, tmp_path / "changed.pth")
        model = load_model("efficientnet-lite0", weights=tmp_path / "changed.pth")
        image = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            diff = model(image, ["logits"])["logits"] - lite0(image, ["logits"])["logits"]
        torch.testing.assert_close(diff, torch.arange(1000.0)[None], rtol=0, atol=1e-3)

    def test_missing_file(self, tmp_path: Path) -> None:
        with raises_model(f"weights file not found: {tmp_path / 'nope.pth'}"):
            load_model("googlenet", weights=tmp_path / "nope.pth")

    def test_directory_is_not_a_weights_file(self, tmp_path: Path) -> None:
        with raises_model("weights file not found"):
            load_model("efficientnet-lite0", weights=tmp_path)

    def test_text_file(self, tmp_path: Path) -> None:
        (tmp_path / "notes.pth").write_text("these are not weights\n", encoding="utf-8")
        with raises_model(f"cannot read weights file {tmp_path / 'notes.pth'}") as info:
            load_model("googlenet", weights=tmp_path / "notes.pth")
        assert "\n" not in str(info.value)

    def test_file_without_a_state_dict(self, tmp_path: Path) -> None:
        torch.save(torch.zeros(3), tmp_path / "tensor.pth")
        with raises_model("holds no state dict; save one with torch.save(model.state_dict(), path)"):
            load_model("efficientnet-lite0", weights=tmp_path / "tensor.pth")

    def test_weights_of_another_model_with_clashing_shapes(self, tmp_path: Path) -> None:
        with torch.device("meta"):
            shapes = torchvision.models.resnet50().state_dict()
        torch.save({k: torch.zeros(v.shape, dtype=v.dtype) for k, v in shapes.items()}, tmp_path / "resnet50.pth")
        with raises_model(f"weights from {tmp_path / 'resnet50.pth'} do not fit model googlenet") as info:
            load_model("googlenet", weights=tmp_path / "resnet50.pth")
        assert "\n" not in str(info.value)
        assert "use a state dict saved from that model" in str(info.value)

    def test_weights_of_another_model_with_other_keys(self, lite0_state: dict, tmp_path: Path) -> None:
        torch.save(lite0_state, tmp_path / "lite0.pth")
        with raises_model("do not fit model googlenet (missing conv1.conv.weight"):
            load_model("googlenet", weights=tmp_path / "lite0.pth")

    def test_one_missing_key(self, lite0_state: dict, tmp_path: Path) -> None:
        torch.save({k: v for k, v in lite0_state.items() if k != "_fc.bias"}, tmp_path / "partial.pth")
        with raises_model("do not fit model efficientnet-lite0 (missing _fc.bias)"):
            load_model("efficientnet-lite0", weights=tmp_path / "partial.pth")

    def test_one_unexpected_key(self, lite0_state: dict, tmp_path: Path) -> None:
        torch.save({**lite0_state, "extra.weight": torch.zeros(1)}, tmp_path / "extra.pth")
        with raises_model("do not fit model efficientnet-lite0 (unexpected extra.weight)"):
            load_model("efficientnet-lite0", weights=tmp_path / "extra.pth")

    def test_auxiliary_classifiers_may_be_absent(self, googlenet_saved: tuple, tmp_path: Path) -> None:
        reference, path = googlenet_saved
        state = torch.load(path, weights_only=True)
        torch.save({k: v for k, v in state.items() if not k.startswith("aux")}, tmp_path / "no_aux.pth")
        model = load_model("googlenet", weights=tmp_path / "no_aux.pth")
        assert model.net.aux1 is None and model.net.aux2 is None
        image = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            assert_logits_close(model(image, ["logits"])["logits"], reference(imagenet_normalise(image)))


# ---------------------------------------------------------------------------- torchvision's weights


class TestTorchvisionWeights:
    @pytest.mark.parametrize("name", TORCHVISION_MODELS)
    def test_offline_without_cache_is_an_error(
        self, name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("TORCH_HOME", str(tmp_path))
        monkeypatch.setenv("DREAMVID_OFFLINE", "1")
        with no_download(monkeypatch) as calls, raises_model(f"weights for {name} are not downloaded") as info:
            load_model(name)
        message = str(info.value)
        assert "DREAMVID_OFFLINE" in message
        assert "--weights FILE" in message and f"torchvision.models.{name}" in message
        assert str(tmp_path / "hub" / "checkpoints") in message  # where the cache is looked for
        assert calls == []

    def test_allow_download_false_forbids_downloads(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("TORCH_HOME", str(tmp_path))
        monkeypatch.delenv("DREAMVID_OFFLINE")
        with no_download(monkeypatch) as calls, raises_model("not downloaded and downloads are off"):
            load_model("googlenet", allow_download=False)
        assert calls == []

    def test_failed_download_is_an_error(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("TORCH_HOME", str(tmp_path))
        monkeypatch.setenv("DREAMVID_OFFLINE", "0")

        def fail(self: WeightsEnum, **kwargs: object) -> dict:
            raise URLError("no route to host\nsecond line")

        monkeypatch.setattr(WeightsEnum, "get_state_dict", fail)
        with raises_model("could not download weights for resnet50 (<urlopen error no route to host)") as info:
            load_model("resnet50")
        assert "--weights FILE" in str(info.value) and "\n" not in str(info.value)

    @pytest.mark.parametrize(("env", "allow"), [("0", None), ("1", True)])
    def test_download_when_allowed(
        self, googlenet_saved: tuple, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: str, allow: bool | None
    ) -> None:
        reference, path = googlenet_saved
        monkeypatch.setenv("TORCH_HOME", str(tmp_path))
        monkeypatch.setenv("DREAMVID_OFFLINE", env)
        calls = []

        def fake_download(self: WeightsEnum, **kwargs: object) -> dict:
            calls.append((self, kwargs))
            return torch.load(path, weights_only=True)

        monkeypatch.setattr(WeightsEnum, "get_state_dict", fake_download)
        model = load_model("googlenet", allow_download=allow)
        assert calls == [(GoogLeNet_Weights.DEFAULT, {"progress": False, "check_hash": True})]
        image = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            assert_logits_close(model(image, ["logits"])["logits"], reference(imagenet_normalise(image)))

    def test_cached_weights_are_used(
        self, googlenet_saved: tuple, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        reference, path = googlenet_saved
        monkeypatch.setenv("TORCH_HOME", str(tmp_path))
        cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(GoogLeNet_Weights.DEFAULT.url).name
        assert cached == tmp_path / "hub" / "checkpoints" / "googlenet-1378be20.pth"
        cached.parent.mkdir(parents=True)
        cached.write_bytes(path.read_bytes())
        image = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(3))
        with no_download(monkeypatch) as calls:
            model = load_model("googlenet")
        with torch.no_grad():
            assert_logits_close(model(image, ["logits"])["logits"], reference(imagenet_normalise(image)))
        assert calls == []

    def test_corrupt_cached_weights(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("TORCH_HOME", str(tmp_path))
        cached = tmp_path / "hub" / "checkpoints" / "resnet50-11ad3fa6.pth"
        cached.parent.mkdir(parents=True)
        cached.write_bytes(b"\x00" * 100)
        with no_download(monkeypatch), raises_model(f"cannot read weights file {cached}"):
            load_model("resnet50")

    @pytest.mark.parametrize(
        ("value", "expected"),
        [("1", True), ("true", True), (" YES ", True), ("on", True), ("0", False), ("", False), ("no", False)],
    )
    def test_offline_flag(self, monkeypatch: pytest.MonkeyPatch, value: str, expected: bool) -> None:
        monkeypatch.setenv("DREAMVID_OFFLINE", value)
        assert offline() is expected

    def test_offline_flag_unset(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("DREAMVID_OFFLINE")
        assert offline() is False


# -------------------------------------------------------------------------------- names and errors


class TestNames:
    def test_unknown_model_suggests_the_close_name(self) -> None:
        with raises_model("unknown model 'googlnet'; did you mean 'googlenet'? choose one of: efficientnet-lite0, "):
            load_model("googlnet")

    def test_unknown_model_without_a_close_name(self) -> None:
        with raises_model("unknown model 'xyz'; choose one of: efficientnet-lite0, googlenet, vgg16"):
            load_model("xyz")

    def test_unknown_model_in_list_layers(self) -> None:
        with raises_model("unknown model 'resnet5'; did you mean 'resnet50'?"):
            list_layers("resnet5")

    def test_unknown_layer_suggests_close_ones(self, lite0: FeatureModel) -> None:
        with raises_model("model efficientnet-lite0 has no layer 'b100'; did you mean b10") as info:
            lite0(torch.rand(1, 3, 32, 32), ["b4", "b100"])
        assert "run 'dreamvid layers --model efficientnet-lite0' to list them" in str(info.value)

    def test_unknown_layer_of_a_torchvision_model(self, googlenet: FeatureModel) -> None:
        with raises_model("model googlenet has no layer 'inception4x'; did you mean inception4"):
            googlenet.check_layer("inception4x")

    def test_hidden_stages_are_not_layers(self) -> None:
        with torch.device("meta"):
            model = FeatureModel("vgg16", MODELS["vgg16"].builder(), MODELS["vgg16"], [], {})
        assert "_conv1_1_pre" in model.stage_names
        assert "_conv1_1_pre" not in model.layer_names
        with raises_model("model vgg16 has no layer '_conv1_1_pre'"):
            model.check_layer("_conv1_1_pre")

    def test_available_models(self) -> None:
        assert available_models() == ALL_MODELS
        assert DEFAULT_MODEL == "efficientnet-lite0"

    def test_imagenet_categories(self) -> None:
        categories = imagenet_categories()
        assert len(categories) == 1000 and len(set(categories)) == 1000
        assert categories[954] == "banana"
        assert categories[207] == "golden retriever"
        assert categories[285] == "Egyptian cat"


# ------------------------------------------------------------------------------------------ forward


class TestForward:
    def run_with_hooks(
        self, model: FeatureModel, modules: dict[str, nn.Module], layers: list[str]
    ) -> tuple[dict, list]:
        """Run ``model`` on a random image; return the activations and which of ``modules`` ran, in order."""
        ran: list[str] = []
        handles = [m.register_forward_hook(lambda *_, n=n: ran.append(n)) for n, m in modules.items()]
        try:
            with torch.no_grad():
                acts = model(torch.rand(1, 3, 64, 64), layers)
        finally:
            for handle in handles:
                handle.remove()
        return acts, ran

    def lite0_modules(self, model: FeatureModel) -> dict[str, nn.Module]:
        net = model.net
        return {
            "stem": net._conv_stem,
            **{f"b{i}": block for i, block in enumerate(net._blocks)},
            "head": net._conv_head,
            "logits": net._fc,
        }

    def test_stops_at_the_deepest_requested_layer(self, lite0: FeatureModel) -> None:
        acts, ran = self.run_with_hooks(lite0, self.lite0_modules(lite0), ["b4", "b2"])
        assert ran == ["stem", "b0", "b1", "b2", "b3", "b4"]
        assert sorted(acts) == ["b2", "b4"]

    def test_logits_run_everything(self, lite0: FeatureModel) -> None:
        _, ran = self.run_with_hooks(lite0, self.lite0_modules(lite0), ["logits"])
        assert ran == list(self.lite0_modules(lite0))

    def test_stops_early_in_a_torchvision_model(self, googlenet: FeatureModel) -> None:
        net = googlenet.net
        names = ["conv1", "inception3a", "inception3b", "inception4a", "inception5b", "fc"]
        modules = {n: getattr(net, n) for n in names}
        acts, ran = self.run_with_hooks(googlenet, modules, ["inception3b"])
        assert ran == ["conv1", "inception3a", "inception3b"]
        assert acts["inception3b"].shape == (1, 480, 8, 8)

    def test_returns_exactly_the_requested_layers(self, lite0: FeatureModel) -> None:
        with torch.no_grad():
            acts = lite0(torch.rand(2, 3, 64, 96), ["b10", "b4", "b10"])
        assert sorted(acts) == ["b10", "b4"]
        assert acts["b4"].shape == (2, 40, 8, 12)
        assert acts["b10"].shape == (2, 112, 4, 6)

    def test_odd_sizes_round_up(self, lite0: FeatureModel) -> None:
        with torch.no_grad():
            acts = lite0(torch.rand(1, 3, 33, 17), ["stem", "b15"])
        assert acts["stem"].shape == (1, 32, 17, 9)
        assert acts["b15"].shape == (1, 320, 2, 1)

    def test_no_layers_gives_an_empty_dict_and_runs_nothing(self, lite0: FeatureModel) -> None:
        acts, ran = self.run_with_hooks(lite0, self.lite0_modules(lite0), [])
        assert acts == {} and ran == []

    def test_weights_are_frozen_and_model_is_in_eval_mode(self, lite0: FeatureModel, googlenet: FeatureModel) -> None:
        for model in (lite0, googlenet):
            assert all(not p.requires_grad for p in model.parameters())
            assert not any(m.training for m in model.modules())

    def test_gradient_reaches_the_image_only(self, lite0: FeatureModel) -> None:
        image = torch.rand(1, 3, 32, 32, requires_grad=True)
        lite0(image, ["b10"])["b10"].pow(2).mean().backward()
        assert image.grad is not None and image.grad.abs().sum() > 0
        assert all(p.grad is None for p in lite0.parameters())

    def test_input_is_not_modified(self, lite0: FeatureModel, googlenet: FeatureModel) -> None:
        for model in (lite0, googlenet):
            image = torch.rand(1, 3, 64, 64)
            before, version = image.clone(), image._version
            with torch.no_grad():
                model(image, ["logits"])
            assert image._version == version
            torch.testing.assert_close(image, before, rtol=0, atol=0)

    def test_requested_activations_are_not_changed_by_later_stages(self, lite0: FeatureModel) -> None:
        image = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            alone = lite0(image, ["stem"])["stem"]
            together = lite0(image, ["stem", "logits"])["stem"]
        torch.testing.assert_close(together, alone, rtol=0, atol=0)

    def test_dtype_follows_the_input(self, lite0: FeatureModel) -> None:
        model = load_model("efficientnet-lite0").half()  # float16: CPU float64 convolutions are slow to start
        image = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            acts = model(image.half(), ["stem", "b4"])
            want = lite0(image, ["b4"])["b4"]
        assert {a.dtype for a in acts.values()} == {torch.float16}
        torch.testing.assert_close(acts["b4"].float(), want, rtol=0, atol=2e-2 * want.abs().max().item())

    def test_device_follows_the_input(self) -> None:
        model = load_model("efficientnet-lite0").to("meta")
        acts = model(torch.empty(1, 3, 64, 64, device="meta"), ["b10"])
        assert acts["b10"].device.type == "meta" and acts["b10"].shape == (1, 112, 4, 4)

    def test_load_model_device(self) -> None:
        model = load_model("efficientnet-lite0", device=torch.device("cpu"))
        assert {p.device.type for p in model.parameters()} | {b.device.type for b in model.buffers()} == {"cpu"}

    @pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
    def test_cuda(self, lite0: FeatureModel) -> None:
        model = load_model("efficientnet-lite0", device="cuda")
        image = torch.rand(1, 3, 64, 64)
        with torch.no_grad():
            got = model(image.cuda(), ["logits"])["logits"]
            want = lite0(image, ["logits"])["logits"]
        assert got.device.type == "cuda"
        torch.testing.assert_close(got.cpu(), want, rtol=1e-3, atol=1e-3 * want.abs().max().item())


# ------------------------------------------------------------------------------------------- layers


class TestListLayers:
    @pytest.mark.parametrize("name", ALL_MODELS)
    def test_layer_table_is_consistent(self, name: str) -> None:
        infos = list_layers(name)
        names = [info.name for info in infos]
        assert len(set(names)) == len(names)
        assert not any(n.startswith("_") for n in names)
        assert [i.name for i in infos if i.note == "recommended"] == [MODELS[name].default_layer]
        assert all(i.note in ("", "recommended") for i in infos)
        assert infos[-1] == LayerInfo("logits", 1000, 0, "")
        strides = [i.stride for i in infos[:-1]]
        assert all(s > 0 and s & (s - 1) == 0 for s in strides), strides  # powers of two
        assert strides == sorted(strides) and strides[-1] == 32
        assert all(i.channels > 0 for i in infos)

    def test_default_layers(self, lite0: FeatureModel) -> None:
        defaults = {name: [i.name for i in list_layers(name) if i.note == "recommended"] for name in ALL_MODELS}
        assert defaults == {
            "efficientnet-lite0": ["b10"], "googlenet": ["inception4c"], "vgg16": ["conv4_3"],
            "vgg19": ["conv4_4"], "inception_v3": ["Mixed_6b"], "resnet50": ["layer3.3"],
        }
        assert lite0.default_layer == "b10"

    def test_efficientnet_table(self) -> None:
        infos = list_layers("efficientnet-lite0")
        assert [i.name for i in infos] == ["stem", *[f"b{i}" for i in range(16)], "head", "logits"]
        assert [i.channels for i in infos] == LITE0_CHANNELS
        assert [i.stride for i in infos] == LITE0_STRIDES
        assert list_layers() == infos

    def test_inception_v3_strides(self) -> None:
        strides = {i.name: i.stride for i in list_layers("inception_v3")}
        # 299 px in, 17 and 8 px out: strides 16 and 32, not 299 // 17 = 17 and 299 // 8 = 37
        assert [strides[n] for n in ("Conv2d_1a_3x3", "Mixed_5b", "Mixed_6b", "Mixed_7c")] == [2, 8, 16, 32]

    @pytest.mark.parametrize("model_fixture", ["lite0", "googlenet"])
    def test_table_matches_a_real_forward(self, model_fixture: str, request: pytest.FixtureRequest) -> None:
        model = request.getfixturevalue(model_fixture)
        infos = list_layers(model.name)
        with torch.no_grad():
            acts = model(torch.rand(1, 3, 224, 224), model.layer_names)
        assert [i.name for i in infos] == model.layer_names
        assert model.channels == {i.name: i.channels for i in infos}
        for info in infos:
            assert acts[info.name].shape[1] == info.channels, info.name
            if info.stride:
                assert acts[info.name].shape[-2:] == (224 // info.stride,) * 2, info.name

    def test_layers_are_listed_without_weights_or_downloads(self, monkeypatch: pytest.MonkeyPatch) -> None:
        with no_download(monkeypatch) as calls:
            for name in ALL_MODELS:
                list_layers(name)
        assert calls == []


# ------------------------------------------------------------------------------------------ SameConv2d


class TestSameConv2d:
    @staticmethod
    def ones_conv(kernel: int, stride: int) -> SameConv2d:
        conv = SameConv2d(1, 1, kernel, stride=stride, bias=False)
        nn.init.ones_(conv.weight)
        return conv

    @pytest.mark.parametrize("size", range(1, 10))
    @pytest.mark.parametrize("stride", [1, 2, 3])
    @pytest.mark.parametrize("kernel", [1, 3, 5])
    def test_output_size_is_ceil_of_input_over_stride(self, size: int, stride: int, kernel: int) -> None:
        conv = SameConv2d(2, 4, kernel, stride=stride)
        out = conv(torch.rand(1, 2, size, size + 1))
        assert out.shape == (1, 4, math.ceil(size / stride), math.ceil((size + 1) / stride))

    def test_even_input_pads_bottom_right_only(self) -> None:
        x = torch.arange(16.0).view(1, 1, 4, 4)
        out = self.ones_conv(3, 2)(x)
        # TF "same": 1 pixel of padding, all of it after; windows rows/cols {0,1,2} and {2,3,(pad)}.
        torch.testing.assert_close(out, torch.tensor([[[[45.0, 39.0], [66.0, 50.0]]]]), rtol=0, atol=0)

    def test_odd_input_pads_both_sides(self) -> None:
        out = self.ones_conv(3, 2)(torch.ones(1, 1, 5, 5))
        want = torch.tensor([[4.0, 6.0, 4.0], [6.0, 9.0, 6.0], [4.0, 6.0, 4.0]])
        torch.testing.assert_close(out[0, 0], want, rtol=0, atol=0)

    def test_height_and_width_are_padded_separately(self) -> None:
        # height 4: pads (0, 1); width 5: pads (1, 1)
        out = self.ones_conv(3, 2)(torch.ones(1, 1, 4, 5))
        torch.testing.assert_close(out[0, 0], torch.tensor([[6.0, 9.0, 6.0], [4.0, 6.0, 4.0]]), rtol=0, atol=0)

    def test_kernel_five_stride_two_puts_the_odd_pixel_after(self) -> None:
        # width 4, kernel 5, stride 2: 3 pixels of padding, 1 before and 2 after
        x = torch.tensor([[[[1.0, 10.0, 100.0, 1000.0]]]])
        conv = SameConv2d(1, 1, (1, 5), stride=(1, 2), bias=False)
        nn.init.ones_(conv.weight)
        out = conv(x)
        # windows cover columns -1..3 and 1..5 (2 before / 1 after would give 111 and 1111)
        torch.testing.assert_close(out[0, 0, 0], torch.tensor([1111.0, 1110.0]), rtol=0, atol=0)

    def test_stride_one_keeps_the_size_and_the_centre(self) -> None:
        x = torch.zeros(1, 1, 4, 4)
        x[0, 0, 1, 2] = 1.0
        conv = SameConv2d(1, 1, 3, bias=False)
        with torch.no_grad():
            conv.weight.zero_()
            conv.weight[0, 0, 1, 1] = 1.0  # identity kernel
        torch.testing.assert_close(conv(x), x, rtol=0, atol=0)

    def test_input_is_not_modified(self) -> None:
        x = torch.rand(1, 3, 6, 6)
        version = x._version
        SameConv2d(3, 3, 3, stride=2)(x)
        assert x._version == version
