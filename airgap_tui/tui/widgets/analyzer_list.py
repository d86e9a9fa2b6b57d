"""Analyzers with checkboxes, grouped under category headings, in one keyboard-friendly list.

SelectionList has no headings, so headings are disabled options drawn without a checkbox.
Values are catalog names, or "custom:<reference>" for custom images.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.strip import Strip
from textual.widgets import OptionList, SelectionList
from textual.widgets.option_list import OptionDoesNotExist
from textual.widgets.selection_list import Selection

from airgap_tui.catalog.catalog import CATEGORY_LABELS
from airgap_tui.tui import formatting

if TYPE_CHECKING:
    from airgap_tui.catalog.catalog import Analyzer
    from airgap_tui.tui.selection import AnalyzerSelection

HEADING = "@"
CUSTOM = "custom:"


def analyzer_prompt(analyzer: Analyzer, tag: str | None, guess: str | None = None) -> Text:
    text = Text()
    # The name and tag first, in fixed columns: they must stay visible on an 80-column screen.
    text.append(f"{analyzer.name:<24}", style="dim" if analyzer.removed else "")
    text.append(f" {tag or '—':<9}", style="bold" if tag else "dim")
    if analyzer.removed:
        text.append(" removed", style="red")
        if analyzer.replaced_by:
            text.append(f" → {analyzer.replaced_by}", style="dim")
    elif analyzer.deprecated:
        text.append(" deprecated", style="yellow")
    elif analyzer.tag is None and tag is None and guess is not None:
        text.append(f" guess {guess}", style="yellow")
    elif analyzer.tag is None:
        text.append(" needs a tag", style="yellow")
    if analyzer.default and not analyzer.removed:
        text.append(" default", style="green")
    return text


def analyzer_detail(analyzer: Analyzer, tag: str | None, major: int, source_prefix: str) -> Text:
    """The detail panel: where the image comes from, its state, and what GitLab asks for."""
    text = Text()
    text.append(analyzer.name, "bold")
    text.append(f"  {CATEGORY_LABELS.get(analyzer.category, analyzer.category)}\n")
    text.append(f"{source_prefix}/{analyzer.path}:{tag or '<tag>'}\n", "dim")
    if analyzer.removed:
        text.append("Removed in this GitLab version", "red")
    elif analyzer.deprecated:
        text.append("Deprecated", "yellow")
    else:
        text.append("Current")
    text.append(f" · GitLab {major} asks for tag {analyzer.tag or '(none known)'}")
    if analyzer.fips_tag:
        text.append(f" ({analyzer.fips_tag} on FIPS)")
    text.append(" · runs by default" if analyzer.default else "")
    if analyzer.note:
        text.append(f"\n{analyzer.note}", "italic")
    return text


def selection_summary(
    model: AnalyzerSelection, names: list[str], customs: list[str], proxy: tuple[str, str] | None
) -> list[Text]:
    """What to fix first (it must not scroll away on a short screen), then the selection."""
    major = model.major
    lines: list[Text] = []
    if model.catalog and not model.catalog.is_complete(major):
        lines.append(Text(f"GitLab {major}: {model.catalog.major_note(major)}", "yellow"))
    missing = model.missing_tags(names)
    if missing:
        lines.append(
            Text(
                f"Type a tag for {', '.join(missing)} (no known tag for GitLab {major}).", "yellow"
            )
        )
        guessed = [f"{n}:{model.guesses[n]}" for n in missing if n in model.guesses]
        if guessed:
            lines.append(
                Text(
                    f"Press g to take the newest major tags upstream ({', '.join(guessed)}): a "
                    f"guess, not read from a GitLab {major} template.",
                    "yellow",
                )
            )
    if proxy is not None:
        name, address = proxy
        lines.append(Text(f"Pulling through the proxy {address} ({name}).", "dim"))
    count = len(names) + len(customs)
    if not count:
        lines.append(
            Text("Nothing selected yet: tick analyzers with space, or press a preset key.")
        )
    else:
        selected = Text(f"{formatting.count(count, 'image')} selected: ", "bold")
        selected.append(", ".join(model.labels(names, customs)), "not bold")
        lines.append(selected)
    return lines


class AnalyzerList(SelectionList[str]):
    DEFAULT_CSS = """
    AnalyzerList { height: 1fr; }
    """

    def render_line(self, y: int) -> Strip:
        _, scroll_y = self.scroll_offset
        try:
            option = self.get_option_at_index(scroll_y + y)
        except OptionDoesNotExist:
            return super().render_line(y)
        if option.value.startswith(HEADING):
            return OptionList.render_line(self, y)
        return super().render_line(y)

    def set_groups(
        self,
        groups: list[tuple[str, list[tuple[Text, str, bool, bool]]]],
    ) -> None:
        """groups: (heading, [(prompt, value, selected, disabled)]) in display order."""
        self.clear_options()
        options: list[Selection[str]] = []
        for heading, rows in groups:
            if not rows:
                continue
            options.append(
                Selection(Text(heading, style="bold underline"), HEADING + heading, disabled=True)
            )
            for prompt, value, selected, disabled in rows:
                options.append(Selection(prompt, value, selected, disabled=disabled))
        self.add_options(options)

    @property
    def chosen(self) -> list[str]:
        """Ticked values in list (catalog) order, not in the order they were ticked: the
        bundle's image order, and so its fingerprint, must not depend on clicking order."""
        ticked = set(self.selected)
        return [
            o.value
            for o in self.options
            if isinstance(o, Selection) and o.value in ticked and not o.value.startswith(HEADING)
        ]

    def value_at(self, index: int | None) -> str | None:
        if index is None:
            return None
        try:
            value = self.get_option_at_index(index).value
        except OptionDoesNotExist:
            return None
        return None if value.startswith(HEADING) else value

    def set_prompt(self, value: str, prompt: Text) -> None:
        for index, option in enumerate(self.options):
            if isinstance(option, Selection) and option.value == value:
                self.replace_option_prompt_at_index(index, prompt)
                return
