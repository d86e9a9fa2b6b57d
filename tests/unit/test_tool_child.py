"""The carried tool built in a low-priority child process (what an export's builder uses): the
same bytes as a build in the exporting process, failures in one sentence, and a cancel that
stops it."""

from __future__ import annotations

from pathlib import Path

import pytest

from airgap_tui.errors import Cancelled
from airgap_tui.events import CancelToken
from airgap_tui.toolpack.child import ChildBuild
from airgap_tui.toolpack.members import Member, ToolError, collect_members
from airgap_tui.toolpack.toolpack import build_tool


def test_the_child_builds_the_same_bytes_as_the_exporting_process() -> None:
    members = collect_members()
    assert ChildBuild()(members=members, cancel=None) == build_tool(members=members)


def test_a_member_that_vanished_is_one_sentence_not_a_traceback(tmp_path: Path) -> None:
    gone = Member("mod.py", "d", path=tmp_path / "gone.py")
    with pytest.raises(ToolError) as raised:
        ChildBuild()(members=[gone], cancel=None)
    message = raised.value.sentence()
    assert "the build process stopped (" in message and "gone.py" in message
    assert "Traceback" not in message and "export with --no-tool" in message


def test_a_cancelled_build_stops_the_child() -> None:
    token = CancelToken()
    token.cancel()
    made = [Member("m.py", "d", data=b"x = 1\n")]
    with pytest.raises(Cancelled):
        ChildBuild()(members=made, cancel=token)


def test_a_child_started_ahead_and_never_used_is_ended() -> None:
    child = ChildBuild().start()
    process = child._process
    assert process is not None and process.poll() is None
    child.close()
    assert process.returncode is not None  # killed and reaped, not left behind
    child.close()  # twice is harmless


def test_a_child_started_ahead_builds_what_it_is_given_later() -> None:
    made = [Member("m.py", "d", data=b"x = 1\n")]
    child = ChildBuild().start()
    assert child(members=made, cancel=None) == build_tool(members=made)
