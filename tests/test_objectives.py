"""Tests for dreamvid.objectives: the objective algebra, the guide objective and the string syntax.

Activations are tiny hand-made tensors, so every expected value below is worked out by hand.
"""

from __future__ import annotations

import re
from contextlib import AbstractContextManager

import pytest
import torch

from dreamvid.errors import ObjectiveError
from dreamvid.models import imagenet_categories
from dreamvid.objectives import Objective, channel, class_logit, find_class, guide, layer, parse_objective

CATEGORIES = imagenet_categories()
LAYERS = {"b4": 40, "b8": 112, "b10": 112, "b12": 192}


def acts() -> dict[str, torch.Tensor]:
    """Activations with hand-computable statistics (see the comments for each objective's value)."""
    return {
        "b4": torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]]),  # (1, 2, 1, 2): mean square 30/4 = 7.5
        "b8": torch.full((1, 1, 2, 2), 2.0),  # mean square 4
        "b10": torch.ones(1, 3, 2, 2),  # mean square 1
        # (1, 3, 1, 2): channel 0 [1, 1], channel 1 [2, -2], channel 2 [0, 3]
        "b12": torch.tensor([[[[1.0, 1.0]], [[2.0, -2.0]], [[0.0, 3.0]]]]),  # mean square 19/6
        "logits": torch.tensor([[0.0, 1.0, 2.0, 3.0, 4.0], [0.0, 2.0, 4.0, 6.0, 8.0]]),  # a batch of two
    }


def value(objective: Objective) -> float:
    return float(objective(acts()))


def raises_objective(message: str) -> AbstractContextManager[pytest.ExceptionInfo[ObjectiveError]]:
    """Expect an ObjectiveError whose message contains ``message`` verbatim."""
    return pytest.raises(ObjectiveError, match=re.escape(message))


def parse(text: str, **kwargs) -> Objective:
    return parse_objective(text, default_layer="b10", layers=LAYERS, categories=CATEGORIES, **kwargs)


class FakeGuide:
    """A ``guide_features`` callable that records its arguments and returns fixed features."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.features = torch.tensor([[[[2.0, 1.0]], [[0.0, 1.0]], [[0.0, 0.0]]]])  # (1, 3, 1, 2)

    def __call__(self, path: str, name: str) -> torch.Tensor:
        self.calls.append((path, name))
        return self.features


# ------------------------------------------------------------------------------------------ atoms


class TestAtoms:
    def test_layer_is_the_mean_square(self) -> None:
        objective = layer("b4")
        assert value(objective) == 7.5
        assert objective.layers == {"b4"}
        assert objective.description == "b4" and repr(objective) == "Objective(b4)"

    def test_one_channel(self) -> None:
        objective = channel("b12", [1])
        assert value(objective) == 4.0  # (4 + 4) / 2
        assert objective.layers == {"b12"} and objective.description == "b12:1"

    def test_several_channels(self) -> None:
        objective = channel("b12", (0, 2))
        assert value(objective) == 2.75  # (1 + 1 + 0 + 9) / 4
        assert objective.description == "b12:0,2"

    def test_class_logit_is_averaged_over_the_batch(self) -> None:
        objective = class_logit(3, "tabby")
        assert value(objective) == 4.5  # (3 + 6) / 2
        assert objective.layers == {"logits"} and objective.description == "class:tabby"
        assert class_logit(3).description == "class:3"

    def test_gradient_of_the_mean_square(self) -> None:
        x = acts()["b4"].requires_grad_()
        layer("b4")({"b4": x}).backward()
        torch.testing.assert_close(x.grad, torch.tensor([[[[0.5, 1.0]], [[1.5, 2.0]]]]), rtol=0, atol=0)

    def test_computed_in_float32_for_half_activations(self) -> None:
        half = {"b4": acts()["b4"].half()}
        result = layer("b4")(half)
        assert result.dtype == torch.float32 and float(result) == 7.5

    def test_activations_are_not_modified(self) -> None:
        a = acts()
        versions = {k: v._version for k, v in a.items()}
        (layer("b4") + channel("b12", [0]) + class_logit(1))(a)
        assert {k: v._version for k, v in a.items()} == versions
        for key, tensor in acts().items():
            torch.testing.assert_close(a[key], tensor, rtol=0, atol=0)


# ---------------------------------------------------------------------------------------- algebra


class TestAlgebra:
    def test_sum(self) -> None:
        objective = layer("b4") + layer("b8")
        assert value(objective) == 11.5
        assert objective.layers == {"b4", "b8"}
        assert objective.description == "b4 + b8"

    @pytest.mark.parametrize("weight", [2, 2.0])
    def test_scaling_on_either_side(self, weight: float) -> None:
        for objective in (weight * layer("b4"), layer("b4") * weight):
            assert value(objective) == 15.0
            assert objective.description == "2*b4"
            assert objective.layers == {"b4"}

    def test_fractional_weight(self) -> None:
        objective = 0.5 * layer("b8") + channel("b12", [1])
        assert value(objective) == 6.0  # 0.5 * 4 + 4
        assert objective.description == "0.5*b8 + b12:1"

    def test_negation(self) -> None:
        objective = -layer("b4")
        assert value(objective) == -7.5
        assert objective.description == "-1*b4"

    def test_subtraction(self) -> None:
        objective = layer("b4") - layer("b8")
        assert value(objective) == 3.5
        assert objective.layers == {"b4", "b8"}
        assert objective.description == "b4 + -1*b8"

    def test_scaling_a_sum_scales_every_term(self) -> None:
        objective = 2 * (layer("b4") + layer("b8"))
        assert value(objective) == 23.0
        assert objective.description == "2*(b4 + b8)"

    def test_layers_is_the_union(self) -> None:
        objective = layer("b4") + 3 * channel("b12", [0]) - class_logit(0) + layer("b4")
        assert objective.layers == frozenset({"b4", "b12", "logits"})
        assert value(objective) == 7.5 + 3 * 1.0 - 0.0 + 7.5

    def test_gradient_flows_through_the_algebra(self) -> None:
        x = acts()["b4"].requires_grad_()
        (3 * layer("b4") - 0.5 * layer("b4"))({"b4": x}).backward()
        torch.testing.assert_close(x.grad, 2.5 * torch.tensor([[[[0.5, 1.0]], [[1.5, 2.0]]]]))

    def test_multiplying_two_objectives_is_refused(self) -> None:
        with pytest.raises(TypeError, match="cannot multiply two objectives; add them, or scale one by a number"):
            layer("b4") * layer("b8")

    @pytest.mark.parametrize("other", ["2", True, None, [2], torch.tensor(2.0)])
    def test_multiplying_by_a_non_number_is_refused(self, other: object) -> None:
        with pytest.raises(TypeError):
            layer("b4") * other
        with pytest.raises(TypeError):
            other * layer("b4")

    @pytest.mark.parametrize("other", [1, 0.0, "b8"])
    def test_adding_a_non_objective_is_refused(self, other: object) -> None:
        with pytest.raises(TypeError):
            layer("b4") + other
        with pytest.raises(TypeError):
            other + layer("b4")
        with pytest.raises(TypeError):
            layer("b4") - other


# ------------------------------------------------------------------------------------------ guide


class TestGuide:
    # Dreamed positions (columns of channel vectors) p0 = [1, 0], p1 = [0, 2], p2 = [1, 3];
    # guide features t0 = [2, 0], t1 = [1, 1].
    # Dot products: p0 -> (2, 1) picks t0 = 2; p1 -> (0, 2) picks t1 = 2; p2 -> (2, 4) picks t1 = 4.
    X = [[[[1.0, 0.0, 1.0]], [[0.0, 2.0, 3.0]]]]  # (1, 2, 1, 3)
    T = [[[[2.0, 1.0]], [[0.0, 1.0]]]]  # (1, 2, 1, 2)

    def test_value_is_the_mean_best_match_dot_product(self) -> None:
        objective = guide("b8", torch.tensor(self.T))
        assert objective.layers == {"b8"} and objective.description == "guide@b8"
        torch.testing.assert_close(objective({"b8": torch.tensor(self.X)}), torch.tensor(8.0 / 3.0))

    def test_gradient_pulls_each_position_toward_its_match(self) -> None:
        x = torch.tensor(self.X, requires_grad=True)
        features = torch.tensor(self.T, requires_grad=True)
        guide("b8", features)({"b8": x}).backward()
        want = torch.tensor([[[[2.0, 1.0, 1.0]], [[0.0, 1.0, 1.0]]]]) / 3  # t0, t1, t1, each / 3 positions
        torch.testing.assert_close(x.grad, want)
        assert features.grad is None  # the guide is a fixed target

    def test_guide_features_of_another_size(self) -> None:
        features = torch.tensor(self.T).repeat(1, 1, 3, 1)  # (1, 2, 3, 2): the same two vectors, repeated
        torch.testing.assert_close(
            guide("b8", features)({"b8": torch.tensor(self.X)}), torch.tensor(8.0 / 3.0)
        )


# ---------------------------------------------------------------------------------------- parsing


class TestParse:
    @pytest.mark.parametrize(
        ("text", "description", "layers", "expected"),
        [
            ("b10", "b10", {"b10"}, 1.0),
            ("", "b10", {"b10"}, 1.0),
            ("   ", "b10", {"b10"}, 1.0),
            ("b12:1", "b12:1", {"b12"}, 4.0),
            ("b12:0,2", "b12:0,2", {"b12"}, 2.75),
            ("b12: 0 , 2", "b12:0,2", {"b12"}, 2.75),
            ("0.5*b8+b12", "0.5*b8 + b12", {"b8", "b12"}, 2.0 + 19.0 / 6.0),
            ("2e-1*b4 + b8", "0.2*b4 + b8", {"b4", "b8"}, 0.2 * 7.5 + 4.0),
            (" 3 * b8 ", "3*b8", {"b8"}, 12.0),
            ("-1*b8+b4", "-1*b8 + b4", {"b4", "b8"}, 3.5),
            (".5*b8", "0.5*b8", {"b8"}, 2.0),
            ("b4 + b12:1 + class:3", "b4 + b12:1 + class:tiger shark", {"b4", "b12", "logits"}, 7.5 + 4.0 + 4.5),
        ],
    )
    def test_terms(self, text: str, description: str, layers: set[str], expected: float) -> None:
        objective = parse(text)
        assert objective.description == description
        assert objective.layers == layers
        assert value(objective) == pytest.approx(expected, rel=1e-6)

    @pytest.mark.parametrize(
        ("text", "index", "description"),
        [
            ("class:banana", 954, "class:banana"),
            ("class:954", 954, "class:banana"),
            ("class:Golden_Retriever", 207, "class:golden retriever"),
            ("class:GOLDEN RETRIEVER", 207, "class:golden retriever"),
            ("class: Egyptian cat ", 285, "class:Egyptian cat"),
            ("class:0", 0, "class:tench"),
            ("2*class:999", 999, "2*class:toilet tissue"),
        ],
    )
    def test_classes(self, text: str, index: int, description: str) -> None:
        objective = parse(text)
        assert objective.description == description
        assert objective.layers == {"logits"}
        logits = torch.zeros(1, 1000)
        logits[0, index] = 1.0
        weight = 2.0 if text.startswith("2*") else 1.0
        assert float(objective({"logits": logits})) == weight

    def test_guide_uses_the_default_layer(self) -> None:
        fake = FakeGuide()
        objective = parse("guide:pic.png", guide_features=fake)
        assert fake.calls == [("pic.png", "b10")]
        assert objective.description == "guide@b10" and objective.layers == {"b10"}
        # b10 is all ones; guide features t0 = [2, 0, 0] and t1 = [1, 1, 0] both give a dot product of 2
        assert value(objective) == 2.0

    def test_guide_at_another_layer(self) -> None:
        fake = FakeGuide()
        objective = parse("0.5*guide@b12: pic.png ", guide_features=fake)
        assert fake.calls == [("pic.png", "b12")]
        assert objective.description == "0.5*guide@b12" and objective.layers == {"b12"}
        # b12 positions [1, 2, 0] -> dots (2, 3) -> 3 and [1, -2, 3] -> dots (2, -1) -> 2; mean 2.5, weight 0.5
        assert value(objective) == 1.25

    def test_guide_path_may_contain_plus(self) -> None:
        fake = FakeGuide()
        objective = parse("b4 + guide@b12:my+cat+pic.png", guide_features=fake)
        assert fake.calls == [("my+cat+pic.png", "b12")]
        assert objective.layers == {"b4", "b12"}
        assert objective.description == "b4 + guide@b12"

    def test_guide_path_runs_to_the_end(self) -> None:
        fake = FakeGuide()
        parse("guide:a.png+b4", guide_features=fake)
        assert fake.calls == [("a.png+b4", "b10")]

    def test_find_class_on_a_small_list(self) -> None:
        categories = ["tabby", "Golden Retriever", "banana"]
        assert find_class("golden_retriever", categories) == 1
        assert find_class("2", categories) == 2
        with raises_objective("class index 3 is out of range; use 0 to 2 or a class name"):
            find_class("3", categories)


class TestParseErrors:
    def test_unknown_layer_suggests_close_ones(self) -> None:
        with raises_objective("unknown layer 'b1O' in objective; did you mean ") as info:
            parse("b4+b1O")
        hint = str(info.value).split("did you mean ")[1].split("?")[0]
        assert "b10" in hint.split(", ")
        assert "run 'dreamvid layers' to list them" in str(info.value)

    def test_unknown_layer_without_a_close_one(self) -> None:
        with raises_objective("unknown layer 'conv4_3' in objective; run 'dreamvid layers'"):
            parse("conv4_3")

    @pytest.mark.parametrize("text", ["b12:192", "b12:-1", "b12:3,500"])
    def test_channel_out_of_range(self, text: str) -> None:
        got = text.rsplit(",", 1)[-1].split(":")[-1]
        with raises_objective(f"layer b12 has channels 0-191, got {got}; pick one in that range"):
            parse(text)

    @pytest.mark.parametrize("text", ["b12:x", "b12:7,", "b12:1.5", "b12:7;9"])
    def test_malformed_channel_list(self, text: str) -> None:
        with raises_objective(f"malformed channel list in '{text}'; write LAYER:N or LAYER:N,M"):
            parse(text)

    def test_unknown_class_suggests_close_ones(self) -> None:
        with raises_objective("unknown ImageNet class 'bananna'; did you mean 'banana'") as info:
            parse("class:bananna")
        assert "use a name such as 'banana' or an index 0-999" in str(info.value)

    def test_class_index_out_of_range(self) -> None:
        with raises_objective("class index 1000 is out of range; use 0 to 999 or a class name"):
            parse("class:1000")

    @pytest.mark.parametrize("text", ["b4+", "b4 + ", "+"])
    def test_trailing_plus(self, text: str) -> None:
        with raises_objective(f"objective '{text.strip()}' ends with '+'; add a term after it"):
            parse(text)

    @pytest.mark.parametrize("text", ["b4++b8", "+b8", "b4+ +b8"])
    def test_empty_term(self, text: str) -> None:
        with raises_objective(f"empty term in objective '{text}'; write terms like 'b10' or '0.5*b8+b12'"):
            parse(text)

    @pytest.mark.parametrize("text", ["guide@:x.png", "guide:", "guide@b8", "guide x.png"])
    def test_malformed_guide(self, text: str) -> None:
        with raises_objective(f"malformed guide term '{text}'; write guide:PICTURE or guide@LAYER:PICTURE"):
            parse(text, guide_features=FakeGuide())

    def test_guide_at_an_unknown_layer(self) -> None:
        fake = FakeGuide()
        with raises_objective("unknown layer 'b88' in objective; did you mean b8"):
            parse("guide@b88:pic.png", guide_features=fake)
        assert fake.calls == []

    def test_guide_without_guide_features(self) -> None:
        with raises_objective("guide objectives need a model to compute the guide's features"):
            parse("guide:pic.png")


@pytest.mark.parametrize("text", ["0.5*", "b4*0.5", "x*b4"])
def test_malformed_weight_is_named(text):
    with pytest.raises(ObjectiveError, match="malformed term .*NUMBER\\*TERM"):
        parse_objective(text, default_layer="b4", layers={"b4": 24}, categories=[])


@pytest.mark.parametrize("text", ["1e309*b4", "-1e309*b4", "1000001*b4", "1e7*b4+b4"])
def test_weight_out_of_range_is_refused(text):
    with pytest.raises(ObjectiveError, match="is out of range; use a number from -1000000 to 1000000"):
        parse_objective(text, default_layer="b4", layers={"b4": 24}, categories=[])


def test_weight_at_the_limit_is_accepted():
    objective = parse_objective("-1e6*b4", default_layer="b4", layers={"b4": 24}, categories=[])
    assert objective.description == "-1e+06*b4"


def test_layer_with_an_empty_channel_list_is_refused():
    with pytest.raises(ObjectiveError, match="malformed channel list in 'b4:'"):
        parse_objective("b4:", default_layer="b4", layers={"b4": 24}, categories=[])
