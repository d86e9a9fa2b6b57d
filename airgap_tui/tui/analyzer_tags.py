"""Tags for Choose analyzers that come from upstream: the tags one image has (`t`), and for a
GitLab major the catalog has no tags for, the newest major tag of each image, proposed as a guess
the operator takes with `g` (never silently). Mixed into the screen; lives beside the screens,
as no step imports another.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.widgets import Input, OptionList
from textual.widgets.option_list import Option
from textual.worker import Worker

from airgap_tui.catalog.guess import guess_tags
from airgap_tui.models import ImageSpec
from airgap_tui.tui.messages import GuessesFetched, TagsFetched
from airgap_tui.tui.request_open import OpensRequests
from airgap_tui.tui.selection import tag_sort_key

if TYPE_CHECKING:
    from airgap_tui.catalog.catalog import Analyzer, Catalog
    from airgap_tui.tui.selection import AnalyzerSelection
    from airgap_tui.tui.widgets.analyzer_list import AnalyzerList


class PicksTags(OpensRequests):
    catalog: Catalog | None
    model: AnalyzerSelection
    upstream: dict[str, list[str]]
    current: str | None

    # What the screen provides.
    @property
    def major(self) -> int:
        return self.state.gitlab_major

    @property
    def listing(self) -> AnalyzerList:
        raise NotImplementedError

    def analyzer(self, name: str | None) -> Analyzer | None:
        raise NotImplementedError

    def rebuild(self, chosen: set[str]) -> None:
        raise NotImplementedError

    def show_detail(self) -> None:
        raise NotImplementedError

    def chosen_names(self) -> list[str]:
        raise NotImplementedError

    # --- upstream tags ------------------------------------------------------------------
    def action_fetch_tags(self) -> None:
        name = self.current
        analyzer = self.analyzer(name) if name else None
        if analyzer is None or self.catalog is None:
            self.notify("Highlight a catalog analyzer first.", severity="warning")
            return
        upstream = self.query_one("#upstream-tags", OptionList)
        upstream.clear_options()
        upstream.add_option(Option(Text("Asking the registry…", "dim"), disabled=True))
        spec = self.catalog.resolve(f"{analyzer.name}:latest", self.major, self.state.source_prefix)
        self.fetch_tags(analyzer.name, spec)

    @work(thread=True, exclusive=True, group="tags", exit_on_error=False)
    def fetch_tags(self, name: str, spec: ImageSpec) -> None:
        self.services.domain.forget_unreachable()  # asked again: try again
        client = self.services.domain.registry_client(spec.source.api_host)
        try:
            tags = client.tags(spec.source.repository)
        finally:
            client.close()
        self.post_message(TagsFetched(name, sorted(tags, key=tag_sort_key, reverse=True)))

    def worker_failed(self, worker: Worker[object], error: BaseException | None) -> None:
        if worker.group == "tags":
            upstream = self.query_one("#upstream-tags", OptionList)
            upstream.clear_options()
            upstream.add_option(Option(Text("No answer (see above)", "red"), disabled=True))
        super().worker_failed(worker, error)

    # --- guesses for a major the catalog has no tags for ----------------------------------
    def ask_for_guesses(self) -> None:
        if not self.query_one("#source", Input).is_valid:
            return
        wanted = self.model.to_guess()
        if wanted:
            self.fetch_guesses(self.major, self.state.source_prefix, wanted)

    @work(thread=True, exclusive=True, group="guesses", exit_on_error=False)
    def fetch_guesses(self, major: int, source: str, wanted: list[tuple[str, str]]) -> None:
        host, _, base = source.partition("/")
        client = self.services.domain.registry_client(host)
        try:
            found = guess_tags(wanted, major, lambda p: client.tags(f"{base}/{p}" if base else p))
        finally:
            client.close()
        self.post_message(
            GuessesFetched(major, source, {g.name: g.tag for g in found if g.tag is not None})
        )

    def on_guesses_fetched(self, message: GuessesFetched) -> None:
        if (message.major, message.source) == (self.major, self.state.source_prefix):
            self.model.guesses = message.guesses
            self.rebuild(set(self.listing.chosen))

    def action_take_guesses(self) -> None:
        taken = self.model.take_guesses(self.chosen_names())
        if not taken:
            self.notify("No guessed tag to take for the analyzers ticked.", severity="warning")
            return
        self.rebuild(set(self.listing.chosen))
        self.show_detail()
        self.notify(
            f"Took the newest major tag upstream for {', '.join(taken)}: a guess for GitLab "
            f"{self.major}. The offline instance's templates (request) name its own.",
            timeout=6,
        )

    def on_tags_fetched(self, message: TagsFetched) -> None:
        self.upstream[message.analyzer] = message.tags
        if message.analyzer == self.current:
            self.show_upstream(message.analyzer)

    def show_upstream(self, name: str) -> None:
        upstream = self.query_one("#upstream-tags", OptionList)
        upstream.clear_options()
        tags = self.upstream.get(name, [])
        if not tags:
            upstream.add_option(Option(Text("No tags upstream", "dim"), disabled=True))
        upstream.add_options([Option(tag, id=tag) for tag in tags])

    @on(OptionList.OptionSelected, "#upstream-tags")
    def upstream_picked(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id:
            self.query_one("#tag", Input).value = event.option.id
