"""Choose analyzers: GitLab major, the source registry, grouped checkboxes, one-key presets
that add to the selection, tags, custom images."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import (
    Button,
    Input,
    Label,
    OptionList,
    Select,
    SelectionList,
    Static,
    Switch,
)

from airgap_tui.catalog.snippet_model import FIPS_INSTANCE_WARNING
from airgap_tui.errors import AirgapError
from airgap_tui.models import ImageSpec
from airgap_tui.tui.analyzer_tags import PicksTags
from airgap_tui.tui.messages import ProfileLoaded
from airgap_tui.tui.profiles import Profile, load_profile
from airgap_tui.tui.screens.dialogs import ProfilePicker
from airgap_tui.tui.selection import AnalyzerSelection
from airgap_tui.tui.validators import CustomImage, ImageTag, SourcePrefix
from airgap_tui.tui.widgets.analyzer_list import (
    CUSTOM,
    AnalyzerList,
    analyzer_detail,
    analyzer_prompt,
    selection_summary,
)

if TYPE_CHECKING:
    from airgap_tui.catalog.catalog import Analyzer, Catalog

PRESET_KEYS = "1234567890"


class AnalyzersScreen(PicksTags):  # `o`: the offline GitLab's request picks the images
    KEY = "analyzers"
    TITLE = "Choose analyzers"
    BINDINGS: ClassVar[list[BindingType]] = [
        *(
            Binding(key, f"preset({index})", f"Preset {key}", show=False)
            for index, key in enumerate(PRESET_KEYS)
        ),
        Binding("x", "clear", "Clear"),
        Binding("t", "fetch_tags", "Upstream tags"),
        Binding("p", "load_profile", "Load profile"),
        Binding("g", "take_guesses", "Take guesses", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.catalog: Catalog | None = None
        self.catalog_error = ""
        try:
            self.catalog = self.services.get_catalog()
        except AirgapError as exc:
            self.catalog_error = exc.sentence()
        self.model = AnalyzerSelection(self.catalog, self.state)
        self.customs: list[str] = list(self.state.custom_images)
        self.upstream: dict[str, list[str]] = {}
        self.current: str | None = None

    # --- layout -------------------------------------------------------------------------
    def compose_body(self) -> ComposeResult:
        majors = self.model.majors()
        with Horizontal(id="choose-top"):
            yield Select(
                [(f"GitLab {m}", m) for m in majors],
                value=self.state.gitlab_major,
                allow_blank=False,
                id="major",
            )
            yield Switch(
                value=self.state.fips,
                id="fips",
                tooltip=f"Take the -fips variants. {FIPS_INSTANCE_WARNING}",
            )
            yield Label("FIPS instance", id="fips-label")
            yield Label("Source", id="source-label")
            yield Input(
                value=self.state.source_prefix,
                id="source",
                placeholder="registry host[:port]/path the analyzers are pulled from",
                validators=[SourcePrefix()],
            )
        yield Static("", id="presets")
        with Horizontal(id="choose-main"):
            yield AnalyzerList(id="analyzers")
            with Vertical(id="detail"):
                yield Static("", id="detail-info")
                yield Label("Tag to bundle", classes="field")
                yield Input(id="tag", placeholder="tag", validators=[ImageTag()])
                yield Button("Upstream tags (t)", id="fetch-tags")
                yield OptionList(id="upstream-tags")
        with Horizontal(id="custom-row"):
            yield Input(
                id="custom",
                placeholder="Custom image, e.g. registry.example.com/team/scanner:1.2",
                validators=[CustomImage()],
                valid_empty=True,
            )
            yield Button("Add image", id="add-custom")
        yield Static("", id="summary")

    def on_mount(self) -> None:
        source = self.query_one("#source", Input)
        source.validate(source.value)
        self.rebuild(set(self.state.analyzers) | {CUSTOM + c for c in self.state.custom_images})
        if self.catalog_error:
            self.show_error(self.catalog_error)
        self.query_one("#analyzers", AnalyzerList).focus()
        super().on_mount()

    # --- the list -----------------------------------------------------------------------
    def analyzer(self, name: str | None) -> Analyzer | None:
        return self.model.analyzer(name)

    def rebuild(self, chosen: set[str]) -> None:
        listing = self.query_one("#analyzers", AnalyzerList)
        groups = [
            (
                label,
                [
                    (
                        analyzer_prompt(r.analyzer, r.tag, self.model.guess(r.analyzer.name)),
                        r.analyzer.name,
                        r.chosen,
                        r.analyzer.removed,
                    )
                    for r in rows
                ],
            )
            for label, rows in self.model.groups(chosen)
        ]
        custom_rows = [(Text(c), CUSTOM + c, CUSTOM + c in chosen, False) for c in self.customs]
        groups.append(("Custom images", custom_rows))
        highlighted = listing.highlighted
        listing.set_groups(groups)
        if listing.option_count:
            first = next((i for i, o in enumerate(listing.options) if not o.disabled), None)
            target = highlighted if highlighted is not None else first
            if target is not None and target < listing.option_count:
                if listing.options[target].disabled:
                    target = first
                listing.highlighted = target
        keys = " ".join(
            f"[b]{PRESET_KEYS[i]}[/b]:{name}" for i, (name, _) in enumerate(self.model.presets())
        )
        self.query_one("#presets", Static).update(f"Presets add {keys} · [b]x[/b]:clear all")
        self.update_summary()
        self.ask_for_guesses()

    @property
    def listing(self) -> AnalyzerList:
        return self.query_one("#analyzers", AnalyzerList)

    def chosen_names(self) -> list[str]:
        return [v for v in self.listing.chosen if not v.startswith(CUSTOM)]

    def chosen_customs(self) -> list[str]:
        return [v[len(CUSTOM) :] for v in self.listing.chosen if v.startswith(CUSTOM)]

    def missing_tags(self) -> list[str]:
        return self.model.missing_tags(self.chosen_names())

    def update_summary(self) -> None:
        """What to fix first (it must not scroll away on a short screen), then the selection."""
        proxy = self.services.domain.source_proxy(self.source_host())
        lines = selection_summary(self.model, self.chosen_names(), self.chosen_customs(), proxy)
        self.query_one("#summary", Static).update(Text("\n").join(lines))
        self.refresh_nav()

    # --- detail panel -------------------------------------------------------------------
    def on_selection_list_selection_highlighted(
        self, event: SelectionList.SelectionHighlighted[str]
    ) -> None:
        value = self.listing.value_at(event.selection_index)
        self.current = value
        self.show_detail()

    def on_selection_list_selected_changed(self, event: SelectionList.SelectedChanged[str]) -> None:
        self.update_summary()

    def show_detail(self) -> None:
        info = self.query_one("#detail-info", Static)
        tag_input = self.query_one("#tag", Input)
        upstream = self.query_one("#upstream-tags", OptionList)
        upstream.clear_options()
        name = self.current
        analyzer = self.analyzer(name) if name and not name.startswith(CUSTOM) else None
        if analyzer is None:
            info.update(Text(name[len(CUSTOM) :], "bold") if name else "")
            tag_input.disabled = True
            with tag_input.prevent(Input.Changed):
                tag_input.value = ""
            return
        tag = self.model.tag(analyzer.name)
        text = analyzer_detail(analyzer, tag, self.major, self.state.source_prefix)
        info.update(text)
        tag_input.disabled = analyzer.removed
        with tag_input.prevent(Input.Changed):
            tag_input.value = tag or ""
        if analyzer.name in self.upstream:
            self.show_upstream(analyzer.name)

    @on(Input.Changed, "#tag")
    def tag_changed(self, event: Input.Changed) -> None:
        name = self.current
        analyzer = self.analyzer(name) if name else None
        if analyzer is None or event.validation_result is None:
            return
        self.model.set_tag(analyzer.name, event.value, valid=event.validation_result.is_valid)
        self.listing.set_prompt(
            analyzer.name,
            analyzer_prompt(
                analyzer, self.model.tag(analyzer.name), self.model.guess(analyzer.name)
            ),
        )
        self.update_summary()

    # --- source -------------------------------------------------------------------------
    def source_host(self) -> str:
        return self.state.source_prefix.split("/", 1)[0]

    @on(Input.Changed, "#source")
    def source_changed(self, event: Input.Changed) -> None:
        event.stop()
        if event.validation_result is not None and not event.validation_result.is_valid:
            self.show_error(" ".join(event.validation_result.failure_descriptions))
            self.refresh_nav()
            return
        self.clear_error()
        prefix = event.value.strip().rstrip("/")
        if prefix != self.state.source_prefix:
            self.state.source_prefix = prefix
            self.upstream.clear()  # tags came from the old source
            self.model.guesses = {}
            self.show_detail()
            self.ask_for_guesses()
        self.update_summary()

    # --- presets, custom images, profiles -----------------------------------------------
    def action_preset(self, index: int) -> None:
        chosen = set(self.listing.chosen)
        added = self.model.add_preset(index, chosen)
        if added != chosen:
            self.rebuild(added)

    def action_clear(self) -> None:
        self.rebuild(set())

    @on(Input.Submitted, "#custom")
    def custom_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.add_custom()

    @on(Button.Pressed, "#add-custom")
    def add_custom_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.add_custom()

    @on(Button.Pressed, "#fetch-tags")
    def fetch_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_fetch_tags()

    def add_custom(self) -> None:
        field = self.query_one("#custom", Input)
        ref = field.value.strip()
        result = field.validate(ref)
        if not ref:
            return
        if result is not None and not result.is_valid:
            self.show_error(" ".join(result.failure_descriptions))
            return
        if self.catalog is not None:
            try:
                self.catalog.resolve(ref, self.major, self.state.source_prefix)
            except AirgapError as exc:
                self.show_error(exc.sentence())
                return
        self.clear_error()
        if ref not in self.customs:
            self.customs.append(ref)
        self.rebuild(set(self.listing.chosen) | {CUSTOM + ref})
        field.value = ""

    def action_load_profile(self) -> None:
        def picked(name: str | None) -> None:
            if name:
                self.read_profile(name)

        self.app.push_screen(
            ProfilePicker(
                self.services.profiles_dir, self.services.show(self.services.profiles_dir)
            ),
            picked,
        )

    @work(thread=True, exclusive=True, group="profile", exit_on_error=False)
    def read_profile(self, name: str) -> None:
        self.post_message(ProfileLoaded(load_profile(self.services.profiles_dir, name)))

    def on_profile_loaded(self, message: ProfileLoaded) -> None:
        self.apply_profile(message.profile)

    def apply_profile(self, profile: Profile) -> None:
        self.clear_error()
        if profile.source_prefix:
            self.query_one("#source", Input).value = profile.source_prefix  # validated there
        choice = self.model.apply_profile(profile)
        with self.prevent(Select.Changed):
            self.query_one("#major", Select).value = self.state.gitlab_major
        with self.prevent(Switch.Changed):
            self.query_one("#fips", Switch).value = self.state.fips
        for ref in choice.customs:
            if ref not in self.customs:
                self.customs.append(ref)
        self.rebuild(choice.chosen | {CUSTOM + c for c in choice.customs})
        self.notify(f"Loaded profile {profile.name}", timeout=3)
        if choice.unknown:
            self.show_error(
                f"Profile {profile.name}: {', '.join(choice.unknown)} are not in the catalog for "
                f"GitLab {self.major}, so they were left out."
            )

    @on(Switch.Changed, "#fips")
    def fips_changed(self, event: Switch.Changed) -> None:
        """Pick the -fips variants (or drop them); tags typed by hand stay as typed."""
        self.state.fips = event.value
        self.rebuild(set(self.listing.chosen))
        self.show_detail()

    @on(Select.Changed, "#major")
    def major_changed(self, event: Select.Changed) -> None:
        if not isinstance(event.value, int) or not self.model.change_major(event.value):
            return
        self.upstream.clear()
        self.rebuild(set(self.listing.chosen))

    # --- next ---------------------------------------------------------------------------
    def can_go_next(self) -> bool:
        if self.catalog is None or not self.query("#analyzers"):
            return False
        source_ok = self.query_one("#source", Input).is_valid
        return bool(self.listing.chosen) and not self.missing_tags() and source_ok

    def selection(self) -> list[str]:
        """What is ticked, as the CLI would be given it: `name:tag`, then custom references."""
        return self.model.selection(self.chosen_names(), self.chosen_customs())

    def build_specs(self) -> list[ImageSpec]:
        """The images to pull, by the same rule as `airgap-tui export NAME:TAG …` (plan.py)."""
        return self.services.domain.resolve_selection(
            self.selection(), self.major, self.state.source_prefix
        )

    def go_next(self) -> None:
        try:
            specs = self.build_specs()
        except AirgapError as exc:
            self.show_error(exc.sentence())
            return
        self.state.analyzers = self.chosen_names()
        self.state.custom_images = self.chosen_customs()
        self.state.specs = specs
        self.state.estimate = None
        self.wizard.advance(self)
