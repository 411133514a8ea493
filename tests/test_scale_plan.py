"""The chunk plan (dreamvid.scale.plan): a pure function of the clip and the settings."""

from __future__ import annotations

import pytest

from dreamvid.scale.plan import Chunk, fade_weight, plan_chunks


def kept(chunks: list[Chunk]) -> list[tuple[int, int]]:
    return [(c.start, c.end) for c in chunks]


def test_kept_ranges_partition_the_clip() -> None:
    for frames in (1, 2, 7, 24, 100, 241):
        for cuts in ((), (5,), (3, 50, 51, 200)):
            chunks = plan_chunks(frames, cuts=cuts, length=24, warmup=12, overlap=6)
            assert chunks[0].start == 0 and chunks[-1].end == frames
            assert all(a.end == b.start for a, b in zip(chunks, chunks[1:]))
            assert [c.index for c in chunks] == list(range(len(chunks)))


def test_splits_every_length_frames_inside_a_shot() -> None:
    assert kept(plan_chunks(100, length=24, warmup=12, overlap=6)) == [(0, 24), (24, 48), (48, 72), (72, 100)]


def test_a_short_last_piece_joins_the_one_before() -> None:
    # 100 = 4 * 24 + 4: a 4-frame piece would pay 12 frames of warm-up
    assert kept(plan_chunks(100, length=24, warmup=12, overlap=6))[-1] == (72, 100)
    assert kept(plan_chunks(110, length=24, warmup=12, overlap=6))[-1] == (96, 110)


def test_cuts_begin_chunks_without_warmup_or_fade() -> None:
    chunks = plan_chunks(60, cuts=[30], length=20, warmup=8, overlap=4)
    assert kept(chunks) == [(0, 20), (20, 30), (30, 50), (50, 60)]
    at_cut = chunks[2]
    assert at_cut.warm == at_cut.start == 30 and at_cut.fade_in == 0
    assert chunks[1].fade_out == 0  # the chunk before a cut fades into nothing


def test_warmup_stays_inside_the_shot() -> None:
    chunks = plan_chunks(60, cuts=[20], length=24, warmup=12, overlap=6)
    # shot 20..60 splits at 44; its warm-up may not reach back past the cut at 20
    second = [c for c in chunks if c.start == 44][0]
    assert second.warm == 32 and second.fade_in == 6
    short = plan_chunks(40, cuts=[30], length=4, warmup=12, overlap=6)
    assert all(c.warm >= (30 if c.start >= 30 else 0) for c in short)


def test_mid_shot_chunks_warm_up_and_overlap() -> None:
    chunks = plan_chunks(72, length=24, warmup=12, overlap=6)
    for before, after in zip(chunks, chunks[1:]):
        assert after.warm == after.start - 12
        assert after.fade_in == before.fade_out == 6
        assert before.body == (before.start, before.end - 6)
    assert chunks[0].fade_in == 0 and chunks[-1].fade_out == 0


def test_the_plan_does_not_depend_on_anything_but_clip_and_settings() -> None:
    # the worker count is not a parameter at all; the same inputs give the same plan
    a = plan_chunks(500, cuts=[77, 310], length=48, warmup=12, overlap=6)
    b = plan_chunks(500, cuts=[310, 77, 77, 0, 900], length=48, warmup=12, overlap=6)
    assert a == b


def test_no_warmup_means_no_overlap() -> None:
    chunks = plan_chunks(50, length=10, warmup=0, overlap=0)
    assert all(c.warm == c.start and c.fade_in == c.fade_out == 0 for c in chunks)
    assert sum(c.rendered for c in chunks) == 50


def test_fades_are_never_longer_than_the_chunk_before() -> None:
    chunks = plan_chunks(30, length=4, warmup=8, overlap=6)
    for before, after in zip(chunks, chunks[1:]):
        assert after.fade_in <= before.end - before.start
        assert before.body[1] >= before.body[0]


def test_fade_weights_rise_from_the_earlier_chunk_to_the_later() -> None:
    weights = [fade_weight(i, 6) for i in range(6)]
    assert weights == sorted(weights) and 0 < weights[0] < weights[-1] < 1
    assert weights[0] == pytest.approx(1 / 7)


@pytest.mark.parametrize("frames, length, warmup, overlap", [(0, 24, 12, 6), (10, 0, 12, 6), (10, 24, -1, 0),
                                                             (10, 24, 4, 6)])
def test_bad_counts_are_refused(frames: int, length: int, warmup: int, overlap: int) -> None:
    with pytest.raises(ValueError, match="expected"):
        plan_chunks(frames, length=length, warmup=warmup, overlap=overlap)


# ------------------------------------------------------------------------ settings and refusals (no Ray)


def test_scale_settings_are_checked() -> None:
    from dreamvid.config import load_config
    from dreamvid.errors import ConfigError

    config = load_config(None, ["scale.workers=3", "scale.segment_seconds=2.5", "run.threads=1"])
    assert config.scale.chunked and config.scale.segment_seconds == 2.5 and config.run.threads == 1
    assert not load_config(None, []).scale.chunked
    for bad in ("scale.warmup=-1", "scale.segment_seconds=0", "scale.workers=1.5", "run.threads=-2"):
        with pytest.raises(ConfigError, match=bad.split("=")[0]):
            load_config(None, [bad])


def test_zoom_and_frame_outputs_refuse_workers_in_one_line(tmp_path) -> None:
    from typer.testing import CliRunner

    from dreamvid import cli
    from dreamvid.images import write_image

    import numpy as np

    picture = tmp_path / "p.png"
    write_image(picture, np.full((32, 32, 3), 128, np.uint8))
    runner = CliRunner()
    zoom = runner.invoke(cli.app, ["zoom", str(picture), "-o", str(tmp_path / "z.mp4"), "--workers", "2"])
    assert zoom.exit_code == 1 and "cannot split a zoom" in zoom.output and "Traceback" not in zoom.output
    gif = runner.invoke(cli.app, ["video", str(picture), "-o", str(tmp_path / "v.gif"), "--workers", "2"])
    assert gif.exit_code == 1 and "MP4 or WebM" in gif.output
    assert not (tmp_path / "z.mp4").exists() and not (tmp_path / "v.gif").exists()


def test_without_ray_workers_say_how_to_install_it(monkeypatch) -> None:
    import sys

    from dreamvid.errors import ConfigError
    from dreamvid.scale.driver import Cluster

    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` meets where it is not installed
    with pytest.raises(ConfigError, match=r"pip install 'dreamvid\[cluster\]'"):
        Cluster(2, 1)


def test_pack_frames_in_order_with_bounded_read_ahead():
    """The driver compresses frames on several threads: same bytes, same order, a few frames read ahead."""
    import numpy as np

    from dreamvid.scale.chunk import pack, pack_frames

    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (24, 32, 3), dtype=np.uint8) for _ in range(20)]
    pulled = []

    def source():
        for k, frame in enumerate(frames):
            pulled.append(k)
            yield frame

    out = []
    for data in pack_frames(source(), threads=3):
        out.append(data)
        assert len(pulled) <= len(out) + 2 * 3  # never more than 2 x threads frames ahead
    assert out == [pack(frame) for frame in frames]
    assert list(pack_frames(iter(frames[:3]), threads=1)) == [pack(frame) for frame in frames[:3]]


def test_driver_threads():
    import os

    from dreamvid.scale.clip import driver_threads

    cores = os.cpu_count() or 1
    assert driver_threads(4, 8, "auto") == cores  # the tasks run elsewhere
    assert driver_threads(cores, 1, None) == 1  # local tasks hold every core
