"""Endless zoom over hundreds of frames: does the loop burn out, drift in colour, or blur?

Usage:
    .venv/bin/python scripts/bench_zoom.py [--frames 300] [--size 512] [--fps 30] [--preset endless-zoom]
                                           [--sheet zoom-sheet.png] [--set table.key=value ...]

Renders the same zoom twice in one process from scikit-image's astronaut photograph (512×512): with
colour coherence at the preset's strength, and with ``zoom.colour = 0``. For every frame it measures the
mean saturation (HSV S), the mean luminance (Rec. 709 Y on [0, 1]) and the sharpness (variance of the
Laplacian of Y). Reported: drift of saturation and luminance from frame 1 (relative; at the last frame and
the largest over the clip), sharpness of the last ten frames (median) relative to frame 10, and the median
seconds per frame. Last line (for the run with colour coherence):
    drift=X.XX sharpness=Y.YY
where drift is the largest |relative drift| of saturation or luminance over all frames.
"""

from __future__ import annotations

import argparse
import statistics
import time

import cv2
import numpy as np

from dreamvid.config import load_config
from dreamvid.images import contact_sheet, write_image
from dreamvid.panorama import Layout
from dreamvid.pipeline import dreamer_for, engine_for
from dreamvid.programs import ZoomProgram
from dreamvid.render import steps
from dreamvid.timeline import Timeline


def measures(frame: np.ndarray) -> tuple[float, float, float]:
    """(mean saturation, mean luminance, variance of the Laplacian of luminance) of a float RGB frame."""
    rgb = np.ascontiguousarray(frame, dtype=np.float32)
    saturation = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)[..., 1].mean()
    luma = rgb @ np.array([0.2126, 0.7152, 0.0722], np.float32)
    sharpness = cv2.Laplacian(luma, cv2.CV_32F).var()
    return float(saturation), float(luma.mean()), float(sharpness)


def run(config, start: np.ndarray, frames: int, fps: float) -> tuple[list[tuple[float, float, float]], list[float], list]:
    program = ZoomProgram(dreamer_for(config, engine_for(config), Layout(), fps=fps), start)
    stats, seconds, kept = [], [], []
    every = max(1, frames // 8)
    stream = (frame for _, frame in steps(program, [None] * frames, Timeline(config).at))
    started = time.perf_counter()
    for k, frame in enumerate(stream):
        now = time.perf_counter()
        seconds.append(now - started)
        started = now
        stats.append(measures(frame))
        if k % every == 0 or k == frames - 1:
            kept.append((k + 1, frame))
        if (k + 1) % 50 == 0:
            print(f"  frame {k + 1}: saturation {stats[-1][0]:.3f} luminance {stats[-1][1]:.3f} "
                  f"sharpness {stats[-1][2]:.4f} ({seconds[-1]:.2f} s)", flush=True)
    return stats, seconds, kept


def summary(stats: list[tuple[float, float, float]]) -> dict[str, float]:
    sat = np.array([s[0] for s in stats])
    lum = np.array([s[1] for s in stats])
    sharp = np.array([s[2] for s in stats])
    sat_drift, lum_drift = sat / sat[0] - 1, lum / lum[0] - 1
    return {
        "sat_last": sat_drift[-1], "lum_last": lum_drift[-1],
        "sat_max": np.abs(sat_drift).max(), "lum_max": np.abs(lum_drift).max(),
        "drift": max(np.abs(sat_drift).max(), np.abs(lum_drift).max()),
        "sharpness": float(np.median(sharp[-10:]) / sharp[min(9, len(sharp) - 1)]),
        "sharp_min": float(sharp[9:].min() / sharp[min(9, len(sharp) - 1)]) if len(sharp) > 9 else 1.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--preset", default="endless-zoom")
    parser.add_argument("--sheet", help="write a contact sheet of both runs (PNG)")
    parser.add_argument("--set", dest="sets", action="append", default=[])
    args = parser.parse_args()
    from skimage import data

    start = cv2.resize(data.astronaut(), (args.size, args.size), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    results, sheets = {}, []
    for label, overrides in (("colour on", []), ("colour off", ["zoom.colour=0.0"])):
        config = load_config(args.preset, [*args.sets, *overrides])
        print(f"{label}: zoom.colour = {config.zoom.colour}, {args.frames} frames {args.size}x{args.size} "
              f"at {args.fps:g} fps, preset {args.preset}", flush=True)
        stats, seconds, kept = run(config, start, args.frames, args.fps)
        s = summary(stats)
        s["s_per_frame"] = statistics.median(seconds[1:]) if len(seconds) > 1 else seconds[0]
        results[label] = s
        sheets += [(np.clip(f * 255 + 0.5, 0, 255).astype(np.uint8), f"{label} {k}") for k, f in kept]
        print(f"{label}: saturation drift {s['sat_last']:+.1%} (max |{s['sat_max']:.1%}|), luminance drift "
              f"{s['lum_last']:+.1%} (max |{s['lum_max']:.1%}|), sharpness last-10 / frame 10 {s['sharpness']:.2f} "
              f"(lowest {s['sharp_min']:.2f}), {s['s_per_frame']:.2f} s/frame (median; first frame "
              f"{seconds[0]:.1f} s)", flush=True)
    if args.sheet:
        write_image(args.sheet, contact_sheet([f for f, _ in sheets], columns=len(sheets) // 2,
                                              labels=[label for _, label in sheets]))
    on = results["colour on"]
    print(f"drift={on['drift']:.2f} sharpness={on['sharpness']:.2f}")


if __name__ == "__main__":
    main()
