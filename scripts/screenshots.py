"""Drive the wizard through each main screen and save an SVG of each into screenshots/.

    python scripts/screenshots.py            # from the repository root; writes screenshots/*.svg

The app is the real AirgapApp, driven by key presses as an operator would; its domain calls
answer with the fixed data of tests/tui/fakes.py (the same data the snapshot tests use), so the
pictures are reproducible and show no host names, temporary paths or clocks.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


from tests.tui.conftest import SMALL, fixed_app  # noqa: E402
from tests.tui.fakes import BUNDLE, USB, FixedDomain  # noqa: E402
from tests.tui.helpers import still, walk  # noqa: E402
from tests.tui.test_request_snapshots import RequestDomain  # noqa: E402

SIZE = (120, 40)
REGISTRY = "registry.example.com:5000/security-products"
DEST = f"{USB}/airgap-bundle"
TO_MISSING = (
    "m",
    ("#path", f"{USB}/templates"),
    "ctrl+n",
    ("#registry", "registry.local:5000/analyzers"),
)

# (file name, actions from the Start screen, domain options, worker groups left running)
SHOTS: list[tuple[str, tuple[Any, ...], dict[str, Any], tuple[str, ...]]] = [
    ("01-start", (), {}, ()),
    ("02-choose-analyzers", ("e", "1", "t"), {}, ()),
    ("03-estimate", ("e", "1", "ctrl+n"), {}, ()),
    ("04-destination", ("e", "1", "ctrl+n", "ctrl+n", ("#path", DEST)), {}, ()),
    (
        "05-write",
        ("e", "2", "ctrl+n", "ctrl+n", ("#path", DEST), "ctrl+n"),
        {"hold": True},
        ("export",),
    ),
    ("06-done", ("e", "1", "ctrl+n", "ctrl+n", ("#path", DEST), "ctrl+n"), {}, ()),
    ("07-import-choose-bundle", ("i", ("#path", BUNDLE)), {}, ()),
    ("08-verify", ("i", ("#path", BUNDLE), "ctrl+n"), {}, ()),
    (
        "09-target-registry",
        ("i", ("#path", BUNDLE), "ctrl+n", "ctrl+n", ("#registry", REGISTRY), "ctrl+t"),
        {},
        (),
    ),
    (
        "10-load-tag-push",
        ("i", ("#path", BUNDLE), "ctrl+n", "ctrl+n", ("#registry", REGISTRY), "ctrl+n"),
        {},
        (),
    ),
    (
        "11-snippet",
        ("i", ("#path", BUNDLE), "ctrl+n", "ctrl+n", ("#registry", REGISTRY), "ctrl+n", "ctrl+n"),
        {},
        (),
    ),
    # The offline host's request: GitLab's real 17.x templates (tests/fixtures/gitlab-templates).
    ("14-request-templates", ("m", ("#path", f"{USB}/templates")), {"request": True}, ()),
    ("15-request-what-is-missing", (*TO_MISSING, "ctrl+t"), {"request": True}, ()),
    (
        "16-request-written",
        (*TO_MISSING, "ctrl+t", "ctrl+n", ("#path", USB), "ctrl+n"),
        {"request": True},
        (),
    ),
    (
        "17-prepare-from-request",
        ("e", "o", ("#path", f"{USB}/airgap-request.json")),
        {"request": True},
        (),
    ),
]


async def shoot(
    name: str,
    actions: tuple[Any, ...],
    options: dict[str, Any],
    skip: tuple[str, ...],
    out: Path,
    size: tuple[int, int] = SIZE,
) -> Path:
    with tempfile.TemporaryDirectory(prefix="airgap-shots-") as tmp:
        home = Path(tmp) / "operator"
        for folder in ("bundles", "Documents", "scans"):
            (home / folder).mkdir(parents=True)
        options = dict(options)
        domain = (RequestDomain if options.pop("request", False) else FixedDomain)(**options)
        app = fixed_app(home, domain=domain)
        async with app.run_test(size=size) as pilot:
            await walk(pilot, *actions, skip=skip)
            still(pilot)
            await pilot.pause()
            path = Path(app.save_screenshot(f"{name}.svg", str(out)))
        domain.finish()  # a held export's thread ends before the next shot
    return path


# The same wizard in an 80x24 terminal (jump hosts, consoles).
SMALL_SHOTS: list[tuple[str, tuple[Any, ...], dict[str, Any], tuple[str, ...]]] = [
    ("12-choose-analyzers-80x24", ("e", "1"), {}, ()),
    ("13-write-80x24", SHOTS[4][1], {"hold": True}, ("export",)),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=ROOT / "screenshots")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, actions, options, skip in SHOTS:
        path = asyncio.run(shoot(name, actions, options, skip, args.out))
        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    for name, actions, options, skip in SMALL_SHOTS:
        path = asyncio.run(shoot(name, actions, options, skip, args.out, SMALL))
        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
