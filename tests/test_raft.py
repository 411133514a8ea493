"""RAFT optical flow: the weights path (a state dict saved here; nothing downloads) and the flow shape."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dreamvid.errors import ModelError
from dreamvid.flow import make_flow
from dreamvid.models import load_raft


@pytest.fixture(scope="module")
def raft_weights(tmp_path_factory):
    from torchvision.models.optical_flow import raft_small

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("raft") / "raft_small.pth"
    torch.save(raft_small(weights=None).state_dict(), path)
    return path


def test_loads_a_saved_state_dict_frozen(raft_weights):
    net = load_raft(weights=raft_weights)
    assert not net.training and not any(p.requires_grad for p in net.parameters())
    saved = torch.load(raft_weights, weights_only=True)
    key = next(iter(saved))
    assert torch.equal(net.state_dict()[key], saved[key])


def test_flow_function_shape_and_odd_sizes(raft_weights):
    flow = make_flow("raft", weights=str(raft_weights))
    rng = np.random.default_rng(0)
    a = rng.integers(0, 255, (37, 50, 3), dtype=np.uint8)  # not multiples of 8: padded and cropped back
    out = flow(a, np.roll(a, 2, axis=1))
    assert out.shape == (37, 50, 2) and out.dtype == np.float32 and np.isfinite(out).all()


def test_absent_weights_are_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("DREAMVID_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(ModelError, match="raft_small.*--weights FILE"):
        load_raft()


def test_wrong_weights_refused(tmp_path):
    path = tmp_path / "wrong.pth"
    torch.save({"conv.weight": torch.zeros(1)}, path)
    with pytest.raises(ModelError, match="do not fit model raft_small"):
        load_raft(weights=path)


def test_flow_method_is_accepted_in_config():
    from dreamvid.config import load_config

    assert load_config(None, ['video.flow="raft"', 'video.flow_weights="r.pth"']).video.flow == "raft"
