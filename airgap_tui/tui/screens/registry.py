"""Target registry: host[:port][/path], checked as typed; a connection check that asks for a
login on 401 and spells out the fix on a TLS failure."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import Button, Input, Label, RadioButton, RadioSet, Static
from textual.worker import Worker

from airgap_tui.errors import AirgapError, AuthError, TLSError, UsageError
from airgap_tui.models import Credentials
from airgap_tui.registry.reference import split_prefix
from airgap_tui.tui.messages import RegistryChecked
from airgap_tui.tui.screens.base import WizardScreen
from airgap_tui.tui.screens.dialogs import CredentialsDialog
from airgap_tui.tui.state import PATH_IMPORT
from airgap_tui.tui.validators import OptionalFile, RegistryPrefix


class RegistryScreen(WizardScreen):
    KEY = "registry"
    TITLE = "Target registry"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+t", "check", "Check connection"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.checked_for: tuple[str, str, str | None] | None = None
        self.next_after_check = False
        self.next_after_login = False
        self.checking = False

    def next_label(self) -> str:
        if self.state.path != PATH_IMPORT:
            return "Show snippet"
        return "Load and push" if self.state.via_docker else "Push"

    def compose_body(self) -> ComposeResult:
        yield Static(
            "The registry your offline GitLab pulls analyzers from. Images go to "
            "<registry>/<name>:<tag>, and SECURE_ANALYZERS_PREFIX points at the same place.",
            id="registry-intro",
        )
        yield Label("Registry: host[:port][/path]", markup=False, classes="field")
        yield Input(
            value=self.state.registry,
            id="registry",
            placeholder="registry.example.com:5000/security-products",
            validators=[RegistryPrefix()],
        )
        yield Label(
            "CA certificate file (optional: for a registry with a private CA)", classes="field"
        )
        yield Input(
            value=str(self.state.ca_file or ""),
            id="ca-file",
            placeholder="/etc/docker/certs.d/registry.example.com:5000/ca.crt",
            validators=[OptionalFile()],
        )
        if self.state.path == PATH_IMPORT:
            with RadioSet(id="route"):
                yield RadioButton(
                    "Straight to the registry (digests kept, no Docker needed)",
                    value=not self.state.via_docker,
                    id="route-registry",
                )
                yield RadioButton(
                    "Load into Docker, tag, push (also leaves the images in the engine)",
                    value=self.state.via_docker,
                    id="route-docker",
                )
        with Horizontal(id="check-row"):
            yield Button("Check connection", id="check")
            yield Static("", id="login-status")
        yield Static("", id="registry-status")
        fix = Static("", id="tls-fix")
        fix.border_title = "How to fix TLS"
        yield fix

    def on_mount(self) -> None:
        for field in self.query(Input):
            field.validate(field.value)
        self.query_one("#tls-fix", Static).display = False
        self.query_one("#registry", Input).focus()
        self.show_login()
        if self.state.path != PATH_IMPORT:
            self.query_one("#registry-status", Static).update(
                Text("The check is optional here: the snippet does not need the registry.", "dim")
            )
        super().on_mount()

    # --- input --------------------------------------------------------------------------
    def prefix(self) -> str:
        return self.query_one("#registry", Input).value.strip()

    def ca_file(self) -> Path | None:
        text = self.query_one("#ca-file", Input).value.strip()
        return self.services.expand(text) if text else None

    def key(self) -> tuple[str, str, str | None]:
        ca = self.ca_file()
        return (
            self.prefix(),
            self.state.credentials.username if self.state.credentials else "",
            str(ca) if ca else None,
        )

    def inputs_valid(self) -> bool:
        if not self.query("#ca-file"):
            return False
        return all(
            field.is_valid
            for field in (self.query_one("#registry", Input), self.query_one("#ca-file", Input))
        )

    @on(Input.Changed)
    def changed(self, event: Input.Changed) -> None:
        status = self.query_one("#registry-status", Static)
        result = event.validation_result
        if result is not None and not result.is_valid:
            status.update(Text(" ".join(result.failure_descriptions), "yellow"))
        elif self.state.path == PATH_IMPORT:
            status.update(Text("Not checked yet: Check connection (ctrl+t) or Next.", "dim"))
        else:
            status.update(Text("Looks right.", "green"))
        self.refresh_nav()

    @on(RadioSet.Changed, "#route")
    def route_changed(self, event: RadioSet.Changed) -> None:
        event.stop()
        self.state.via_docker = event.pressed.id == "route-docker"
        self.checked_for = None  # the engine's view of HTTP/HTTPS may differ: check again
        self.refresh_nav()

    @on(Input.Submitted)
    def submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_check()

    @on(Button.Pressed, "#check")
    def check_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_check()

    # --- connection check ---------------------------------------------------------------
    def action_check(self) -> None:
        if not self.inputs_valid():
            self.show_error("Fix the registry address first (see the note below it).")
            return
        self.clear_error()
        self.query_one("#tls-fix", Static).display = False
        host, _ = split_prefix(self.prefix())
        self.query_one("#registry-status", Static).update(Text(f"Connecting to {host}…", "dim"))
        self.checking = True
        self.check_registry(host, self.state.credentials, self.ca_file(), self.key())

    @work(thread=True, exclusive=True, group="registry", exit_on_error=False)
    def check_registry(
        self,
        host: str,
        credentials: Credentials | None,
        ca_file: Path | None,
        key: tuple[str, str, str | None],
    ) -> None:
        client = self.services.domain.registry_client(
            host, credentials=credentials, ca_file=ca_file, insecure=self.engine_insecure(host)
        )
        try:
            client.ping()
            scheme = client.scheme
        finally:
            client.close()
        self.post_message(RegistryChecked(key, host, scheme))

    def engine_insecure(self, host: str) -> bool | None:
        """On the import path, the engine's insecure-registries decide HTTP or HTTPS, as they
        will for its push (the import checks the same way); None = our own default."""
        if self.state.path != PATH_IMPORT or not self.state.via_docker:
            return None  # only the Docker route needs an engine: do not wait for one
        try:
            return self.services.engine().insecure_registry(host)
        except AirgapError:
            return None  # no engine yet: the push step reports that in its own words

    def on_registry_checked(self, message: RegistryChecked) -> None:
        key, host, scheme = message.key, message.host, message.scheme
        self.checking = False
        if key != self.key():
            return
        self.checked_for = key
        self.state.registry = key[0]
        self.state.ca_file = self.ca_file()
        self.state.registry_checked = True
        self.query_one("#registry-status", Static).update(
            Text(f"✓ {host} answers ({scheme}) and accepts this client.", "bold green")
        )
        self.refresh_nav()
        if self.next_after_check:
            self.next_after_check = False
            self.go_next()

    def worker_failed(self, worker: Worker[object], error: BaseException | None) -> None:
        self.checking = False
        wanted_next, self.next_after_check = self.next_after_check, False
        status = self.query_one("#registry-status", Static)
        if isinstance(error, AuthError):
            # Next asked for the check: once the login is accepted, carry on without a 2nd Next.
            self.next_after_login = wanted_next
            status.update(Text("The registry wants a login.", "yellow"))
            host, _ = split_prefix(self.prefix())
            tried = self.state.credentials
            reason = (
                f"It did not accept the login for {tried.username}: {error.cause}" if tried else ""
            )
            self.app.push_screen(
                CredentialsDialog(host, reason=reason, username=tried.username if tried else ""),
                self.got_credentials,
            )
            return
        if isinstance(error, TLSError):
            status.update(Text(f"✗ {error.what}: {error.cause}", "bold red"))
            fix = self.query_one("#tls-fix", Static)
            engine = (
                " The Docker engine that pushes needs the same CA in "
                "/etc/docker/certs.d/<host:port>/ca.crt."
                if self.state.via_docker
                else ""
            )
            fix.update(
                Text(
                    error.next_step + ".\nOr give the CA certificate in the field above and check "
                    "again." + engine
                )
            )
            fix.display = True
            return
        status.update(Text("✗ Not reachable; see above.", "red"))
        super().worker_failed(worker, error)

    def got_credentials(self, credentials: Credentials | None) -> None:
        if credentials is None:
            self.next_after_login = False
            self.query_one("#registry-status", Static).update(
                Text("The registry needs a login: check again (ctrl+t) to enter one.", "yellow")
            )
            return
        self.state.credentials = credentials
        self.show_login()
        self.next_after_check, self.next_after_login = self.next_after_login, False
        self.action_check()

    def show_login(self) -> None:
        creds = self.state.credentials
        self.query_one("#login-status", Static).update(
            Text(f"Signed in as {creds.username} (this session only)", "dim") if creds else ""
        )

    # --- next ---------------------------------------------------------------------------
    def can_go_next(self) -> bool:
        return self.inputs_valid() and not self.checking

    def go_next(self) -> None:
        try:
            split_prefix(self.prefix())
        except UsageError as exc:
            self.show_error(exc.sentence())
            return
        self.state.registry = self.prefix()
        self.state.ca_file = self.ca_file()
        if self.state.path == PATH_IMPORT and self.checked_for != self.key():
            self.next_after_check = True  # the push needs a registry that answers
            self.action_check()
            return
        self.wizard.advance(self)
