"""Soak test: does memory stay flat over a long render?

Usage:
    .venv/bin/python scripts/soak.py [--frames 1000] [--size 64x64] [--warmup 100] [--keep DIR]
                                     [--set table.key=value ...]

Runs ``dreamvid zoom`` from noise (the endless-zoom preset, light settings) for ``--frames`` frames as a
separate process of the real command line, with its checkpoint, segments and final join, and samples the
process's resident memory (VmRSS from /proc) every 0.2 s next to the frames its checkpoint counts, plus
the size of the checkpoint folder. Printed: a sample every tenth of the render, the frame rate (median
seconds per 100 frames), the memory at start-up and at exit, and the largest checkpoint. Last line:
    rss_growth_mb=X
the RSS at the end of the render (the last sample in which the checkpoint counts every frame) less the
first sample after ``--warmup`` frames, in MB (10^6 bytes). Goal: at most 50.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dreamvid.checkpoint import checkpoint_dir, frames_kept

LIGHT = ["dream.octaves=1", "dream.steps=1", "video.seeded_octaves=1", "video.seeded_steps=1", "run.device='cpu'"]


def rss_bytes(pid: int) -> int | None:
    """Resident memory of a process, or None once it has gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        return None
    return None


def folder_bytes(folder: Path) -> int:
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.stat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--size", default="64x64")
    parser.add_argument("--warmup", type=int, default=100, help="frames before the baseline sample")
    parser.add_argument("--keep", type=Path, help="write the output into this folder (default: a temporary one)")
    parser.add_argument("--set", action="append", default=[], help="extra setting, table.key=value")
    args = parser.parse_args()
    if not Path("/proc/self/status").exists():
        sys.exit("error: soak.py reads /proc; run it on Linux")
    folder = args.keep or Path(tempfile.mkdtemp(prefix="dreamvid-soak-"))
    folder.mkdir(parents=True, exist_ok=True)
    output = folder / "soak.mp4"
    sets = [arg for setting in [*LIGHT, *args.set] for arg in ("--set", setting)]
    command = [sys.executable, "-m", "dreamvid.cli", "zoom", "-o", str(output), "--frames", str(args.frames),
               "--size", args.size, "--restart", *sets]
    print(f"dreamvid zoom from noise, {args.frames} frames at {args.size}; RSS sampled every 0.2 s", flush=True)
    began = time.perf_counter()
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True)
    samples: list[tuple[float, int | None, int]] = []  # (seconds, frames done or None, rss bytes)
    largest_checkpoint = 0
    while process.poll() is None:
        rss = rss_bytes(process.pid)
        done = frames_kept(output)  # None before the first frame is saved and after the output is written
        if rss:  # None once it has gone, 0 before Python has started
            samples.append((time.perf_counter() - began, done, rss))
        if len(samples) % 25 == 0:
            largest_checkpoint = max(largest_checkpoint, folder_bytes(checkpoint_dir(output)))
        time.sleep(0.2)
    stderr = process.stderr.read()
    if process.returncode != 0:
        sys.exit(f"error: the render failed: {stderr.strip()}")

    rendering = [(t, done, rss) for t, done, rss in samples if done is not None]
    baseline = next(s for s in rendering if s[1] >= args.warmup)
    end = rendering[-1]  # the last sample with the checkpoint in place: every frame done
    before = [s for s in samples if s[0] < rendering[0][0]]
    after = [s for s in samples if s[0] > end[0]]
    shown = -1
    for seconds, done, rss in rendering:
        if done * 10 // args.frames > shown:
            shown = done * 10 // args.frames
            print(f"  {seconds:6.1f} s  frame {done:5d}  RSS {rss / 1e6:7.1f} MB", flush=True)
    hundreds: dict[int, float] = {}
    for seconds, done, _ in rendering:
        hundreds.setdefault(done // 100, seconds)
    laps = [b - a for a, b in zip(list(hundreds.values()), list(hundreds.values())[1:])]
    peak = max(rendering, key=lambda s: s[2])
    print(f"baseline after {baseline[1]} frames: {baseline[2] / 1e6:.1f} MB; end ({end[1]} frames): "
          f"{end[2] / 1e6:.1f} MB; peak while rendering {peak[2] / 1e6:.1f} MB at frame {peak[1]}")
    if laps:
        print(f"median {statistics.median(laps):.1f} s per 100 frames; whole run {time.perf_counter() - began:.1f} s")
    print(f"start-up (before frame 1): up to {max((s[2] for s in before), default=0) / 1e6:.1f} MB; after the output "
          f"was written, to exit: up to {max((s[2] for s in after), default=0) / 1e6:.1f} MB")
    print(f"largest checkpoint folder seen: {largest_checkpoint / 1e6:.2f} MB; output {output.stat().st_size / 1e6:.2f} MB")
    print(f"rss_growth_mb={(end[2] - baseline[2]) / 1e6:.1f}")


if __name__ == "__main__":
    main()
