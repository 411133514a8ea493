"""Panoramic VR through the commands: layouts, the seam, the poles, stereo eyes, metadata and memory."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from dreamvid import cli
from dreamvid.config import RunConfig, VrConfig, load_config
from dreamvid.errors import ConfigError
from dreamvid.images import read_image, write_image
from dreamvid.panorama import Layout, dream_layout, latitude_weight, resolve_layout
from dreamvid.flow import make_flow
from dreamvid.pipeline import engine_for
from dreamvid.spherical import Spherical, read_spherical, write_spherical
from dreamvid.video import VideoWriter, probe, read_frames
from test_spherical import SPHERICAL_LINE, STEREO_LINES, side_data

runner = CliRunner()
FAST = ["--set", "dream.octaves=2", "--set", "dream.steps=3", "--set", "video.seeded_octaves=1",
        "--set", "video.seeded_steps=1"]


def panorama(width: int = 128) -> np.ndarray:
    """A seamless photographic equirect panorama (uint8): a strip of photographs, made periodic in x."""
    from skimage import data

    import cv2

    height = width // 2
    strip = np.concatenate([cv2.resize(getattr(data, name)(), (width // 2, height), interpolation=cv2.INTER_AREA)
                            for name in ("astronaut", "coffee")], axis=1)
    # cross-fade the last columns into the first ones so the left and right edges are neighbours
    fade = width // 8
    w = np.linspace(0, 1, fade, dtype=np.float32)[None, :, None]
    strip = strip.astype(np.float32)
    strip[:, -fade:] = (1 - w) * strip[:, -fade:] + w * strip[:, :1]
    return np.clip(strip + 0.5, 0, 255).astype(np.uint8)


def seam_step(frame: np.ndarray, near: int = 8) -> float:
    """|last column − first column| over the mean difference of the column pairs within ``near`` of the seam."""
    f = np.concatenate([frame[:, -near - 1:], frame[:, :near + 1]], axis=1).astype(np.float64)
    steps = np.abs(np.diff(f, axis=1)).mean(axis=(0, 2))
    return float(steps[near] / np.delete(steps, near).mean())


# -------------------------------------------------------------------------------------------- layouts


def test_layout_splits_and_joins_eyes() -> None:
    frame = np.arange(4 * 6 * 3, dtype=np.float32).reshape(4, 6, 3)
    for stereo in ("mono", "top-bottom", "left-right"):
        layout = Layout("equirect", stereo)
        assert np.array_equal(layout.join(layout.split(frame)), frame)
    assert [e.shape for e in Layout(stereo="left-right").split(frame)] == [(4, 3, 3), (4, 3, 3)]
    assert Layout(stereo="top-bottom").eye_size((6, 4)) == (6, 2)


def test_auto_layout_follows_the_metadata() -> None:
    vr = VrConfig()
    assert resolve_layout(vr, None, (64, 32)) == Layout("flat", "mono")
    assert resolve_layout(vr, Spherical("equirect", "top-bottom", "v2"), (64, 64)) == Layout("equirect", "top-bottom")
    # explicit settings win over the metadata
    forced = VrConfig(projection="flat", stereo="mono")
    assert resolve_layout(forced, Spherical("equirect", "left-right", "v1"), (64, 32)) == Layout()


@pytest.mark.parametrize(("metadata", "vr", "size", "message"), [
    (Spherical("cubemap", "mono", "v2"), VrConfig(), (64, 32), "is a cubemap 360° video"),
    (Spherical("equirect", "right-left", "v2"), VrConfig(), (64, 32), "right-left stereo"),
    (None, VrConfig(stereo="top-bottom"), (64, 33), "has an odd height"),
    (None, VrConfig(stereo="left-right"), (65, 32), "has an odd width"),
])
def test_layouts_dreamvid_cannot_dream_are_clear_errors(metadata, vr, size, message) -> None:
    with pytest.raises(ConfigError, match=message):
        resolve_layout(vr, metadata, size)


def test_unknown_vr_values_are_refused() -> None:
    with pytest.raises(ConfigError, match="vr.projection"):
        VrConfig(projection="fisheye")
    with pytest.raises(ConfigError, match="vr.poles"):
        load_config(None, ['vr.poles="cubemap"'])


def test_latitude_weights() -> None:
    assert latitude_weight(8, "none") is None
    weight = latitude_weight(180, "weight")
    assert weight[90] == pytest.approx(math.cos(math.radians(0.5)), abs=1e-6)
    band = latitude_weight(180, "faces")  # rows are 1° apart: row r is at latitude 89.5 − r
    assert band[40] == 1.0 and band[89] == 1.0          # 49.5°, 0.5°: dreamed in the frame
    assert band[24] == 0.0 and band[0] == 0.0           # 65.5°, 89.5°: left to the pole faces
    assert 0 < band[32] < 1 and np.all(np.diff(band[:90]) >= 0)


# ---------------------------------------------------------------------------------------- max memory


def test_max_memory_setting_and_flag() -> None:
    assert RunConfig().max_memory_bytes == 2_000_000_000
    assert RunConfig(max_memory=0).max_memory_bytes is None
    with pytest.raises(ConfigError, match="run.max_memory"):
        RunConfig(max_memory=0.001)
    assert cli._parse_memory("2GB") == 2.0 and cli._parse_memory("500mb") == 0.5 and cli._parse_memory("0") == 0
    with pytest.raises(ConfigError, match="--max-memory"):
        cli._parse_memory("lots")


def test_a_small_budget_tiles_the_frame_and_dreams_alike() -> None:
    """``run.max_memory`` reaches the engine: a budget below one step's need dreams in tiles, as strongly.

    Without jitter both draw the same random numbers, so an untiled run would be bit-identical; dreaming
    is chaotic, so tiled and untiled differ pixel by pixel (tests/test_dream_tiles.py compares them in
    fp32) but not in strength.
    """
    from dataclasses import replace

    from dreamvid.engine import resolve_precision
    from dreamvid.tiles import estimate_step_memory

    image = panorama(512).astype(np.float32) / 255
    common = ['vr.projection="flat"', "dream.octaves=1", "dream.steps=3", "dream.jitter=0"]
    config = load_config("vr-360", [*common, "run.max_memory=0"])
    engine = engine_for(config)
    dtype = resolve_precision(config.run.precision, engine.device)
    need = estimate_step_memory(256, 512, engine.model, engine.objective("b10").layers, autocast_dtype=dtype)
    tiled_config = load_config("vr-360", [*common, f"run.max_memory={max(0.05, need / 2 / 1e9)}"])
    assert tiled_config.run.max_memory_bytes < need  # the budget really forces tiles
    tiled_engine = replace(engine, max_memory=tiled_config.run.max_memory_bytes)  # the same model, a smaller budget
    untiled, again, tiled = (
        dream_layout(image, image, e, config.dream, layout=Layout(), generator=torch.Generator().manual_seed(0))
        for e in (engine, engine, tiled_engine))
    assert np.array_equal(untiled, again)
    assert not np.array_equal(tiled, untiled)
    assert np.abs(tiled - image).mean() == pytest.approx(np.abs(untiled - image).mean(), rel=0.1)


# --------------------------------------------------------------------------------------- seam and poles


def test_equirect_image_has_no_seam(tmp_path: Path) -> None:
    """What the dream adds steps across the seam like across the columns near it; plain dreaming leaves an edge.

    One column pair is noisy (the dream follows the content there), so the panorama is turned four
    times, as in scripts/bench_vr.py, and the medians compared.
    """
    picture = panorama(384)
    ratios: dict[str, list[float]] = {"equirect": [], "flat": []}
    for k in range(4):
        turned = np.ascontiguousarray(np.roll(picture, 96 * k, axis=1)).astype(np.float32) / 255
        for projection in ratios:
            config = load_config("vr-360", ["dream.octaves=2", "dream.steps=3", "dream.step_size=0.03",
                                            f'vr.projection="{projection}"', f"run.seed={k}"])
            out = dream_layout(turned, turned, engine_for(config), config.dream, layout=Layout(projection),
                               generator=torch.Generator().manual_seed(k))
            ratios[projection].append(seam_step(out - turned))
    equirect, flat = (float(np.median(ratios[p])) for p in ("equirect", "flat"))
    assert equirect < 1.1 and flat > equirect + 0.08, ratios
    # and through the command
    source, out = tmp_path / "pano.png", tmp_path / "out.png"
    write_image(source, picture)
    result = runner.invoke(cli.app, ["image", str(source), "-o", str(out), "--preset", "vr-360",
                                     "--projection", "equirect", *FAST])
    assert result.exit_code == 0, result.output
    assert read_image(out).shape == picture.shape


def test_pole_faces_dream_the_caps_without_stretch() -> None:
    """The caps are dreamed on faces: the dream there is as strong as at the equator, not faded out."""
    picture = panorama(256).astype(np.float32) / 255
    strengths, equator = {}, {}
    for poles in ("faces", "weight", "none"):
        config = load_config("vr-360", [f'vr.poles="{poles}"', "dream.octaves=3", "dream.steps=3"])
        out = dream_layout(picture, picture, engine_for(config), config.dream, layout=Layout("equirect"),
                           generator=torch.Generator().manual_seed(0), poles=poles)
        detail = np.abs(out - picture).mean(axis=(1, 2))
        equator[poles] = detail[56:72].mean()
        strengths[poles] = detail[:16].mean() / equator[poles]  # above 67.5° against the equator band
    assert strengths["faces"] > 0.5
    assert strengths["weight"] < strengths["faces"]
    # the latitude band leaves the equator dreamed as strongly as without it, at every octave
    assert equator["faces"] == pytest.approx(equator["none"], rel=0.25)
    assert equator["weight"] == pytest.approx(equator["none"], rel=0.25)


# -------------------------------------------------------------------------------------------- stereo


def test_stereo_eyes_see_the_same_dream() -> None:
    """Right eye = left eye moved 6 px: the right eye's dream is the left's, moved the same way."""
    from skimage import data

    import cv2

    left = cv2.resize(data.chelsea(), (160, 96), interpolation=cv2.INTER_AREA)
    shift = 6
    right = np.ascontiguousarray(np.roll(left, -shift, axis=1))  # a nearer scene sits further left in the right eye
    frame = np.concatenate([left, right], axis=0).astype(np.float32) / 255
    config = load_config("video", ["dream.octaves=2", "dream.steps=4", "video.seeded_steps=2"])
    engine = engine_for(config)
    seeded = config.frame(0).seeded
    out = dream_layout(frame, frame, engine, config.dream, layout=Layout("flat", "top-bottom"),
                       generator=torch.Generator().manual_seed(0), touch_up=seeded,
                       fresh_boost=config.video.fresh_boost, flow=make_flow(config.video.flow))
    detail = out - frame
    left_detail, right_detail = detail[:96], detail[96:]
    inner = (slice(8, -8), slice(16, -16))
    moved = np.roll(left_detail, -shift, axis=1)
    consistent = np.abs(right_detail - moved)[inner].mean() / np.abs(moved)[inner].mean()
    mono = dream_layout(frame, frame, engine, config.dream, layout=Layout("flat", "mono"),
                        generator=torch.Generator().manual_seed(0)) - frame
    independent = np.abs(mono[96:] - np.roll(mono[:96], -shift, axis=1))[inner].mean() / np.abs(moved)[inner].mean()
    assert consistent < 0.25, consistent
    assert independent > 3 * consistent


# ---------------------------------------------------------------------------------- video, zoom, metadata


def make_clip(path: Path, frames: np.ndarray, *, spherical: tuple[str, str] | None = None) -> Path:
    from fractions import Fraction

    with VideoWriter(path, fps=Fraction(8), size=(frames.shape[2], frames.shape[1]), crf=10,
                     spherical=spherical) as writer:
        for frame in frames:
            writer.write(frame)
    return path


def test_360_video_is_detected_dreamed_and_marked(tmp_path: Path) -> None:
    pano = panorama(128)
    frames = np.stack([np.roll(pano, 3 * k, axis=1) for k in range(4)])  # the camera turns: content crosses the seam
    source = make_clip(tmp_path / "in.mp4", frames, spherical=("equirect", "mono"))
    assert read_spherical(source) == Spherical("equirect", "mono", "v1+v2")
    out = tmp_path / "out.mp4"
    result = runner.invoke(cli.app, ["video", str(source), "-o", str(out), "--preset", "video",
                                     "--set", 'vr.projection="auto"', *FAST])
    assert result.exit_code == 0, result.output
    assert read_spherical(out) == Spherical("equirect", "mono", "v1+v2")
    assert side_data(out) == [STEREO_LINES["mono"], SPHERICAL_LINE]
    dreamed = list(read_frames(out))
    assert len(dreamed) == 4
    seams = [seam_step(d.astype(np.float32) - f) for d, f in zip(dreamed, frames)]
    assert float(np.median(seams)) < 1.3, seams  # 128 px wide and lossy: a loose check, the seam test is above
    flat = tmp_path / "flat.mp4"
    result = runner.invoke(cli.app, ["video", str(source), "-o", str(flat), "--preset", "video",
                                     "--projection", "flat", *FAST])
    assert result.exit_code == 0, result.output
    assert read_spherical(flat) is None


def test_stereo_zoom_writes_stereo_metadata(tmp_path: Path) -> None:
    source = tmp_path / "pano.png"
    write_image(source, np.concatenate([panorama(96), panorama(96)], axis=0))
    out = tmp_path / "zoom.mp4"
    result = runner.invoke(cli.app, ["zoom", str(source), "-o", str(out), "--frames", "3", "--fps", "8",
                                     "--projection", "equirect", "--stereo", "top-bottom", "--zoom", "1.5",
                                     "--rotate", "20", *FAST])
    assert result.exit_code == 0, result.output
    assert probe(out).frames == 3
    assert side_data(out) == [STEREO_LINES["top-bottom"], SPHERICAL_LINE]


def test_gif_output_of_a_360_render_has_no_metadata_and_works(tmp_path: Path) -> None:
    source = tmp_path / "pano.png"
    write_image(source, panorama(64))
    out = tmp_path / "zoom.gif"
    result = runner.invoke(cli.app, ["zoom", str(source), "-o", str(out), "--frames", "2", "--fps", "8",
                                     "--projection", "equirect", *FAST])
    assert result.exit_code == 0, result.output
    assert probe(out).frames == 2


def test_odd_stereo_frame_is_a_clear_error(tmp_path: Path) -> None:
    source = tmp_path / "odd.png"
    write_image(source, panorama(64)[:31])
    out = tmp_path / "out.png"
    result = runner.invoke(cli.app, ["image", str(source), "-o", str(out), "--stereo", "top-bottom", *FAST])
    assert result.exit_code != 0
    assert "odd height" in result.output and "Traceback" not in result.output
    assert not out.exists()


def test_written_metadata_leaves_the_frames_alone(tmp_path: Path) -> None:
    frames = np.stack([np.roll(panorama(64), k, axis=1) for k in range(3)])
    plain = make_clip(tmp_path / "plain.mp4", frames)
    marked = make_clip(tmp_path / "marked.mp4", frames, spherical=("equirect", "left-right"))
    assert [f.tobytes() for f in read_frames(plain)] == [f.tobytes() for f in read_frames(marked)]
    assert read_spherical(marked).stereo == "left-right"
    write_spherical(plain, stereo="left-right")  # the same metadata written afterwards: the same frames again
    assert [f.tobytes() for f in read_frames(plain)] == [f.tobytes() for f in read_frames(marked)]


def test_auto_layout_reads_frame_folders_as_flat(tmp_path: Path) -> None:
    """A folder of PNG frames has no 360 metadata to read: ``auto`` dreams it flat, without complaint."""
    folder = tmp_path / "frames"
    folder.mkdir()
    for k in range(2):
        write_image(folder / f"frame_{k + 1:06d}.png", np.roll(panorama(64), k, axis=1))
    out = tmp_path / "out.mp4"
    result = runner.invoke(cli.app, ["video", str(folder), "-o", str(out), *FAST])
    assert result.exit_code == 0, result.output
    assert probe(out).frames == 2 and read_spherical(out) is None
