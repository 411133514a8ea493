"""Panoramic VR benchmark: seam ratio of dreamed equirect frames, peak memory and speed at 4K and 8K.

(a) Seam ratio: the mean absolute horizontal difference across the wrap seam (last column → first)
    divided by the mean over the interior column pairs near it, on a dreamed equirect frame: 1.0 when
    the seam is like any other column. Measured on what the dream added (output − input), since the
    input's own content at the seam column sets the ratio of the output (printed too, with the input's);
    ``--projection equirect`` against plain (flat) dreaming of the same frame, median over seeds. The input is a seamless photographic panorama: six scikit-image photographs on
    the faces of a cube, seen from its centre, turned so the wrap seam crosses the rocket photograph.
(b) Peak memory (the high-water RSS, VmHWM, of a fresh process dreaming one frame with ``dreamvid image
    --preset vr-360``, default ``--max-memory``) at 3840×1920 and 7680×3840; with ``--quick`` the 8K
    figure is skipped. (Not ``ru_maxrss``: a 4K child started after an 8K one reported the 8K child's
    peak, to the byte: on Linux the figure can carry over from the parent.)
(c) Seconds per frame for both (one frame each: the machine is noisy, so read them as rough).

Usage: python scripts/bench_vr.py [--seeds 4] [--size 1024x512] [--quick] [--sheet rolled.png]
Last line: ``seam_ratio=X.XX peak_rss_8k_gb=Y.Y`` (equirect mode; the plain figure is printed above).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def photo_panorama(width: int) -> np.ndarray:
    """A seamless ``(width/2, width, 3)`` uint8 equirect panorama: a cube of six photographs around the viewer."""
    from skimage import data

    height = width // 2
    side = max(64, width // 4)
    faces = {}
    names = {"front": "astronaut", "right": "coffee", "back": "chelsea", "left": "rocket", "up": "coffee",
             "down": "astronaut"}
    for face, name in names.items():
        picture = getattr(data, name)()
        h, w = picture.shape[:2]
        crop = picture[(h - min(h, w)) // 2:(h + min(h, w)) // 2, (w - min(h, w)) // 2:(w + min(h, w)) // 2]
        faces[face] = cv2.resize(crop, (side, side), interpolation=cv2.INTER_AREA)
    faces["up"] = np.ascontiguousarray(faces["up"][::-1, ::-1])  # not the same picture twice the same way
    lon = (np.arange(width) + 0.5) / width * 2 * math.pi - math.pi
    lat = math.pi / 2 - (np.arange(height) + 0.5) / height * math.pi
    lon, lat = np.meshgrid(lon, lat)
    x, y, z = np.cos(lat) * np.sin(lon), np.sin(lat), np.cos(lat) * np.cos(lon)  # x right, y up, z front
    out = np.zeros((height, width, 3), np.uint8)
    ax, ay, az = np.abs(x), np.abs(y), np.abs(z)
    # (mask, u, v) per face: u right, v down on the face as seen from the centre, both in [-1, 1]
    cases = {
        "front": ((az >= ax) & (az >= ay) & (z > 0), x / az, -y / az),
        "back": ((az >= ax) & (az >= ay) & (z <= 0), -x / az, -y / az),
        "right": ((ax > az) & (ax >= ay) & (x > 0), -z / ax, -y / ax),
        "left": ((ax > az) & (ax >= ay) & (x <= 0), z / ax, -y / ax),
        "up": ((ay > ax) & (ay > az) & (y > 0), x / ay, z / ay),
        "down": ((ay > ax) & (ay > az) & (y <= 0), x / ay, -z / ay),
    }
    for face, (mask, u, v) in cases.items():
        map_x = ((u + 1) / 2 * side - 0.5).astype(np.float32)
        map_y = ((v + 1) / 2 * side - 0.5).astype(np.float32)
        sampled = cv2.remap(faces[face], map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        out[mask] = sampled[mask]
    return np.ascontiguousarray(np.roll(out, round(0.3 * width), axis=1))  # the seam crosses the rocket photo


NEAR = 32
"""Interior column pairs within this many pixels of the seam, on either side, are the reference."""


def seam_ratio(frame: np.ndarray) -> float:
    """Mean |last column − first column| over the mean |column x+1 − column x| of the interior near the seam.

    The reference is the column pairs within :data:`NEAR` pixels on both sides of the seam, so the
    ratio compares the seam with the same content (a textured part of the panorama has larger
    differences everywhere, seam or not): 1.0 is a seam like any other column.
    """
    f = np.concatenate([frame[:, -NEAR - 1:], frame[:, :NEAR + 1]], axis=1).astype(np.float64)
    steps = np.abs(np.diff(f, axis=1)).mean(axis=(0, 2))  # 2·NEAR + 1 pairs, the seam in the middle
    return float(steps[NEAR] / np.delete(steps, NEAR).mean())


def dream_panorama(picture: np.ndarray, projection: str, seed: int) -> np.ndarray:
    from dreamvid.config import load_config
    from dreamvid.arrays import to_float, to_uint8
    from dreamvid.panorama import Layout, dream_layout
    from dreamvid.pipeline import engine_for

    import torch

    config = load_config("vr-360", [f"run.seed={seed}", f'vr.projection="{projection}"'])
    image = to_float(picture)
    out = dream_layout(image, image, engine_for(config), config.dream, layout=Layout(projection),
                       generator=torch.Generator().manual_seed(seed), poles=config.vr.poles)
    return to_uint8(out)


def peak_memory(width: int, folder: Path) -> tuple[float, float]:
    """(peak RSS in GB, seconds) of a fresh ``dreamvid image`` dreaming one ``width``-wide panorama."""
    source = folder / f"pano-{width}.png"
    cv2.imwrite(str(source), cv2.cvtColor(photo_panorama(width), cv2.COLOR_RGB2BGR))
    child = (
        "import resource, sys, time\n"
        "from dreamvid.cli import main\n"
        f"sys.argv = ['dreamvid', 'image', {str(source)!r}, '-o', {str(folder / f'out-{width}.jpg')!r},"
        " '--preset', 'vr-360']\n"
        "started = time.perf_counter()\n"
        "try:\n    main()\nexcept SystemExit as exit:\n    assert not exit.code, exit.code\n"
        "peak = [line for line in open('/proc/self/status') if line.startswith('VmHWM:')]\n"
        "rss = int(peak[0].split()[1]) * 1024 if peak else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024\n"
        "print('RESULT', rss / 1e9, time.perf_counter() - started)\n"
    )
    result = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, check=False,
                            env={"DREAMVID_OFFLINE": "1", "PATH": "/usr/bin:/bin"})
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT")]
    if result.returncode != 0 or not lines:
        raise SystemExit(f"the {width}-wide dream failed: {result.stderr.strip().splitlines()[-1:]}")
    _, rss, seconds = lines[-1].split()
    return float(rss), float(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=4, help="seeds, each with the panorama turned by 1/seeds")
    parser.add_argument("--size", default="1024x512", help="panorama for the seam ratio, WxH")
    parser.add_argument("--quick", action="store_true", help="skip the 8K memory figure")
    parser.add_argument("--sheet", type=Path, help="write the equirect and plain dreams, rolled by half, here")
    args = parser.parse_args()
    width = int(args.size.split("x")[0])
    picture = photo_panorama(width)
    print(f"input panorama {picture.shape[1]}x{picture.shape[0]}: seam ratio {seam_ratio(picture):.2f}")
    ratios: dict[str, list[float]] = {"equirect": [], "flat": []}
    whole: dict[str, list[float]] = {"equirect": [], "flat": []}
    last: dict[str, np.ndarray] = {}
    for seed in range(args.seeds):
        # each seed also turns the panorama (a yaw), so different content meets at the seam: the dream
        # amplifies what is there, and one column's content would otherwise set the figure
        turned = np.ascontiguousarray(np.roll(picture, round(width * seed / args.seeds), axis=1))
        print(f"seed {seed} input seam ratio {seam_ratio(turned):.2f}")
        for projection in ratios:
            started = time.perf_counter()
            out = dream_panorama(turned, projection, seed)
            ratios[projection].append(seam_ratio(out.astype(np.float32) - turned))
            whole[projection].append(seam_ratio(out))
            last[projection] = out
            print(f"seed {seed} {projection:8s} seam ratio {ratios[projection][-1]:.2f} of the dream, "
                  f"{whole[projection][-1]:.2f} of the frame  ({time.perf_counter() - started:.1f} s)", flush=True)
    for projection, values in ratios.items():
        print(f"{projection:8s} seam ratio median {statistics.median(values):.2f} (max {max(values):.2f}) of the "
              f"dream, {statistics.median(whole[projection]):.2f} of the frame")
    if args.sheet is not None:
        from dreamvid.images import contact_sheet, write_image

        rolled = [np.roll(last[p], width // 2, axis=1) for p in ("equirect", "flat")]
        write_image(args.sheet, contact_sheet(rolled, columns=1, width=1400,
                                              labels=["equirect, rolled by half", "plain, rolled by half"]))
    with tempfile.TemporaryDirectory() as tmp:
        rss_4k, seconds_4k = peak_memory(3840, Path(tmp))
        print(f"3840x1920: peak RSS {rss_4k:.2f} GB, {seconds_4k:.0f} s per frame", flush=True)
        rss_8k = math.nan
        if not args.quick:
            rss_8k, seconds_8k = peak_memory(7680, Path(tmp))
            print(f"7680x3840: peak RSS {rss_8k:.2f} GB, {seconds_8k:.0f} s per frame", flush=True)
    print(json.dumps({"seam_equirect": ratios["equirect"], "seam_flat": ratios["flat"]}))
    print(f"seam_ratio={statistics.median(ratios['equirect']):.2f} peak_rss_8k_gb={rss_8k:.1f}")


if __name__ == "__main__":
    main()
