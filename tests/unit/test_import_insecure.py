"""The straight route reads the host's Docker insecure-registries (daemon.json) without an
engine, so a plain-HTTP registry the operator already declared is reached over HTTP."""

from __future__ import annotations

import json
from pathlib import Path

from airgap_tui.importer.run import insecure_in_daemon_json


def _daemon(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "daemon.json"
    path.write_text(json.dumps(data))
    return path


def test_a_listed_host_or_a_cidr_holding_its_address_is_insecure(tmp_path: Path) -> None:
    path = _daemon(tmp_path, {"insecure-registries": ["registry.lab:5000", "10.1.0.0/16"]})
    assert insecure_in_daemon_json("registry.lab:5000", path) is True
    assert insecure_in_daemon_json("10.1.2.3:5000", path) is True
    assert insecure_in_daemon_json("registry.lab:5001", path) is None  # the port is part of it
    assert insecure_in_daemon_json("10.2.0.1:5000", path) is None
    assert insecure_in_daemon_json("[::1]:5000", path) is None


def test_no_file_or_a_damaged_one_keeps_the_default(tmp_path: Path) -> None:
    assert insecure_in_daemon_json("registry.lab:5000", tmp_path / "missing.json") is None
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert insecure_in_daemon_json("registry.lab:5000", bad) is None
    odd = _daemon(tmp_path, {"insecure-registries": "registry.lab:5000"})
    assert insecure_in_daemon_json("registry.lab:5000", odd) is None
    cidr_only = _daemon(tmp_path, {"insecure-registries": ["not/a-cidr", "192.0.2.0/24"]})
    assert insecure_in_daemon_json("no-such-host.invalid:5000", cidr_only) is None
