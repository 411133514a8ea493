"""What a dream maximises: ``Objective(activations) → scalar``, built from one small string syntax.

Objectives are callables over the dict of activations that :class:`dreamvid.models.FeatureModel`
returns; each knows which layers it needs (``objective.layers``) so the forward pass can stop early.
They add and scale like numbers (``0.5 * layer("b8") + channel("b12", 7)``); multiplying two objectives
has no meaning here and raises ``TypeError``.

String syntax (CLI ``--objective`` and presets), terms joined by ``+``, each optionally ``WEIGHT*``:

    ``b10``              mean square activation of a layer (the classic DeepDream objective)
    ``b12:7``            one channel; ``b12:7,9,30`` several
    ``class:banana``     an ImageNet class logit, by name (case-insensitive) or index
    ``guide:cat.jpg``    make the default layer's features resemble a guide picture's;
                         ``guide@b8:cat.jpg`` at another layer
    ``0.5*b8+b12``       weighted sums
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence

import torch

from dreamvid.errors import ObjectiveError

Activations = Mapping[str, torch.Tensor]


class Objective:
    """A scalar function of layer activations that knows which layers it reads.

    Example:
        >>> acts = {"b4": torch.ones(1, 2, 3, 3), "b8": torch.full((1, 2, 3, 3), 2.0)}
        >>> objective = 0.5 * layer("b4") + layer("b8")
        >>> sorted(objective.layers), float(objective(acts))
        (['b4', 'b8'], 4.5)
    """

    def __init__(self, fn: Callable[[Activations], torch.Tensor], layers: Iterable[str], description: str) -> None:
        self.fn = fn
        self.layers = frozenset(layers)
        self.description = description

    def __call__(self, acts: Activations) -> torch.Tensor:
        return self.fn(acts)

    def __repr__(self) -> str:
        return f"Objective({self.description})"

    def __add__(self, other: object) -> Objective:
        if not isinstance(other, Objective):
            return NotImplemented
        return Objective(lambda a: self(a) + other(a), self.layers | other.layers, f"{self.description} + {other.description}")

    def __neg__(self) -> Objective:
        return -1.0 * self

    def __sub__(self, other: object) -> Objective:
        if not isinstance(other, Objective):
            return NotImplemented
        return self + (-other)

    def __mul__(self, other: object) -> Objective:
        if isinstance(other, Objective):
            raise TypeError("cannot multiply two objectives; add them, or scale one by a number")
        if not isinstance(other, (int, float)) or isinstance(other, bool):
            return NotImplemented
        weight = float(other)
        scaled = f"({self.description})" if " + " in self.description else self.description  # 2*(a + b)
        return Objective(lambda a: weight * self(a), self.layers, f"{weight:g}*{scaled}")

    __rmul__ = __mul__


def layer(name: str) -> Objective:
    """Mean square activation of layer ``name``: amplify whatever the layer already sees."""
    return Objective(lambda a: a[name].float().pow(2).mean(), [name], name)


def channel(name: str, channels: Sequence[int]) -> Objective:
    """Mean square activation of some channels of layer ``name``."""
    index = list(channels)
    return Objective(lambda a: a[name][:, index].float().pow(2).mean(), [name], f"{name}:{','.join(map(str, index))}")


def class_logit(index: int, label: str = "") -> Objective:
    """The pre-softmax score of ImageNet class ``index``."""
    return Objective(lambda a: a["logits"][:, index].float().mean(), ["logits"], f"class:{label or index}")


def guide(name: str, features: torch.Tensor) -> Objective:
    """Make layer ``name`` resemble a guide image's ``features`` ``(1, C, h, w)``.

    Each position of the dreamed layer is pulled toward the guide feature it already matches best
    (the dot-product matching of the 2015 DeepDream notebook).
    """
    target = features.detach().float().flatten(2)[0]  # (C, M)

    def fn(acts: Activations) -> torch.Tensor:
        x = acts[name].float().flatten(2)[0]  # (C, P)
        best = (x.t() @ target.to(x.device)).argmax(dim=1)  # (P,)
        return (x * target.to(x.device)[:, best]).sum(0).mean()

    return Objective(fn, [name], f"guide@{name}")


def find_class(label: str, categories: Sequence[str]) -> int:
    """Index of an ImageNet class by index or name (case-insensitive, ``_`` for spaces)."""
    text = label.strip()
    if text.isdigit():
        if int(text) < len(categories):
            return int(text)
        raise ObjectiveError(f"class index {text} is out of range; use 0 to {len(categories) - 1} or a class name")
    names = {c.lower(): i for i, c in enumerate(categories)}
    key = text.lower().replace("_", " ")
    if key in names:
        return names[key]
    close = difflib.get_close_matches(key, list(names), n=3)
    hint = f"did you mean {', '.join(repr(categories[names[c]]) for c in close)}? " if close else ""
    raise ObjectiveError(f"unknown ImageNet class '{label}'; {hint}use a name such as 'banana' or an index 0-999")


MAX_WEIGHT = 1e6
"""The largest ``|weight|`` of a term: beyond it the step normalisation sees only one term, or overflows."""

_TERM = re.compile(r"^\s*(?:(?P<weight>[-+]?\d*\.?\d+(?:[eE][-+]?\d+)?)\s*\*\s*)?(?P<atom>\S.*?)\s*$")


def parse_objective(
    text: str,
    *,
    default_layer: str,
    layers: Mapping[str, int],
    categories: Sequence[str],
    guide_features: Callable[[str, str], torch.Tensor] | None = None,
) -> Objective:
    """Parse the objective syntax (see the module docstring) into an :class:`Objective`.

    Args:
        text: the objective string; empty means ``default_layer``.
        default_layer: the model's recommended layer.
        layers: the model's layer names and their channel counts, to check against.
        categories: ImageNet class names, for ``class:``.
        guide_features: ``(path, layer) → features`` for ``guide:`` terms.

    Raises:
        ObjectiveError: malformed text, unknown layer, channel or class.

    Example:
        >>> parse_objective("0.5*b8+b12:7", default_layer="b10", layers={"b8": 80, "b10": 112, "b12": 192}, categories=[])
        Objective(0.5*b8 + b12:7)
    """
    text = text.strip() or default_layer
    total: Objective | None = None
    for term in _split_terms(text):
        match = _TERM.match(term)
        if not match:
            raise ObjectiveError(f"empty term in objective '{text}'; write terms like 'b10' or '0.5*b8+b12'")
        part = _parse_atom(match["atom"], default_layer, layers, categories, guide_features)
        if match["weight"] is not None:
            part = _weight(match["weight"], text) * part
        total = part if total is None else total + part
    return total  # type: ignore[return-value]  # _split_terms returns at least one term


def _weight(written: str, text: str) -> float:
    """A term's weight, refused unless finite with ``|weight| <= MAX_WEIGHT`` (``1e309`` is infinity)."""
    weight = float(written)
    if not abs(weight) <= MAX_WEIGHT:
        raise ObjectiveError(f"weight {written} in objective '{text}' is out of range; use a number from "
                             f"{-MAX_WEIGHT:.0f} to {MAX_WEIGHT:.0f}")
    return weight


def _split_terms(text: str) -> list[str]:
    """Split on top-level ``+``; a ``guide:`` path runs to the end of the string and may contain ``+``."""
    terms, rest = [], text
    while rest:
        head = rest.split("+", 1)
        if re.match(r"^\s*(?:[-+]?[\d.eE+-]+\s*\*\s*)?guide[@:]", head[0]):
            terms.append(rest)
            break
        terms.append(head[0])
        rest = head[1] if len(head) == 2 else ""
        if len(head) == 2 and not rest.strip():
            raise ObjectiveError(f"objective '{text}' ends with '+'; add a term after it")
    return terms


def _parse_atom(
    atom: str,
    default_layer: str,
    layers: Mapping[str, int],
    categories: Sequence[str],
    guide_features: Callable[[str, str], torch.Tensor] | None,
) -> Objective:
    if "*" in atom:
        raise ObjectiveError(f"malformed term '{atom}'; write a weighted term as NUMBER*TERM, e.g. 0.5*b8")
    if atom.startswith("class:"):
        index = find_class(atom[len("class:"):], categories)
        return class_logit(index, categories[index])
    if atom.startswith("guide"):
        match = re.match(r"^guide(?:@(?P<layer>[^:]+))?:(?P<path>.+)$", atom)
        if not match:
            raise ObjectiveError(f"malformed guide term '{atom}'; write guide:PICTURE or guide@LAYER:PICTURE")
        name = _check_layer(match["layer"] or default_layer, layers)
        if guide_features is None:
            raise ObjectiveError("guide objectives need a model to compute the guide's features")
        return guide(name, guide_features(match["path"].strip(), name))
    name, colon, chans = atom.partition(":")
    name = _check_layer(name.strip(), layers)
    if not colon:
        return layer(name)
    try:
        index = [int(c) for c in chans.split(",")]
    except ValueError:
        raise ObjectiveError(f"malformed channel list in '{atom}'; write LAYER:N or LAYER:N,M") from None
    for c in index:
        if not 0 <= c < layers[name]:
            raise ObjectiveError(f"layer {name} has channels 0-{layers[name] - 1}, got {c}; pick one in that range")
    return channel(name, index)


def _check_layer(name: str, layers: Mapping[str, int]) -> str:
    if name in layers:
        return name
    close = difflib.get_close_matches(name, list(layers), n=3)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    raise ObjectiveError(f"unknown layer '{name}' in objective; {hint}run 'dreamvid layers' to list them")
