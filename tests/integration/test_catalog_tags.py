"""Catalog tags that are not plain numbers, against a real registry (issue 17 item 7).

Jobs/Dependency-Scanning.latest at GitLab 18 pulls `dependency-scanning:v0` (GitLab's RSpec for
that template expects registry.gitlab.com/security-products/dependency-scanning:v0): the tag
parses, the estimate sizes it from the registry and names it among the tags that exist, and the
snippet points the template that wants it at the pushed copy."""

from __future__ import annotations

from collections.abc import Callable

import yaml

from airgap_tui.catalog.load import load_catalog
from airgap_tui.catalog.snippet import render_snippet
from airgap_tui.export.estimate import estimate
from airgap_tui.registry.client import RegistryClient
from tests.harness.native import LayerSpec, NativeImageSpec, seed_native
from tests.harness.registry import RegistryHandle

MakeRegistry = Callable[..., RegistryHandle]
V0 = NativeImageSpec(
    "security-products/dependency-scanning", "v0", (LayerSpec("ds-analyzer", 300_000),), "oci"
)


def factory(host: str) -> RegistryClient:
    return RegistryClient(host, backoff=0, credential_lookup=None, certs_dir=None)


def test_dependency_scanning_v0_is_resolved_estimated_and_configured(
    registry_factory: MakeRegistry,
) -> None:
    upstream = seed_native(registry_factory("v-tags"), (V0,))
    catalog = load_catalog()
    spec = catalog.resolve("dependency-scanning:v0", 18, upstream.prefix)
    assert (spec.name, spec.tag, spec.analyzer) == (
        "dependency-scanning",
        "v0",
        "dependency-scanning",
    )
    result = estimate([spec], client_factory=factory)
    assert result.ok and result.exact
    (image,) = result.images
    assert image.spec.tag == "v0"
    assert image.download_bytes == sum(b.size for b in upstream.image(V0.path).blobs())
    # a tag the registry lacks is named with the v-tag that does exist
    missing = estimate(
        [catalog.resolve("dependency-scanning:v1", 18, upstream.prefix)], client_factory=factory
    )
    assert not missing.ok and missing.images[0].available_tags == ["v0"]
    text = render_snippet("registry.local:5000/analyzers", [(spec.name, spec.tag)], 18, catalog)
    assert yaml.safe_load(text)["include"] == [
        {"template": "Jobs/Dependency-Scanning.latest.gitlab-ci.yml"}
    ]
