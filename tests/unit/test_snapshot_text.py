"""What no recorded screen may show: a traceback, or the name of an exception class.

A reviewer reads the SVG snapshots by eye and can miss a line; these are the mistakes that
need no judgement. An operator is told the thing, the cause and the next step, never
`KeyError` or `RegistryUnreachable`.
"""

from __future__ import annotations

import builtins
import html
import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import airgap_tui

ROOT = Path(__file__).resolve().parents[2]
SCREENS = sorted(
    [
        *(ROOT / "tests" / "tui" / "__snapshots__").rglob("*.svg"),
        *(ROOT / "screenshots").glob("*.svg"),
    ]
)
TRACEBACK = re.compile(r"Traceback \(most recent call last\)|File \"[^\"]+\", line \d+")
TEXT = re.compile(r"<text\b[^>]*>([^<]*)</text>")


def screen_text(svg: Path) -> str:
    """The characters on screen, one <text> run per line (Rich splits lines into runs)."""
    runs = TEXT.findall(svg.read_text(encoding="utf-8"))
    return "\n".join(html.unescape(run).replace("\xa0", " ") for run in runs)


def exception_names() -> set[str]:
    """Exception classes an unhandled error would print: builtins, the libraries the domain
    calls, and every one of airgap_tui's (all its modules imported). Only CamelCase
    compounds (KeyError, RegistryUnreachable): one-word names such as Cancelled are English."""
    import docker.errors
    import requests.exceptions
    import yaml

    for module in pkgutil.walk_packages(airgap_tui.__path__, "airgap_tui."):
        if not module.name.endswith("__main__"):  # that one runs the CLI
            importlib.import_module(module.name)
    roots = [v for v in vars(builtins).values() if isinstance(v, type)]
    roots += [v for m in (requests.exceptions, docker.errors) for v in vars(m).values()]
    roots.append(yaml.YAMLError)
    seen: set[type] = set()
    todo = [r for r in roots if isinstance(r, type) and issubclass(r, BaseException)]
    while todo:
        cls = todo.pop()
        if cls not in seen:
            seen.add(cls)
            todo.extend(cls.__subclasses__())
    return {c.__name__ for c in seen if len(re.findall(r"[A-Z]", c.__name__)) >= 2}


def test_the_snapshots_are_found() -> None:
    assert len(SCREENS) >= 50


def test_the_names_cover_ours_and_the_builtins() -> None:
    names = exception_names()
    assert {"KeyError", "OSError", "RegistryUnreachable", "NotFoundError"} <= names
    assert "Cancelled" not in names


@pytest.fixture(scope="module")
def forbidden() -> re.Pattern[str]:
    return re.compile(r"\b(" + "|".join(sorted(exception_names())) + r")\b")


@pytest.mark.parametrize("svg", SCREENS, ids=[p.name for p in SCREENS])
def test_no_screen_shows_a_traceback_or_an_exception_class(
    svg: Path, forbidden: re.Pattern[str]
) -> None:
    text = screen_text(svg)
    assert text.strip(), f"{svg.name}: no text found"
    assert not TRACEBACK.search(text), f"{svg.name} shows a traceback"
    found = sorted(set(forbidden.findall(text)))
    assert not found, f"{svg.name} shows {', '.join(found)}"


def test_the_check_sees_a_traceback_and_a_class_name(
    tmp_path: Path, forbidden: re.Pattern[str]
) -> None:
    svg = tmp_path / "bad.svg"
    svg.write_text(
        '<svg><text class="r1" x="0" y="20">Traceback&#160;(most&#160;recent&#160;call&#160;'
        'last)</text><text class="r2" x="0" y="44">airgap_tui.errors.RegistryUnreachable:'
        "&#160;no</text></svg>",
        encoding="utf-8",
    )
    text = screen_text(svg)
    assert TRACEBACK.search(text)
    assert forbidden.findall(text) == ["RegistryUnreachable"]
