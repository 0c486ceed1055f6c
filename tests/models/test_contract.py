"""The shared contract (``tests/contract.py``) for every registered model and preset.

A class per registered name is generated from the ``CONTRACT`` dicts of the model test
modules, so a newly registered model or preset is tested without anyone writing the
inheritance; a model without a small test configuration, or a model module that registers
nothing, fails here.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path
from typing import Any

import sessionrec.models as models_package
from sessionrec.models import registry
from tests.contract import ContractTests

# modules of the models package that hold shared machinery, not models
INFRASTRUCTURE = {"base", "neural", "prepared", "registry", "_sparse"}
TEST_MODULES = sorted(p.stem for p in Path(__file__).parent.glob("*.py") if p.stem != Path(__file__).stem)


def contract_table() -> dict[str, dict[str, Any]]:
    """Every model test module's ``CONTRACT`` entries, merged (a name declared twice is an error)."""
    table: dict[str, dict[str, Any]] = {}
    for name in TEST_MODULES:
        module = importlib.import_module(f"tests.models.{name}")
        for model, entry in getattr(module, "CONTRACT", {}).items():
            assert model not in table, f"{model} has two CONTRACT entries"
            table[model] = entry
    return table


CONTRACT = contract_table()  # imports the test modules first: models they register are included
MISSING = [n for n in registry.available() if n not in CONTRACT and registry.base_name(n) not in CONTRACT]


def test_every_registered_model_has_a_small_contract_configuration() -> None:
    assert not MISSING, f"no CONTRACT entry in tests/models for {MISSING}"


def test_every_model_module_registers_a_model() -> None:
    registered = {cls.__module__ for cls in registry.model_classes().values()}
    for info in pkgutil.iter_modules(models_package.__path__):
        if info.name in INFRASTRUCTURE:
            continue
        module = f"{models_package.__name__}.{info.name}"
        assert module in registered, f"{module} registers no model (or belongs in INFRASTRUCTURE)"


def _contract_class(name: str) -> type[ContractTests]:
    entry = CONTRACT.get(name, CONTRACT.get(registry.base_name(name), {}))
    unknown = set(entry) - {"overrides", "synthetic", "pattern_metric", "pattern_threshold", "ties"}
    assert not unknown, f"CONTRACT[{name!r}] has unknown keys {sorted(unknown)}"
    attributes = {"model_name": name, **entry}
    class_name = "TestContract_" + re.sub(r"\W", "_", name)
    return type(class_name, (ContractTests,), attributes)


for _name in registry.available():
    if _name not in MISSING:
        _cls = _contract_class(_name)
        globals()[_cls.__name__] = _cls
del _name
