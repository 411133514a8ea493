"""Time dream iterations of the engine against a naive reference loop written the way peer tools do it.

One iteration is one :func:`dreamvid.engine.ascent_step`: jitter, forward to the layer, backward to the
input, normalised step, clamp. The engine runs as shipped (``load_model()``, ``precision="auto"``). The
naive reference is the loop older DeepDream tools write: the same network (``EfficientNetLite0`` with the
package's weights, eval mode) run in fp32 through **all** its layers with a forward hook grabbing the
layer, batch norm not folded, weights left with ``requires_grad=True``, no autocast.

Both dream the same photo (scikit-image's astronaut, resized) with the same jitter sequence, interleaved
(naive, engine, naive, ...) after a warm-up; the table gives medians. The engine is also timed alone
first, before the naive loop has run: interleaved, it reuses memory the naive loop freed; alone, it
pays the page faults of its fresh allocations (docs/benchmarks.md). FLOPs are counted with
``torch.utils.flop_counter.FlopCounterMode`` over one iteration of each path: convolutions and the
linear layer, forward and backward (2 FLOPs per multiply-add); elementwise work is not counted. Peaks
are a 2048×2048 matmul in fp32 and in the engine's low precision, measured in the same run.

Usage:
    .venv/bin/python scripts/bench_engine.py [--iters 9] [--size 1280x720] [--device cpu] [--threads N]

The last line printed is ``speedup_vs_naive=X.XX`` (naive median / engine median). Runs offline.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from dreamvid.config import DreamConfig
from dreamvid.engine import ascent_step, resolve_device, resolve_precision
from dreamvid.models import EfficientNetLite0, IMAGENET_MEAN, IMAGENET_STD, _lite0_weights_file, load_model
from dreamvid.objectives import layer

LAYER = "b10"
BLOCK = 10  # EfficientNet-Lite0 block index of LAYER


def photo(width: int, height: int, device: torch.device) -> torch.Tensor:
    """scikit-image's astronaut photo as a ``(1, 3, height, width)`` image in [0, 1]."""
    from skimage import data

    image = torch.from_numpy(data.astronaut()).permute(2, 0, 1)[None].float() / 255
    image = F.interpolate(image, size=(height, width), mode="bilinear", align_corners=False, antialias=True)
    return image.clamp(0, 1).to(device)


class NaiveDreamer:
    """The peer-style loop: fp32, whole network, a forward hook on the layer, nothing frozen or folded."""

    def __init__(self, device: torch.device, settings: DreamConfig) -> None:
        net = EfficientNetLite0()
        net.load_state_dict(torch.load(_lite0_weights_file(), map_location="cpu", weights_only=True))
        self.net = net.to(device).eval()
        self.settings = settings
        self.mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)
        self.captured: dict[str, torch.Tensor] = {}
        self.net._blocks[BLOCK].register_forward_hook(lambda module, args, out: self.captured.update(act=out))

    def logits(self, image: torch.Tensor) -> torch.Tensor:
        net = self.net
        x = F.relu6(net._bn0(net._conv_stem((image - self.mean) / self.std)))
        for block in net._blocks:
            x = block(x)
        x = F.relu6(net._bn1(net._conv_head(x)))
        return net._fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))

    def step(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        j = self.settings.jitter
        oy, ox = torch.randint(-j, j + 1, (2,), generator=generator).tolist()
        leaf = x.detach().requires_grad_(True)
        self.logits(torch.roll(leaf, shifts=(oy, ox), dims=(2, 3)))
        loss = self.captured.pop("act").pow(2).mean()
        (grad,) = torch.autograd.grad(loss, leaf)
        grad = grad / (grad.abs().mean() + 1e-8)
        return (x + self.settings.step_size * grad).clamp(0, 1).detach()


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak(dtype: torch.dtype, device: torch.device, n: int = 2048, repeats: int = 10) -> float:
    """GFLOP/s of an n×n matmul in ``dtype`` (median of ``repeats`` after warm-up)."""
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    times = []
    for i in range(repeats + 3):
        sync(device)
        start = time.perf_counter()
        a @ b
        sync(device)
        if i >= 3:
            times.append(time.perf_counter() - start)
    return 2 * n**3 / statistics.median(times) / 1e9


def count_flops(step: Callable[[], torch.Tensor]) -> float:
    """Convolution and linear FLOPs (forward and backward) of one call of ``step``."""
    with FlopCounterMode(display=False) as counter:
        step()
    return float(counter.get_total_flops())


def forward_flops(forward: Callable[[], object]) -> float:
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        forward()
    return float(counter.get_total_flops())


def timed(step: Callable[[], torch.Tensor], device: torch.device) -> tuple[float, torch.Tensor]:
    sync(device)
    start = time.perf_counter()
    out = step()
    sync(device)
    return time.perf_counter() - start, out


def report(args: argparse.Namespace, device: torch.device, low: torch.dtype | None, figures: dict) -> None:
    """Print the table; the last line is ``speedup_vs_naive=X.XX``."""
    width, height = figures["size"]
    naive_ms, engine_ms = (statistics.median(figures["times"][k]) * 1e3 for k in ("naive", "engine"))
    low_name = str(low).removeprefix("torch.") if low is not None else "fp32"
    peak32, peak_low = figures["peaks"]
    fwd_naive, fwd_engine = figures["forward_flops"]
    print(f"dreamvid engine benchmark: {width}x{height}, efficientnet-lite0 {LAYER}, objective mean square")
    print(f"torch {torch.__version__}, {platform.machine()}, device {device}, {torch.get_num_threads()} threads, "
          f"{args.iters} interleaved iterations per path after {args.warmup} warm-up")
    print(f"matmul 2048x2048 peak: fp32 {peak32:.0f} GFLOP/s, {low_name} {peak_low:.0f} GFLOP/s")
    print(f"conv/linear FLOPs counted: forward {fwd_naive / 1e9:.1f} GFLOP (naive, whole network) vs "
          f"{fwd_engine / 1e9:.1f} GFLOP (engine, to {LAYER}); forward+backward per iteration below")
    print()
    header = f"{'path':<10}{'precision':<11}{'ms/iter':>9}{'min':>9}{'max':>9}{'GFLOP/iter':>12}{'GFLOP/s':>9}  of peak"
    print(header)
    print("-" * len(header))
    for name, precision, ms, key, peak in (
        ("naive", "fp32", naive_ms, "naive", peak32),
        ("dreamvid", low_name, engine_ms, "engine", peak_low),
    ):
        ts, flops = figures["times"][key], figures["flops"][key]
        rate = flops / (ms / 1e3) / 1e9
        print(f"{name:<10}{precision:<11}{ms:>9.0f}{min(ts) * 1e3:>9.0f}{max(ts) * 1e3:>9.0f}"
              f"{flops / 1e9:>12.1f}{rate:>9.1f}  {100 * rate / peak:.1f}% of {peak:.0f}")
    print()
    alone_ms, cosine = statistics.median(figures["alone"]) * 1e3, statistics.median(figures["cosines"])
    print(f"dreamvid alone (before the naive loop ran): {alone_ms:.0f} ms/iter median")
    print(f"same step, engine vs naive: cosine similarity of the pixel updates {cosine:.3f}")
    print(f"speedup_vs_naive={naive_ms / engine_ms:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iters", type=int, default=9, help="timed iterations per path (default 9)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed iterations per path first (default 2)")
    parser.add_argument("--size", default="1280x720", help="image size WxH (default 1280x720)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, ... (default cpu)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    settings = DreamConfig()
    image = photo(width, height, device)
    engine, objective, low = load_model(device=device), layer(LAYER), resolve_precision("auto", device)
    naive = NaiveDreamer(device, settings)
    gen_engine, gen_naive = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)

    def engine_step() -> torch.Tensor:
        return ascent_step(image, engine, objective, settings, generator=gen_engine, autocast_dtype=low)

    def naive_step() -> torch.Tensor:
        return naive.step(image, gen_naive)

    peak32 = matmul_peak(torch.float32, device)
    figures: dict = {"size": (width, height), "peaks": (peak32, matmul_peak(low, device) if low else peak32)}
    flops_engine = count_flops(engine_step)
    for _ in range(args.warmup):
        engine_step()
    figures["alone"] = [timed(engine_step, device)[0] for _ in range(args.iters)]
    figures["flops"] = {"engine": flops_engine, "naive": count_flops(naive_step)}
    figures["forward_flops"] = (
        forward_flops(lambda: naive.logits(image)), forward_flops(lambda: engine(image, [LAYER]))
    )
    for _ in range(args.warmup):
        naive_step()
    gen_engine.manual_seed(1), gen_naive.manual_seed(1)  # from here on both paths see the same jitter
    figures["times"], figures["cosines"] = {"naive": [], "engine": []}, []
    for _ in range(args.iters):
        t_naive, out_naive = timed(naive_step, device)
        t_engine, out_engine = timed(engine_step, device)
        figures["times"]["naive"].append(t_naive)
        figures["times"]["engine"].append(t_engine)
        update_engine, update_naive = (out_engine - image).flatten(), (out_naive - image).flatten()
        figures["cosines"].append(float(F.cosine_similarity(update_engine, update_naive, dim=0)))
    report(args, device, low, figures)


if __name__ == "__main__":
    main()
