"""OpenMP's wait policy is chosen from the raw arguments, before torch loads."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from sessionrec.openmp import asks_for_openblas, prefer_passive_wait


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["train", "srgnn", "data", "--cpu-scoring", "openblas"], True),
        (["train", "srgnn", "data", "--cpu-scoring=openblas"], True),
        (["train", "srgnn", "data", "--cpu-scoring", "torch"], False),
        (["train", "srgnn", "data"], False),
        (["train", "srgnn", "data", "--cpu-scoring"], False),  # the value is missing
        (["train", "openblas", "data"], False),  # a positional that happens to say openblas
    ],
)
def test_only_the_option_with_the_openblas_value_counts(argv: list[str], expected: bool) -> None:
    assert asks_for_openblas(argv) is expected


def test_the_policy_is_set_only_before_torch_loads_and_never_over_the_users(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    argv = ["--cpu-scoring", "openblas"]
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    assert prefer_passive_wait(argv) is False  # torch is loaded in this process: too late
    assert "OMP_WAIT_POLICY" not in os.environ
    monkeypatch.delitem(sys.modules, "torch")
    assert prefer_passive_wait(["--cpu-scoring", "torch"]) is False
    assert prefer_passive_wait(argv) is True
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    assert prefer_passive_wait(argv) is False
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"


@pytest.mark.parametrize(("backend", "expected"), [("openblas", "PASSIVE"), ("torch", "unset")])
def test_the_command_sets_the_policy_before_it_imports_torch(backend: str, expected: str) -> None:
    script = textwrap.dedent(
        f"""
        import os, sys
        sys.argv = ["sessionrec", "train", "--cpu-scoring", "{backend}", "--help"]
        from sessionrec.__main__ import main
        try:
            main()
        except SystemExit:
            pass
        assert "torch" in sys.modules
        print("policy", os.environ.get("OMP_WAIT_POLICY", "unset"))
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == f"policy {expected}"
