"""scripts/mutate.py is not run by CI (it takes minutes), so CI checks that it still could:
each mutation's text is in its file exactly once, and each test it names exists."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _mutate() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mutate", ROOT / "scripts" / "mutate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("mutate", module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


MUTATE = _mutate()
NAMES = [m.name for m in MUTATE.MUTATIONS]


def test_the_five_named_in_issue_21_are_there() -> None:
    assert {
        "readback-off",
        "verify-always-ok",
        "push-digest-check-off",
        "delta-precheck-off",
        "part-name-check-off",
    } <= set(NAMES)


@pytest.mark.parametrize("mutation", MUTATE.MUTATIONS, ids=NAMES)
def test_each_mutation_still_applies_and_names_real_tests(mutation: Any, tmp_path: Path) -> None:
    original = (ROOT / "airgap_tui" / mutation.file).read_text()
    target = tmp_path / "airgap_tui" / mutation.file
    target.parent.mkdir(parents=True)
    target.write_text(original)
    MUTATE.apply(mutation, tmp_path)  # raises NoLongerApplies when the code moved
    assert target.read_text() != original
    for test in mutation.tests:
        path, _, name = test.partition("::")
        assert (ROOT / path).is_file(), test
        if name:
            source = (ROOT / path).read_text()
            assert re.search(rf"^(async )?def {re.escape(name)}\(", source, re.M), test
