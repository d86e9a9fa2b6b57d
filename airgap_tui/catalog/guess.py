"""A proposal for a GitLab major the built-in catalog has no tag for (19 today, 20 tomorrow).

Without the instance's templates the only evidence is what exists upstream: the newest major tag
(`7`, not `7.1.2` or `7-fips`) that `airgap-tui tags` lists. That is a guess, and every answer
says so; the instance's own templates (`request --templates`) are the way to be sure.
Pure logic: the caller lists the tags (the registry client lives outside the catalog).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from airgap_tui.errors import AirgapError

_MAJOR_TAG = re.compile(r"(0|[1-9][0-9]{0,5})")
GUESS_MARK = "guess"


@dataclass(frozen=True)
class TagGuess:
    """The proposed tag of one analyzer, or why there is none."""

    name: str
    tag: str | None
    why: str  # always says it is a guess, or why nothing could be proposed

    @property
    def label(self) -> str:
        return f"{self.tag} ({GUESS_MARK})" if self.tag else "?"


def newest_major_tag(tags: Iterable[str]) -> str | None:
    """The highest all-digits tag: the moving major tag GitLab's templates pull."""
    majors = [int(t) for t in tags if _MAJOR_TAG.fullmatch(t)]
    return str(max(majors)) if majors else None


def guess_tags(
    names_and_paths: Sequence[tuple[str, str]],
    major: int,
    list_tags: Callable[[str], list[str]],
) -> list[TagGuess]:
    """For each (analyzer, path), the newest major tag `list_tags(path)` returns, as a guess.

    A failing listing (unreachable registry, login) is that analyzer's `why`, not an error:
    the rest of the table still helps the operator.
    """
    out: list[TagGuess] = []
    for name, path in names_and_paths:
        try:
            tags = list_tags(path)
        except AirgapError as exc:
            out.append(TagGuess(name, None, f"no guess: {exc.sentence()}"))
            continue
        tag = newest_major_tag(tags)
        if tag is None:
            out.append(TagGuess(name, None, "no guess: upstream has no major tag for it"))
        else:
            out.append(
                TagGuess(
                    name,
                    tag,
                    f"a guess for GitLab {major}: the newest major tag upstream, not read from "
                    "a GitLab template; `airgap-tui request --templates DIR` reads the instance's "
                    "own",
                )
            )
    return out
