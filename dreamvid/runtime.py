"""What makes a CPU render repeatable: ``() → facts`` about the torch runtime, recorded beside each output.

The same seed and settings give the same picture only with the same torch version, the same number of
torch CPU threads (a different thread count sums floating-point numbers in another order, and dreaming
grows that difference into another dream) and, under bf16 autocast, the same kind of CPU: bf16 kernels
differ between CPUs with AMX, CPUs with AVX512-BF16 only, and CPUs without native bf16.

Convention:
    - :func:`cpu_kind` is ``"amx"`` (AMX bf16 tiles), ``"avx512_bf16"`` (AVX512-BF16 without AMX) or
      ``"none"``; read from ``/proc/cpuinfo`` flags, else from torch's reported CPU capability.
    - :func:`runtime_info` is flat JSON values, merged into the resolved settings saved beside an output.

Example:
    >>> cpu_kind() in ("amx", "avx512_bf16", "none")
    True
    >>> sorted(runtime_info())
    ['cpu_kind', 'cpu_model', 'torch_threads']
"""

from __future__ import annotations

import platform
from functools import lru_cache

import torch

__all__ = ["CPU_KINDS", "cpu_kind", "cpu_kind_from_flags", "cpu_model", "runtime_info"]

CPU_KINDS = ("amx", "avx512_bf16", "none")
"""The CPU kinds :func:`cpu_kind` tells apart, fastest bf16 first."""


def cpu_kind_from_flags(flags: str) -> str:
    """The CPU kind of a ``/proc/cpuinfo`` ``flags`` line (or the whole file).

    Example:
        >>> cpu_kind_from_flags("fpu sse avx512f avx512_bf16 amx_bf16 amx_tile")
        'amx'
        >>> cpu_kind_from_flags("fpu avx512f avx512_bf16"), cpu_kind_from_flags("fpu avx2")
        ('avx512_bf16', 'none')
    """
    words = set(flags.split())
    if "amx_bf16" in words:
        return "amx"
    if "avx512_bf16" in words:
        return "avx512_bf16"
    return "none"


@lru_cache(maxsize=1)
def cpu_kind() -> str:
    """This CPU's bf16 capability: ``"amx"``, ``"avx512_bf16"`` or ``"none"``.

    Without ``/proc/cpuinfo`` (macOS, Windows) torch's CPU capability decides (``"AMX"`` in it → amx);
    AVX512-BF16 is not visible that way, so such CPUs report ``"none"``.
    """
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="ignore") as info:
            lines = [line for line in info if line.startswith(("flags", "Features"))]
    except OSError:
        lines = []
    if lines:
        return cpu_kind_from_flags(lines[0].partition(":")[2])
    capability = str(torch.backends.cpu.get_cpu_capability()).upper()
    return "amx" if "AMX" in capability else "none"


@lru_cache(maxsize=1)
def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``'s ``model name``), else :func:`platform.processor`, else ``"unknown"``."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="ignore") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def runtime_info() -> dict[str, object]:
    """The runtime facts a CPU render's pixels depend on besides the settings and the torch version.

    Returns:
        ``{"torch_threads": int, "cpu_kind": str, "cpu_model": str}``; ``torch_threads`` is read now, so
        call it after the thread count is set.
    """
    return {"torch_threads": torch.get_num_threads(), "cpu_kind": cpu_kind(), "cpu_model": cpu_model()}
