"""What goes into airgap-tui.pyz and how it is written; the archive itself is run by a clean
python3 in tests/integration/test_zipapp.py."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from airgap_tui.cli.commands import main
from airgap_tui.errors import Cancelled, MediaError
from airgap_tui.events import CancelToken
from airgap_tui.toolpack.members import ToolError, _check_fallback, resolve_distributions
from airgap_tui.toolpack.pep508 import (
    MarkerError,
    default_environment,
    marker_holds,
    normalize_name,
    parse_requirement,
)
from airgap_tui.toolpack.toolpack import TOOL_FILE, main_source, write_tool

ENV = {
    **default_environment(),
    "python_version": "3.11",
    "python_full_version": "3.11.7",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_python_implementation": "CPython",
}


@pytest.mark.parametrize(
    ("text", "name", "extras", "marker"),
    [
        ("textual==8.2.8", "textual", (), None),
        ("markdown-it-py[linkify] (>=2.1.0)", "markdown-it-py", ("linkify",), None),
        (
            "typing_extensions>=4.4; python_version < '3.11'",
            "typing-extensions",
            (),
            "python_version < '3.11'",
        ),  # noqa: E501
        (
            "Foo.Bar[A_b, c] @ https://x/y;z.whl ; os_name == 'posix'",
            "foo-bar",
            ("a-b", "c"),
            "os_name == 'posix'",
        ),  # noqa: E501
    ],
)
def test_requirements_are_read_with_extras_and_markers(
    text: str, name: str, extras: tuple[str, ...], marker: str | None
) -> None:
    requirement = parse_requirement(text)
    assert (requirement.name, requirement.extras, requirement.marker) == (name, extras, marker)


@pytest.mark.parametrize(
    ("marker", "extra", "holds"),
    [
        ("python_version < '3.11'", "", False),
        ("python_version >= '3.10'", "", True),
        ('python_version > "3.9"', "", True),  # versions, not strings: "3.11" < "3.9" as text
        ("python_full_version ~= '3.11.0'", "", True),
        ("python_full_version ~= '3.12.0'", "", False),
        ("python_version == '3.*'", "", True),
        ("sys_platform == 'win32'", "", False),
        ("platform_system != 'Windows'", "", True),
        ("extra == 'test'", "", False),
        ("extra == 'test'", "test", True),
        ("extra == 'Use_Chardet.on-py3'", "use-chardet-on-py3", True),
        ("(platform_python_implementation == 'CPython') and extra == 'brotli'", "brotli", True),
        ("(platform_python_implementation != 'CPython') and extra == 'brotli'", "brotli", False),
        ('(python_version >= "3.10") and (extra == "syntax")', "", False),
        ("sys_platform == 'win32' or python_version >= '3'", "", True),
        ("'linux' in sys_platform", "", True),
        ("'win' not in sys_platform", "", True),
    ],
)
def test_markers_are_evaluated_for_this_interpreter(marker: str, extra: str, holds: bool) -> None:
    assert marker_holds(marker, ENV, extra) is holds


@pytest.mark.parametrize(
    "marker", ["python_version <", "nonsense == '1'", "(os_name == 'posix'", "os_name 'posix'"]
)
def test_an_unreadable_marker_is_an_error_not_a_guess(marker: str) -> None:
    with pytest.raises(MarkerError):
        marker_holds(marker, ENV)


def test_the_tool_carries_the_runtime_requirements_not_the_test_extras() -> None:
    names = {normalize_name(str(d.metadata["Name"])) for d in resolve_distributions()}
    runtime = {
        "airgap-tui", "textual", "rich", "markdown-it-py", "mdurl", "pygments", "platformdirs",
        "typing-extensions", "docker", "requests", "urllib3", "idna", "certifi",
        "charset-normalizer", "pyyaml", "humanize", "linkify-it-py", "mdit-py-plugins",
    }  # fmt: skip
    assert runtime <= names
    assert not names & {"pytest", "mypy", "ruff", "cryptography", "pywin32", "paramiko"}


def test_a_compiled_module_needs_a_pure_python_twin_or_an_optional_import() -> None:
    carried = {"pkg/fast.py", "pkg/__init__.py"}
    _check_fallback("pkg/fast.cpython-311-x86_64-linux-gnu.so", carried, "pkg")
    _check_fallback("yaml/_yaml.cpython-311-x86_64-linux-gnu.so", carried, "PyYAML")
    _check_fallback("81d243bd2c585b0f4821__mypyc.cpython-311-x86_64-linux-gnu.so", carried, "x")
    _check_fallback("pkg/libs/libz.so.1.2", carried, "pkg")  # a library, not a module
    with pytest.raises(ToolError, match=r"Module pkg\.speedups of pkg.*--no-binary"):
        _check_fallback("pkg/speedups.cpython-311-x86_64-linux-gnu.so", carried, "pkg")


def test_main_refuses_an_old_python_in_one_sentence() -> None:
    source = main_source()
    assert "if sys.version_info < (3, 11):" in source
    compile(source, "__main__.py", "exec")


def test_a_cancelled_write_leaves_nothing(tmp_path: Path) -> None:
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        write_tool(tmp_path, cancel=token)
    assert list(tmp_path.iterdir()) == []


def test_the_cli_names_a_destination_that_is_not_a_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    assert main(["tool", "--out", str(target)]) == MediaError.exit_code
    err = capsys.readouterr().err
    assert f"{target}: it is a file, not a directory" in err
    assert not (tmp_path / TOOL_FILE).exists()


def test_a_missing_destination_is_named_before_anything_is_built(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="does not exist or is not a directory"):
        write_tool(tmp_path / "missing")
    assert not (tmp_path / "missing").exists()


def test_a_compiler_that_dies_is_an_error_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "executable", "/bin/false")
    with pytest.raises(ToolError, match="the compiler process stopped early"):
        write_tool(tmp_path)
    assert list(tmp_path.iterdir()) == []
