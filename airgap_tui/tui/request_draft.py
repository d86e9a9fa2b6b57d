"""What the "Make a request" path has gathered so far: where the templates came from, what
they ask for, what the registry already holds, and where the request went.

The GitLab token is not here: it goes from its masked field straight to the worker that reads
the templates and is dropped with the screen (never saved, never in a profile or a file).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airgap_tui.catalog.template_model import TemplateImage
    from airgap_tui.delta.inventory import Inventory


@dataclass
class RequestDraft:
    templates_dir: Path | None = None  # --templates DIR
    gitlab_url: str = ""  # --gitlab-url URL
    gitlab_ca: Path | None = None  # --ca-file for the GitLab URL
    fips: bool = False
    version: str | None = None  # the instance's, when it said
    sources: dict[str, str] = field(default_factory=dict)  # template path -> text
    images: list[TemplateImage] = field(default_factory=list)  # what the templates pull
    opt_in: list[str] = field(default_factory=list)  # the opt-in variables chosen
    inventory: Inventory | None = None  # the registry's, when one was checked
    written: Path | None = None  # the request file, once written

    @property
    def origin(self) -> str:
        """Where the templates came from, in the CLI's words."""
        if self.templates_dir is not None:
            return f"--templates {self.templates_dir}"
        return f"--gitlab-url {self.gitlab_url}"

    def opt_in_names(self) -> list[str]:
        """Every opt-in variable the templates know, in first-seen order."""
        return list(dict.fromkeys(i.opt_in for i in self.images if i.opt_in))

    def requested(self) -> list[TemplateImage]:
        """The images the request will name: every job that always runs, and the opt-in jobs
        whose variable was chosen (the rule of `airgap-tui request --opt-in`)."""
        from airgap_tui.catalog.request import select_images

        return select_images(self.images, opt_in=self.opt_in)[0]
