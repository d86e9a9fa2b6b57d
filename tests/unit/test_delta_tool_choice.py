"""A delta leaves the carried tool out only when the offline host holds the same one (issue 22):
the matching rules, the identity a receipt records, and what the presence files say."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

import airgap_tui
from airgap_tui import __version__
from airgap_tui.bundle.manifest import (
    MANIFEST_NAME,
    Delta,
    DeltaTool,
    ExpectedBlob,
    write_manifest,
)
from airgap_tui.bundle.schema import read_manifest
from airgap_tui.cli.commands import main
from airgap_tui.delta.delta import load_presence, load_presences
from airgap_tui.delta.tool import HeldTool, decide, is_sha256, matching_tool, valid_version
from airgap_tui.errors import BundleError
from airgap_tui.toolpack.identity import ToolIdentity, running_archive, running_tool
from tests.unit.test_bundle_manifest import Fixture
from tests.unit.test_delta import inventory, receipt, refused, write

SHA_A, SHA_B = "a" * 64, "b" * 64
SRC = Path("receipt.json")


def _never() -> str:
    raise AssertionError("the archive's sha256 was asked for although the version decides")


def test_an_installed_airgap_tui_of_this_version_is_the_same_tool() -> None:
    held = [HeldTool("0.1.0", None, SRC)]
    assert decide(held, "0.1.0", _never) == held[0]
    assert decide(held, "0.2.0", _never) is None  # another version: carry ours


def test_an_archive_matches_by_its_sha256_only() -> None:
    held = [HeldTool("0.1.0", SHA_A, SRC)]
    asked: list[int] = []

    def ours(sha: str) -> Callable[[], str]:
        def get() -> str:
            asked.append(1)
            return sha

        return get

    assert decide(held, "0.1.0", ours(SHA_A)) == held[0]
    assert decide(held, "0.1.0", ours(SHA_B)) is None
    assert len(asked) == 2
    # An archive of another version is another tool: no build to find that out.
    assert decide(held, "0.2.0", _never) is None
    # Whatever the versions say, the same bytes are the same tool.
    assert matching_tool(held, "0.2.0", SHA_A) == held[0]


def test_nothing_recorded_carries_the_tool() -> None:
    assert decide([], __version__, _never) is None


def test_the_fields_a_receipt_may_hold() -> None:
    assert valid_version("0.1.0") and valid_version("1.2.3rc1+local")
    assert not valid_version("") and not valid_version("x" * 65) and not valid_version("1\n2")
    assert is_sha256(SHA_A) and not is_sha256(SHA_A.upper()) and not is_sha256(SHA_A[:-1])
    assert not is_sha256(None) and not is_sha256(123)


def test_the_running_tool_is_the_installed_version_here() -> None:
    assert running_archive() is None  # the test venv installs airgap-tui (editable)
    assert running_tool() == ToolIdentity(__version__, None)
    assert running_tool().to_dict() == {"version": __version__, "sha256": None}


def test_run_from_an_archive_the_identity_is_its_sha256(tmp_path: Path) -> None:
    """A python3 importing airgap_tui from a zip: the package's directory is inside the file."""
    archive = tmp_path / "airgap-tui.pyz"
    package = Path(airgap_tui.__file__).parent
    with zipfile.ZipFile(archive, "w") as zf:
        for name in ("__init__.py", "toolpack/__init__.py", "toolpack/identity.py"):
            zf.write(package / name, f"airgap_tui/{name}")
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "from airgap_tui.toolpack.identity import running_tool, running_archive;"
        "print(running_archive()); t = running_tool(); print(t.version, t.sha256)"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-c", code, str(archive)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    where, identity = done.stdout.splitlines()
    assert where == str(archive)
    assert identity == f"{__version__} {hashlib.sha256(archive.read_bytes()).hexdigest()}"


def test_held_tool_says_what_bundle_yaml_records() -> None:
    assert HeldTool("0.1.0", SHA_A, SRC).to_dict() == {"version": "0.1.0", "sha256": SHA_A}


# --- what receipts and inventories say, and what bundle.yaml records ---------------------------
def test_receipts_and_inventories_name_the_tool_that_wrote_them(tmp_path: Path) -> None:
    by_archive = write(tmp_path, receipt(tool_version="0.1.0", tool_sha256=SHA_A), "r.json")
    installed = write(tmp_path, inventory(tool_version="0.1.0", tool_sha256=None), "i.json")
    older = write(tmp_path, receipt(), "old.json")  # before these fields: no tool named
    assert load_presence(by_archive).tools == (HeldTool("0.1.0", SHA_A, by_archive),)
    assert load_presence(installed).tools == (HeldTool("0.1.0", None, installed),)
    assert load_presence(older).tools == ()
    both = load_presences([by_archive, older])
    assert both.tools == (HeldTool("0.1.0", SHA_A, by_archive),)


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"tool_version": 5}, "tool_version"),
        ({"tool_version": ""}, "is not a version"),
        ({"tool_version": "0.1\n"}, "is not a version"),
        ({"tool_version": "0.1.0", "tool_sha256": "ABC"}, "tool_sha256"),
        ({"tool_version": "0.1.0", "tool_sha256": 7}, "neither null nor a sha256"),
    ],
)
def test_an_edited_tool_field_refuses_the_file(
    tmp_path: Path, fields: dict[str, object], words: str
) -> None:
    message = refused(write(tmp_path, receipt(**fields)))
    assert words in message


def test_bundle_yaml_records_the_left_out_tool_and_reads_older_deltas(tmp_path: Path) -> None:
    fx = Fixture(tmp_path)
    expected = [ExpectedBlob("sha256:" + "c" * 64, 9)]
    for tool in (DeltaTool("0.1.0", SHA_A), DeltaTool("0.1.0", None)):
        manifest = fx.manifest(delta=Delta("b" * 64, "receipt", expected, tool))
        write_manifest(fx.directory, manifest)
        again = read_manifest(fx.directory)
        assert again == manifest and again.delta is not None and again.delta.tool == tool
    # A delta that carries its tool writes no `tool` key: its bytes are what they were.
    carried = fx.manifest(delta=Delta("b" * 64, "receipt", expected))
    write_manifest(fx.directory, carried)
    assert "tool" not in json.loads((fx.directory / MANIFEST_NAME).read_text())["delta"]
    assert read_manifest(fx.directory).delta == Delta("b" * 64, "receipt", expected)
    # Edited: refused, naming the field.
    write_manifest(fx.directory, fx.manifest(delta=Delta("b" * 64, "receipt", expected, tool)))
    text = (fx.directory / MANIFEST_NAME).read_text()
    (fx.directory / MANIFEST_NAME).write_text(text.replace('"sha256": null', '"sha256": 12'))
    with pytest.raises(BundleError, match="delta.tool.sha256"):
        read_manifest(fx.directory)


def test_no_tool_and_with_tool_together_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["export", "semgrep", "--to", str(tmp_path / "b"), "--no-tool", "--with-tool"])
    assert code == 2
    assert "--no-tool and --with-tool ask for opposite things" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()
