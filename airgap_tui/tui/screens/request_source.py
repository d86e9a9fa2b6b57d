"""Make a request, step 1: the offline GitLab's own CI templates, from a copied directory or
read through the instance's API, and the images they pull."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Label, RadioButton, RadioSet, Static, Switch

from airgap_tui.tui import formatting
from airgap_tui.tui.request_draft import RequestDraft
from airgap_tui.tui.request_messages import TemplatesRead
from airgap_tui.tui.request_style import REQUEST_CSS
from airgap_tui.tui.screens.base import WizardScreen
from airgap_tui.tui.validators import OptionalFile
from airgap_tui.tui.widgets.path_picker import PathPicker

if TYPE_CHECKING:
    from textual.worker import Worker

OMNIBUS_TEMPLATES = "/opt/gitlab/embedded/service/gitlab-rails/lib/gitlab/ci/templates"


class RequestSourceScreen(WizardScreen):
    CSS = REQUEST_CSS
    SCOPED_CSS = False  # request.tcss is written like app.tcss: `.-short` is the screen itself
    KEY = "request-source"
    TITLE = "Templates"
    NEXT_LABEL = "Read templates"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+r", "rescan", "Rescan drives")]

    def __init__(self) -> None:
        super().__init__()
        self.reading = False
        draft = self.state.request
        self.from_url = bool(draft and draft.gitlab_url and draft.templates_dir is None)

    def compose_body(self) -> ComposeResult:
        draft = self.state.request or RequestDraft(fips=self.state.fips)
        yield Static(
            "The offline GitLab's own CI templates say which scanner images its pipelines "
            "pull. Give a copy of its templates directory, or its address.",
            id="request-intro",
        )
        with RadioSet(id="request-from"):
            yield RadioButton(
                "Templates directory", id="from-dir", value=not self.from_url
            )  # fmt: skip
            yield RadioButton("GitLab URL", id="from-url", value=self.from_url)
        with Vertical(id="from-dir-box"):
            yield self.path_picker(
                label=f"Templates directory (on Omnibus: {OMNIBUS_TEMPLATES})",
                value=str(draft.templates_dir or ""),
                id="templates-pick",
            )
        with Vertical(id="from-url-box"):
            yield Label("GitLab URL", classes="field")
            yield Input(
                value=draft.gitlab_url, id="gitlab-url", placeholder="https://gitlab.example.com"
            )
            yield Label(
                "Token with read_api (kept in memory only, never saved)", classes="field"
            )  # fmt: skip
            yield Input(id="token", password=True, placeholder="glpat-…")
            yield Label("CA certificate file (optional: a private CA)", classes="field")
            yield Input(
                value=str(draft.gitlab_ca or ""), id="gitlab-ca", validators=[OptionalFile()]
            )
        with Horizontal(id="request-fips-row"):
            yield Switch(value=draft.fips, id="request-fips")
            yield Label("FIPS instance: request the -fips variants", id="request-fips-label")
        yield Static("", id="templates-status")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#templates-pick #path", Input).placeholder = "/media/usb/templates"
        self.show_source()

    # --- the two sources ------------------------------------------------------------------
    def show_source(self) -> None:
        self.query_one("#from-dir-box").display = not self.from_url
        self.query_one("#from-url-box").display = self.from_url
        if self.from_url:
            self.query_one("#gitlab-url", Input).focus()
        else:
            self.query_one("#templates-pick", PathPicker).focus_drives()
        self.refresh_nav()

    @on(RadioSet.Changed, "#request-from")
    def source_changed(self, event: RadioSet.Changed) -> None:
        event.stop()
        self.from_url = event.pressed.id == "from-url"
        self.clear_error()
        self.show_source()

    @on(Input.Changed)
    def field_changed(self, event: Input.Changed) -> None:
        self.refresh_nav()

    @on(Input.Submitted)
    def field_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_next()

    def action_rescan(self) -> None:
        self.query_one("#templates-pick", PathPicker).rescan()

    def directory(self) -> Path | None:
        text = self.query_one("#templates-pick", PathPicker).value.strip()
        return self.services.expand(text) if text else None

    def gitlab_ca(self) -> Path | None:
        text = self.query_one("#gitlab-ca", Input).value.strip()
        return self.services.expand(text) if text else None

    # --- next: read the templates in a worker --------------------------------------------
    def can_go_next(self) -> bool:
        if self.reading or not self.query("#request-from"):
            return False
        if self.from_url:
            return (
                bool(self.query_one("#gitlab-url", Input).value.strip())
                and self.query_one("#gitlab-ca", Input).is_valid
            )
        path = self.directory()
        return path is not None and path.is_absolute()

    def go_next(self) -> None:
        fips = self.query_one("#request-fips", Switch).value
        if self.from_url:
            draft = RequestDraft(
                gitlab_url=self.query_one("#gitlab-url", Input).value.strip(),
                gitlab_ca=self.gitlab_ca(),
                fips=fips,
            )
            token = self.query_one("#token", Input).value.strip() or None
        else:
            draft = RequestDraft(templates_dir=self.directory(), fips=fips)
            token = None
        self.reading = True
        self.query_one("#templates-status", Static).update(
            Text("Reading the templates…", "dim")
        )  # fmt: skip
        self.refresh_nav()
        self.read_templates(draft, token)

    @work(thread=True, exclusive=True, group="templates", exit_on_error=False)
    def read_templates(self, draft: RequestDraft, token: str | None) -> None:
        domain = self.services.domain
        if draft.templates_dir is not None:
            draft.sources = domain.read_templates_dir(draft.templates_dir)
        else:
            got = domain.fetch_templates(draft.gitlab_url, token=token, ca_file=draft.gitlab_ca)
            draft.sources, draft.version = got.sources, got.version
        draft.images = domain.images_from_templates(draft.sources, fips=draft.fips)
        self.post_message(TemplatesRead(draft))

    def worker_failed(self, worker: Worker[object], error: BaseException | None) -> None:
        self.reading = False
        self.query_one("#templates-status", Static).update("")
        super().worker_failed(worker, error)

    def on_templates_read(self, message: TemplatesRead) -> None:
        self.reading = False
        draft = message.draft
        previous = self.state.request
        if previous is not None and previous.sources == draft.sources:
            draft.opt_in = [n for n in previous.opt_in if n in draft.opt_in_names()]
        self.state.request = draft
        self.state.fips = draft.fips
        status = Text("✓ ", "green")
        status.append(
            f"{formatting.count(len(draft.sources), 'template')}, "
            f"{formatting.count(len(draft.images), 'image')}"
        )
        if draft.version:
            status.append(f" · GitLab {draft.version}")
        self.query_one("#templates-status", Static).update(status)
        self.refresh_nav()
        self.wizard.advance(self)
