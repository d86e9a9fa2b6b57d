"""The domain calls of the request paths, kept apart from services.Domain so that file stays
small: reading templates (a directory or a GitLab's API), the registry's inventory, and the
request file. `Domain` inherits these; a test's FixedDomain overrides what it must fix.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airgap_tui.models import ImageSpec

if TYPE_CHECKING:
    from airgap_tui.catalog.template_model import TemplateImage
    from airgap_tui.delta.inventory import Inventory
    from airgap_tui.events import CancelToken, ProgressCallback
    from airgap_tui.gitlab.api import InstanceTemplates
    from airgap_tui.models import Credentials
    from airgap_tui.tui.request_draft import RequestDraft


class RequestDomain:
    def read_templates_dir(self, root: Path) -> dict[str, str]:
        from airgap_tui.catalog.templates import read_templates_dir

        return read_templates_dir(root)

    def fetch_templates(
        self, url: str, *, token: str | None, ca_file: Path | None
    ) -> InstanceTemplates:
        """The instance's security templates and version (the token is not kept)."""
        from airgap_tui.gitlab.api import fetch_templates

        return fetch_templates(url, token=token, ca_file=ca_file)

    def images_from_templates(
        self, sources: Mapping[str, str], *, fips: bool
    ) -> list[TemplateImage]:
        from airgap_tui.catalog.templates import images_from_templates

        return images_from_templates(sources, fips=fips)

    def registry_inventory(
        self,
        registry: str,
        *,
        credentials: Credentials | None,
        ca_file: Path | None,
        progress: ProgressCallback,
        cancel: CancelToken,
    ) -> Inventory:
        """What `airgap-tui inventory --registry R` takes, for the same registry."""
        from airgap_tui.delta.inventory import take_inventory
        from airgap_tui.registry.client import RegistryClient
        from airgap_tui.registry.reference import split_prefix

        host, path = split_prefix(registry)
        with RegistryClient(
            host, credentials=credentials, ca_file=ca_file, cancel=cancel
        ) as client:  # fmt: skip
            client.ping()  # a wrong address, TLS or login fails here, in its own words
            return take_inventory(
                client, path, registry=registry, progress=progress, cancel=cancel
            )  # fmt: skip

    def missing_images(
        self, images: Sequence[TemplateImage], registry: str, inventory: Inventory
    ) -> list[TemplateImage]:
        """The images under the prefix whose name:tag the registry does not hold."""
        from airgap_tui.registry.reference import split_prefix

        _, path = split_prefix(registry)
        held = {
            (repo.name, tag.tag) for repo in inventory.repositories for tag in repo.tags
        }  # fmt: skip
        missing = []
        for image in images:
            if not image.under_prefix:
                continue
            repository = f"{path.strip('/')}/{image.name}" if path.strip("/") else image.name
            if (repository, image.tag) not in held:
                missing.append(image)
        return missing

    def request_data(self, draft: RequestDraft) -> dict[str, Any]:
        """The request JSON for what the wizard gathered, built as `airgap-tui request` builds
        it from the same options (--templates/--gitlab-url, --fips, --opt-in, --registry)."""
        from airgap_tui.catalog.request import (
            SOURCE_GITLAB_API,
            SOURCE_TEMPLATES,
            build_request,
            public_source,
            select_images,
        )
        from airgap_tui.delta.inventory import inventory_lines

        requested, left_out = select_images(draft.images, opt_in=draft.opt_in)
        if draft.templates_dir is not None:
            source = public_source(SOURCE_TEMPLATES)
        else:
            source = public_source(SOURCE_GITLAB_API, draft.gitlab_url)
        inventory = None
        if draft.inventory is not None:
            inventory = json.loads(b"".join(inventory_lines(draft.inventory)))
        return build_request(
            requested,
            left_out,
            gitlab_version=draft.version,
            fips=draft.fips,
            source=source,
            inventory=inventory,
        )

    def render_request_snippet(self, registry: str, draft: RequestDraft) -> str:
        """The CI snippet from the instance's own templates, for what the request carries."""
        from airgap_tui.catalog.template_snippet import render_template_snippet

        return render_template_snippet(
            registry, draft.sources, draft.requested(), gitlab_version=draft.version
        )

    def write_request_draft(self, draft: RequestDraft, path: Path) -> str:
        """Write the request atomically; returns its sha256."""
        from airgap_tui.catalog.request import write_request

        return write_request(self.request_data(draft), path)

    def open_request(self, path: Path, source_prefix: str, major: int) -> OpenedRequest:
        """What `export --request FILE` carries: each image the request names, once, pulled from
        `source_prefix`; a hostile file is a RequestError naming the field."""
        from airgap_tui.catalog.load import load_catalog
        from airgap_tui.catalog.request_read import read_request
        from airgap_tui.export.plan import request_specs

        request = read_request(path)
        head = (request.gitlab_version or "").split(".", 1)[0]
        specs = request_specs(load_catalog(), request, major, source_prefix)
        instance_major = int(head) if head.isdigit() else major
        return OpenedRequest(
            path, specs, instance_major, request.inventory is not None, request.fips
        )


@dataclass(frozen=True)
class OpenedRequest:
    """A request read on the connected host, as the wizard's selection."""

    path: Path
    specs: list[ImageSpec]
    major: int  # the instance's, when the request says; else the wizard's
    has_inventory: bool  # then the bundle is a delta against it
    fips: bool
