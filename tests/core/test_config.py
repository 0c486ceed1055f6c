"""Typed configs: unknown keys, wrong types, ranges, overrides."""

from __future__ import annotations

import pytest

from sessionrec.errors import ConfigError
from sessionrec.models.srgnn import SRGNNConfig


def test_defaults_are_the_papers() -> None:
    config = SRGNNConfig()
    assert (config.embedding_dim, config.batch_size, config.lr, config.weight_decay) == (100, 100, 1e-3, 1e-5)
    assert (config.lr_step, config.lr_gamma, config.steps) == (3, 0.1, 1)


def test_unknown_key_lists_valid_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown key\(s\) hiden_size.*valid keys: .*embedding_dim"):
        SRGNNConfig.from_dict({"hiden_size": 3})


def test_overrides_are_coerced_and_checked() -> None:
    config = SRGNNConfig.from_overrides(["embedding_dim=64", "lr=0.01", "hybrid=false", "lr_step_at=end"])
    assert config.embedding_dim == 64 and config.lr == 0.01 and config.hybrid is False
    with pytest.raises(ConfigError, match="embedding_dim: expected an integer"):
        SRGNNConfig.from_overrides(["embedding_dim=big"])
    with pytest.raises(ConfigError, match="lr_step_at: expected one of"):
        SRGNNConfig.from_overrides(["lr_step_at=middle"])
    with pytest.raises(ConfigError, match="batch_size must be positive"):
        SRGNNConfig(batch_size=0)
    with pytest.raises(ConfigError, match="expects key=value"):
        SRGNNConfig.from_overrides(["lr"])
    with pytest.raises(ConfigError, match="select_metric"):
        SRGNNConfig(select_metric="AUC")


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "Infinity", "NaN"])
@pytest.mark.parametrize("key", ["lr", "weight_decay", "min_delta"])
def test_non_finite_floats_are_rejected_with_the_key(key: str, value: str) -> None:
    from sessionrec.models.registry import create_from_overrides

    with pytest.raises(ConfigError, match=rf"\.{key}: expected a (finite )?number"):
        create_from_overrides("srgnn", [f"{key}={value}"])  # JSON reads Infinity and NaN as floats
    with pytest.raises(ConfigError, match=rf"\.{key}: expected a finite number"):
        create_from_overrides("srgnn", []).config.replace(**{key: float(value)})
