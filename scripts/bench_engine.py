"""Engine against a naive DeepDream loop, each timed alone in a fresh process, plus where the time goes.

One iteration is one dream step: jitter, forward to the layer, backward to the input, normalised step,
clamp, at ``--size`` (default 1280×720) on scikit-image's astronaut photo, EfficientNet-Lite0 layer
``b10``, objective mean square. The engine runs as shipped (``load_model()``, the ``--precision`` asked
for); the naive reference is the loop peer tools write: the same network and weights in eval mode, fp32,
**all** its layers with a forward hook on block 10, batch norm not folded, weights with
``requires_grad=True``, no autocast.

Timing (like with like): every path runs in its own fresh Python process with the allocator settings of
dreamvid's command line (what users get), ``--warmup`` untimed iterations then ``--iters`` timed ones;
``--rounds`` rounds, the order of the paths alternating from round to round. A path's figure is the
median over rounds of each process's median. Headline: ``speedup_vs_naive`` = naive alone / engine
alone at ``auto`` precision; ``bf16`` and ``fp32`` are reported separately.

Where the time goes (one more fresh process): a STREAM-style triad ``a = b + s·c`` (3 arrays of
``--triad-mb`` MB, bytes counted as STREAM does: 3 × array size) for the memory bandwidth; 2048² matmul
peaks in fp32 and bf16; FLOPs of one iteration (``torch.utils.flop_counter``: convolutions and the linear
layer, forward and backward, 2 per multiply-add); bytes of one iteration, counted as the sizes of every
operator's tensor inputs and outputs (views excluded; no reuse between operators assumed, so it is the
traffic of an engine with no fusion); from these the arithmetic intensity (FLOP/byte), the roofline bound
``min(peak, intensity × bandwidth)`` and the share of it reached; and the top operators by self CPU time
(``torch.profiler``) of one engine iteration.

Usage:
    python scripts/bench_engine.py [--size 1280x720] [--rounds 3] [--iters 5] [--warmup 2]
        [--precision auto,bf16,fp32] [--threads N] [--allocator-compare] [--no-timing] [--target NAME=VALUE ...]

Timings need a quiet machine: other processes on the cores make every figure slower and uneven.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402

LAYER = "b10"
BLOCK = 10  # EfficientNet-Lite0 block index of LAYER
SCRIPT = Path(__file__).resolve()

TARGETS = {
    # floors that the shipped engine clears with margin on the development machines (docs/benchmarks.md)
    "speedup_vs_naive": (">=", 1.5),  # auto precision, engine alone vs naive alone
    "speedup_bf16_vs_naive": (">=", 1.2),
    "speedup_fp32_vs_naive": (">=", 1.2),
    "engine_ms_auto": ("<=", 1000.0),  # per iteration at the default 1280x720
    "fp32_update_cosine": (">=", 0.99),  # engine at fp32 takes the naive loop's step (BN folding is exact)
    "triad_gbs": (">=", 1.0),  # a sanity floor: the figure describes the machine, not the code
    "roofline_share_auto": (">=", 0.02),  # engine's FLOP/s over its roofline bound at auto
    "allocator_gain": (">=", 1.0),  # engine ms with glibc's defaults / with the CLI's allocator settings
}


def _engine_parts():
    """The package internals this bench needs, in one place (the engine's step, model, objective, naive net)."""
    from dreamvid.config import DreamConfig
    from dreamvid.engine import ascent_step, resolve_device, resolve_precision
    from dreamvid.models import IMAGENET_MEAN, IMAGENET_STD, EfficientNetLite0, _lite0_weights_file, load_model
    from dreamvid.objectives import layer

    return {"DreamConfig": DreamConfig, "ascent_step": ascent_step, "resolve_device": resolve_device,
            "resolve_precision": resolve_precision, "mean": IMAGENET_MEAN, "std": IMAGENET_STD,
            "EfficientNetLite0": EfficientNetLite0, "weights_file": _lite0_weights_file, "load_model": load_model,
            "layer": layer}


def photo(width: int, height: int):
    """scikit-image's astronaut photo as a ``(1, 3, height, width)`` image in [0, 1]."""
    import torch
    import torch.nn.functional as F
    from skimage import data

    image = torch.from_numpy(data.astronaut()).permute(2, 0, 1)[None].float() / 255
    image = F.interpolate(image, size=(height, width), mode="bilinear", align_corners=False, antialias=True)
    return image.clamp(0, 1).contiguous()


def _naive_step(parts: dict, settings):
    """The peer-style loop's step: fp32, whole network, a forward hook on the layer, nothing frozen or folded."""
    import torch
    import torch.nn.functional as F

    net = parts["EfficientNetLite0"]()
    net.load_state_dict(torch.load(parts["weights_file"](), map_location="cpu", weights_only=True))
    net.eval()
    mean = torch.tensor(parts["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(parts["std"]).view(1, 3, 1, 1)
    captured: dict = {}
    net._blocks[BLOCK].register_forward_hook(lambda module, args, out: captured.update(act=out))

    def logits(image):
        x = F.relu6(net._bn0(net._conv_stem((image - mean) / std)))
        for block in net._blocks:
            x = block(x)
        x = F.relu6(net._bn1(net._conv_head(x)))
        return net._fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))

    def step(x, generator):
        j = settings.jitter
        oy, ox = torch.randint(-j, j + 1, (2,), generator=generator).tolist()
        leaf = x.detach().requires_grad_(True)
        logits(torch.roll(leaf, shifts=(oy, ox), dims=(2, 3)))
        loss = captured.pop("act").pow(2).mean()
        (grad,) = torch.autograd.grad(loss, leaf)
        grad = grad / (grad.abs().mean() + 1e-8)
        return (x + settings.step_size * grad).clamp(0, 1).detach()

    return step


def _make_step(path: str, precision: str):
    """``step(x, generator) → x'`` for ``"naive"`` or ``"engine"`` at ``precision``, and the low dtype used."""
    parts = _engine_parts()
    settings = parts["DreamConfig"]()
    if path == "naive":
        return _naive_step(parts, settings), None
    import torch

    device = torch.device("cpu")
    model, objective = parts["load_model"](device=device), parts["layer"](LAYER)
    low = parts["resolve_precision"](precision, device)

    def step(x, generator):
        return parts["ascent_step"](x, model, objective, settings, generator=generator, autocast_dtype=low)

    return step, low


def time_path(path: str, precision: str, width: int, height: int, iters: int, warmup: int, threads: int) -> dict:
    """In a fresh process: seconds of ``iters`` iterations of one path after ``warmup`` untimed ones."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    step, low = _make_step(path, precision)
    image, generator = photo(width, height), torch.Generator().manual_seed(0)
    for _ in range(warmup):
        step(image, generator)
    times = []
    for _ in range(iters):
        started = time.perf_counter()
        step(image, generator)
        times.append(time.perf_counter() - started)
    return {"times": times, "dtype": str(low).removeprefix("torch.") if low is not None else "fp32"}


def _triad(megabytes: int, repeats: int = 10) -> float:
    """STREAM triad bandwidth in GB/s: ``a = b + s·c`` on float32 arrays of ``megabytes`` MB each."""
    import torch

    n = megabytes * 1_000_000 // 4
    a, b, c = torch.empty(n), torch.rand(n), torch.rand(n)
    times = []
    for i in range(repeats + 2):
        started = time.perf_counter()
        torch.add(b, c, alpha=3.0, out=a)
        if i >= 2:
            times.append(time.perf_counter() - started)
    return 3 * n * 4 / min(times) / 1e9  # STREAM reports the best time


def _matmul_peak(dtype, n: int = 2048, repeats: int = 8) -> float:
    import torch

    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    times = []
    for i in range(repeats + 2):
        started = time.perf_counter()
        a @ b
        if i >= 2:
            times.append(time.perf_counter() - started)
    return 2 * n**3 / statistics.median(times) / 1e9


def _count(step, image, generator) -> tuple[float, float]:
    """(FLOPs, bytes) of one call of ``step``: convolution/linear FLOPs; tensor bytes in and out of every operator."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils.flop_counter import FlopCounterMode

    class Bytes(TorchDispatchMode):
        total = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            if not func.is_view:
                tensors = [t for t in torch.utils._pytree.tree_leaves((args, kwargs, out)) if isinstance(t, torch.Tensor)]
                Bytes.total += sum(t.numel() * t.element_size() for t in tensors)
            return out

    with FlopCounterMode(display=False) as counter:
        step(image, generator)
    with Bytes():
        step(image, generator)
    return float(counter.get_total_flops()), float(Bytes.total)


def analyse(width: int, height: int, threads: int, triad_mb: int, top: int) -> dict:
    """In a fresh process: bandwidth, peaks, FLOPs and bytes per iteration, the profile, the fp32 cosine."""
    import torch
    import torch.nn.functional as F

    if threads:
        torch.set_num_threads(threads)
    figures: dict = {"triad_gbs": _triad(triad_mb), "peak_fp32": _matmul_peak(torch.float32),
                     "peak_bf16": _matmul_peak(torch.bfloat16)}
    image = photo(width, height)
    for path, precision in (("naive", "fp32"), ("engine", "auto"), ("engine", "fp32")):
        step, low = _make_step(path, precision)
        step(image, torch.Generator().manual_seed(0))  # warm-up
        flops, moved = _count(step, image, torch.Generator().manual_seed(0))
        figures[f"{path}_{precision}"] = {"flops": flops, "bytes": moved,
                                          "dtype": str(low).removeprefix("torch.") if low is not None else "fp32"}
        if path == "engine" and precision == "auto":
            with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profile:
                step(image, torch.Generator().manual_seed(1))
            events = sorted(profile.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
            total = sum(e.self_cpu_time_total for e in events)
            figures["profile"] = [(e.key, e.self_cpu_time_total / 1e3, e.self_cpu_time_total / total, e.count)
                                  for e in events[:top]]
    naive, _ = _make_step("naive", "fp32")
    engine32, _ = _make_step("engine", "fp32")
    out_naive = naive(image, torch.Generator().manual_seed(2))
    out_engine = engine32(image, torch.Generator().manual_seed(2))
    figures["fp32_update_cosine"] = float(F.cosine_similarity((out_naive - image).flatten().double(),
                                                              (out_engine - image).flatten().double(), dim=0))
    return figures


def _timings(args: argparse.Namespace, width: int, height: int) -> dict[str, list[float]]:
    """Per path, the median of each fresh process; rounds alternate the order of the paths."""
    paths = [("naive", "fp32", "cli")] + [("engine", p, "cli") for p in args.precisions]
    if args.allocator_compare:
        paths.append(("engine", "auto", "default"))
    medians: dict[str, list[float]] = {}
    for round_index in range(args.rounds):
        order = paths if round_index % 2 == 0 else paths[::-1]
        for path, precision, allocator in order:
            result = benchlib.run_fresh(SCRIPT, "time_path", allocator=allocator, path=path, precision=precision,
                                        width=width, height=height, iters=args.iters, warmup=args.warmup,
                                        threads=args.threads)
            key = "naive" if path == "naive" else f"engine_{precision}"
            key += "_glibc_default" if allocator == "default" else ""
            ms = statistics.median(result["times"]) * 1e3
            medians.setdefault(key, []).append(ms)
            print(f"  round {round_index + 1}: {key:<12} ({result['dtype']}) {ms:7.0f} ms/iter median, "
                  f"min {min(result['times']) * 1e3:.0f}, max {max(result['times']) * 1e3:.0f}", flush=True)
    return medians


def _report_analysis(figures: dict, ms: dict[str, float]) -> dict[str, float]:
    """Print bandwidth, peaks, FLOPs, bytes, intensity and roofline shares; return the shares per path."""
    bandwidth = figures["triad_gbs"]
    print(f"\nmemory bandwidth (triad): {bandwidth:.1f} GB/s; matmul 2048² peak: fp32 {figures['peak_fp32']:.0f}, "
          f"bf16 {figures['peak_bf16']:.0f} GFLOP/s")
    header = (f"{'path':<14}{'dtype':<10}{'GFLOP':>8}{'GB moved':>10}{'FLOP/B':>8}{'ms/iter':>9}{'GFLOP/s':>9}"
              f"{'roofline':>10}{'share':>8}{'bytes/BW ms':>13}")
    print(header)
    shares = {}
    for key, timing in (("naive_fp32", "naive"), ("engine_auto", "engine_auto"), ("engine_fp32", "engine_fp32")):
        f = figures[key]
        peak = figures["peak_bf16"] if f["dtype"] == "bfloat16" else figures["peak_fp32"]
        intensity = f["flops"] / f["bytes"]
        bound = min(peak, intensity * bandwidth)  # GFLOP/s the roofline allows
        elapsed = ms.get(timing, math.nan)
        rate = f["flops"] / (elapsed / 1e3) / 1e9
        shares[key] = rate / bound
        print(f"{key:<14}{f['dtype']:<10}{f['flops'] / 1e9:>8.1f}{f['bytes'] / 1e9:>10.2f}{intensity:>8.1f}"
              f"{elapsed:>9.0f}{rate:>9.1f}{bound:>10.0f}{rate / bound:>8.1%}{f['bytes'] / bandwidth / 1e6:>13.0f}")
    print("(roofline = min(matmul peak of the dtype, FLOP/B × triad bandwidth); bytes/BW ms = the time the counted "
          "traffic takes at the triad bandwidth)")
    print("\ntop operators by self CPU time, one engine iteration at auto precision (torch.profiler):")
    for name, milliseconds, share, count in figures["profile"]:
        print(f"  {share:6.1%} {milliseconds:8.1f} ms  {count:4d}×  {name}")
    return shares


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="1280x720", help="image size WxH (default 1280x720)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of fresh processes, order alternating (>= 3)")
    parser.add_argument("--iters", type=int, default=5, help="timed iterations per process (default 5)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed iterations first (default 2)")
    parser.add_argument("--precision", default="auto,bf16,fp32", help="engine precisions, comma-separated")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--triad-mb", type=int, default=256, help="MB per triad array (default 256)")
    parser.add_argument("--top", type=int, default=10, help="operators to list from the profile")
    parser.add_argument("--allocator-compare", action="store_true",
                        help="also time the engine (auto) with glibc's default allocator, not the CLI's settings")
    parser.add_argument("--no-timing", action="store_true",
                        help="skip the timed rounds: only the figures a loaded machine cannot change (FLOPs, "
                             "bytes, intensity, the fp32 cosine)")
    benchlib.add_target_option(parser)
    args = parser.parse_args()
    targets = benchlib.Targets("bench_engine", TARGETS, args.target)
    args.precisions = [p.strip() for p in args.precision.split(",") if p.strip()]
    if "auto" not in args.precisions:
        args.precisions.insert(0, "auto")
    width, height = (int(v) for v in args.size.lower().split("x"))
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    benchlib.header(f"engine benchmark: {width}x{height}, efficientnet-lite0 {LAYER}, objective mean square; "
                    f"{args.rounds} rounds of fresh processes, {args.warmup} warm-up + {args.iters} timed iterations "
                    "each, the CLI's allocator settings")
    ms: dict[str, float] = {}
    if not args.no_timing:
        medians = _timings(args, width, height)
        ms = {key: statistics.median(values) for key, values in medians.items()}
        print("\nmedian over rounds, ms/iteration: " + ", ".join(f"{k} {v:.0f}" for k, v in ms.items()))
    figures = benchlib.run_fresh(SCRIPT, "analyse", width=width, height=height, threads=args.threads,
                                 triad_mb=args.triad_mb, top=args.top)
    shares = _report_analysis(figures, ms)
    print()
    targets.check("fp32_update_cosine", figures["fp32_update_cosine"], 4)
    timed = ["speedup_vs_naive", "speedup_bf16_vs_naive", "speedup_fp32_vs_naive", "engine_ms_auto", "triad_gbs",
             "roofline_share_auto", "allocator_gain"]
    if args.no_timing:
        for name in timed:
            targets.skip(name, "--no-timing")
        return targets.finish()
    targets.check("speedup_vs_naive", ms["naive"] / ms["engine_auto"], 2)
    for precision in ("bf16", "fp32"):
        name = f"speedup_{precision}_vs_naive"
        if f"engine_{precision}" in ms:
            targets.check(name, ms["naive"] / ms[f"engine_{precision}"], 2)
        else:
            targets.skip(name, f"--precision without {precision}")
    targets.check("engine_ms_auto", ms["engine_auto"], 0)
    targets.check("triad_gbs", figures["triad_gbs"], 1)
    targets.check("roofline_share_auto", shares["engine_auto"], 3)
    if "engine_auto_glibc_default" in ms:
        targets.check("allocator_gain", ms["engine_auto_glibc_default"] / ms["engine_auto"], 2)
    else:
        targets.skip("allocator_gain", "no --allocator-compare")
    return targets.finish()


if __name__ == "__main__":
    sys.exit(main())
