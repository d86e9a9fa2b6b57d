"""Which registries the engine reaches over plain HTTP: the import must agree with it."""

from __future__ import annotations

from airgap_tui.importer.engine import registry_is_insecure

CONFIG = {
    "InsecureRegistryCIDRs": ["127.0.0.0/8", "10.20.0.0/16"],
    "IndexConfigs": {
        "docker.io": {"Name": "docker.io", "Secure": True},
        "registry.local:5000": {"Name": "registry.local:5000", "Secure": False},
    },
}


def test_index_config_entry_decides() -> None:
    assert registry_is_insecure("registry.local:5000", CONFIG)
    assert not registry_is_insecure("docker.io", CONFIG)


def test_addresses_in_insecure_cidrs() -> None:
    assert registry_is_insecure("10.20.3.4:5000", CONFIG)
    assert registry_is_insecure("127.0.0.1:5000", CONFIG)
    assert not registry_is_insecure("10.21.0.1:5000", CONFIG)
    assert not registry_is_insecure("[::1]:5000", CONFIG)


def test_names_resolve_to_addresses_and_unknown_names_are_secure() -> None:
    assert registry_is_insecure("localhost:5000", CONFIG)  # resolves into 127.0.0.0/8
    assert not registry_is_insecure("no-such-host.invalid:5000", CONFIG)
    assert not registry_is_insecure("registry.local:5000", {})
