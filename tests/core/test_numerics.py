"""Subnormal floats are flushed in every process and thread the package runs, unless opted out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from fastapi.testclient import TestClient

from sessionrec.models.registry import create
from sessionrec.runtime import numerics
from sessionrec.workflow import train_and_evaluate
from tests.conftest import synthetic_dataset

ROOT = Path(__file__).resolve().parents[2]
PROBE = (
    "import {module}\n"
    "from sessionrec.runtime.numerics import flushed_everywhere\n"
    "import torch; torch.set_num_threads(2)\n"
    "print(flushed_everywhere())\n"
)


def probe(module: str, keep: bool) -> bool:
    env = {k: v for k, v in os.environ.items() if k != numerics.KEEP_DENORMALS_ENV}
    if keep:
        env[numerics.KEEP_DENORMALS_ENV] = "1"
    code = PROBE.format(module=module)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return out.stdout.strip() == "True"


@pytest.mark.parametrize("module", ["sessionrec.training", "sessionrec.evaluation", "sessionrec.serving"])
def test_each_entry_point_flushes_on_every_torch_thread_unless_opted_out(module: str) -> None:
    assert probe(module, keep=False)
    assert not probe(module, keep=True)


def test_this_process_flushes_a_subnormal_to_zero() -> None:
    bits = torch.tensor([0x00400000], dtype=torch.int32).view(torch.float32)  # about 5.9e-39
    assert int((bits * 1.0).view(torch.int32)) == 0
    assert numerics.status() == {"flush_denormal": True, "denormals_flushed": True}


def test_a_training_run_records_its_numerics(tmp_path: Path) -> None:
    data = synthetic_dataset()
    model = create("srgnn", embedding_dim=8, batch_size=64, epochs=1)
    result = train_and_evaluate(model, data, tmp_path / "run", select_on="none")
    info = json.loads(result.run.info_path.read_text())
    assert info["numerics"] == {"flush_denormal": True, "denormals_flushed": True}


def test_the_service_reports_flushing_on_its_threads(tmp_path: Path) -> None:
    from sessionrec.serving import create_app

    data = synthetic_dataset()
    model = create("srgnn", embedding_dim=8, batch_size=64, epochs=1)
    trained = train_and_evaluate(model, data, tmp_path / "run", select_on="none")
    with TestClient(create_app(trained.run.directory)) as client:
        for _ in range(200):
            answer = client.get("/v1/model")
            if answer.status_code == 200:
                break
        assert answer.json()["numerics"] == {"flush_denormal": True, "denormals_flushed": True}


def test_a_warning_when_torch_threads_started_before_the_import() -> None:
    code = (
        "import torch; torch.set_num_threads(2)\n"
        "torch.full((1 << 20,), 1.0).mul(2.0)\n"  # starts torch's worker threads before sessionrec
        "import warnings, sessionrec\n"
        "from sessionrec.runtime.numerics import check_flushed\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    check_flushed()\n"
        "print(any('not flushed on every torch thread' in str(w.message) for w in caught))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "True"
