"""What makes a render repeatable: the CPU kind, the runtime facts, and ``run.threads`` through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from dreamvid import cli, pipeline
from dreamvid.config import RunConfig, load_config
from dreamvid.errors import ConfigError
from dreamvid.images import write_image
from dreamvid.runtime import CPU_KINDS, cpu_kind, cpu_kind_from_flags, cpu_model, runtime_info


@pytest.fixture()
def keep_threads():
    """Restore torch's thread count after a test that changes it."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


class TestCpuKind:
    @pytest.mark.parametrize(
        ("flags", "kind"),
        [
            ("fpu avx512f avx512_bf16 amx_bf16 amx_tile amx_int8", "amx"),
            ("fpu avx512f avx512_bf16 avx512_vnni", "avx512_bf16"),
            ("fpu sse4_2 avx2 fma", "none"),
            ("", "none"),
            ("fpu avx512_bf16x", "none"),  # whole words only
        ],
    )
    def test_from_flags(self, flags: str, kind: str) -> None:
        assert cpu_kind_from_flags(flags) == kind

    def test_this_machine(self) -> None:
        assert cpu_kind() in CPU_KINDS
        assert isinstance(cpu_model(), str) and cpu_model()


class TestRuntimeInfo:
    def test_keys_and_json(self, keep_threads) -> None:
        torch.set_num_threads(1)
        info = runtime_info()
        assert info == {"torch_threads": 1, "cpu_kind": cpu_kind(), "cpu_model": cpu_model()}
        assert json.loads(json.dumps(info)) == info


class TestThreadsSetting:
    def test_default_is_torch_choice(self) -> None:
        assert RunConfig().threads == 0
        assert load_config(None, ["run.threads=3"]).run.threads == 3

    @pytest.mark.parametrize(
        ("value", "message"),
        [(-1, "run.threads must be an integer from 0 to 4096, got -1"), (1.5, "run.threads must be an integer from 0 to 4096"),
         (True, "run.threads must be an integer from 0 to 4096, got true (a boolean)"), (4097, "got 4097")],
    )
    def test_refused(self, value: object, message: str) -> None:
        with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
            RunConfig(threads=value)  # type: ignore[arg-type]

    def test_cli_applies_it_and_records_it(self, tmp_path: Path, keep_threads) -> None:
        from skimage import data

        photo, out = tmp_path / "cat.png", tmp_path / "dream.png"
        write_image(photo, np.ascontiguousarray(data.chelsea()[::8, ::8]))
        torch.set_num_threads(2)
        result = CliRunner().invoke(cli.app, ["image", str(photo), "-o", str(out), "--set", "run.threads=1",
                                              "--set", "dream.steps=1", "--set", "dream.octaves=1"])
        assert result.exit_code == 0, result.output
        assert torch.get_num_threads() == 1
        saved = json.loads(pipeline.sidecar_path(out).read_text())
        assert saved["run"]["threads"] == 1
        assert saved["run_info"]["torch_threads"] == 1
        assert saved["run_info"]["cpu_kind"] == cpu_kind()
        assert saved["run_info"]["cpu_model"] == cpu_model()
