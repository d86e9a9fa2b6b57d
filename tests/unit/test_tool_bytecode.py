"""The carried tool's bytecode renamed in the marshalled bytes (toolpack/bytecode.py `patched`):
every code object then names the file as the archive does, the code is the code the installer
compiled, and where the name cannot be found exactly once the slow rename is left to do it."""

from __future__ import annotations

import importlib.util
import marshal
import py_compile
from collections.abc import Iterator
from pathlib import Path
from types import CodeType
from typing import Any

import pytest

from airgap_tui.toolpack.bytecode import _Compiler
from airgap_tui.toolpack.members import collect_members
from airgap_tui.toolpack.toolpack import _compiles


@pytest.fixture(scope="module")
def script() -> dict[str, Any]:
    """The compiler process's functions, loaded here without running its main loop."""
    namespace: dict[str, Any] = {"__name__": "airgap_tui_compiler"}
    exec(_Compiler.SCRIPT, namespace)
    return namespace


def _codes(code: CodeType) -> Iterator[CodeType]:
    yield code
    for const in code.co_consts:
        if isinstance(const, CodeType):
            yield from _codes(const)


def test_installed_bytecode_renamed_in_place_is_the_installed_code_under_the_archive_name(
    script: dict[str, Any], tmp_path: Path
) -> None:
    """Real sources of the tool, installed into a site directory here and compiled as pip
    compiles them (py_compile, timestamps, the installed path as the file name)."""
    sources = [m for m in collect_members() if _compiles(m)][::20]
    assert len(sources) >= 30
    for member in sources:
        assert member.path is not None
        installed = tmp_path / "site" / member.arcname
        installed.parent.mkdir(parents=True, exist_ok=True)
        installed.write_bytes(member.path.read_bytes())
        py_compile.compile(str(installed), doraise=True)
        path, source = str(installed), installed.read_bytes()
        data = script["installed"](path, source, importlib.util.source_hash(source))
        assert data is not None, member.arcname  # fresh for its source
        patched = script["patched"](bytes(data), path, member.arcname)
        assert patched is not None, member.arcname
        code = marshal.loads(patched)
        assert {c.co_filename for c in _codes(code)} == {member.arcname}
        slow = script["renamed"](marshal.loads(data), member.arcname)
        assert code == slow  # the same code (equality leaves co_filename out: checked above)


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/site/" + "d" * 300 + "/a.py", "a.py"),  # a path too long for marshal's short form
        ("/site/é.py", "ü/a.py"),  # not ASCII
        ("/site/a.py", "p/" + "q" * 300 + ".py"),  # an archive name too long for it
    ],
)
def test_long_and_non_ascii_names_are_renamed(script: dict[str, Any], path: str, name: str) -> None:
    data = marshal.dumps(compile("def f():\n    return 1\n", path, "exec"))
    code = marshal.loads(script["patched"](data, path, name))
    assert [c.co_filename for c in _codes(code)] == [name, name]


def test_a_path_found_twice_is_left_to_the_slow_rename(
    script: dict[str, Any], tmp_path: Path
) -> None:
    source = tmp_path / "a.py"
    source.write_text(f"WHERE = {str(source)!r}\n")  # a constant spelled as the file's path
    py_compile.compile(str(source), invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)
    text = source.read_bytes()
    data = script["installed"](str(source), text, importlib.util.source_hash(text))
    assert data is not None and script["patched"](bytes(data), str(source), "a.py") is None
    code = marshal.loads(script["pyc"]("a.py", str(source))[16:])
    assert code.co_filename == "a.py" and code.co_consts[0] == str(source)  # kept as written
