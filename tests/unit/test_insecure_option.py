"""`--insecure`: plain HTTP to the site's own registry is the operator's call; to an address
on the public internet it is refused unless the operator confirms it."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from airgap_tui.cli.insecure import add_insecure_option, insecure_choice
from airgap_tui.errors import UsageError
from airgap_tui.registry.address import public_addresses

NAMES = {
    "registry.lab": ["10.1.2.3"],
    "mirror.example.com": ["93.184.216.34"],
    "both.example.com": ["10.0.0.9", "93.184.216.34"],
}


def resolve(name: str) -> list[str]:
    return NAMES.get(name, [])


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_insecure_option(parser)
    parser.add_argument("--username")
    return parser.parse_args(list(argv))


@pytest.mark.parametrize(
    ("host", "public"),
    [
        ("127.0.0.1:5000", []),
        ("[::1]:5000", []),
        ("localhost:5000", []),
        ("10.0.0.5:5000", []),
        ("192.168.1.20", []),
        ("172.20.0.2:443", []),
        ("100.64.0.7:5000", []),  # shared address space (CGNAT): not the public internet
        ("169.254.1.1", []),
        ("[fd00::1]:5000", []),
        ("registry.lab:5000", []),
        ("no-such-host.invalid:5000", []),  # does not resolve: the connection says so
        ("8.8.8.8:5000", ["8.8.8.8"]),
        ("[2001:4860:4860::8888]:5000", ["2001:4860:4860::8888"]),
        ("mirror.example.com:5000", ["93.184.216.34"]),
        ("both.example.com", ["93.184.216.34"]),
    ],
)
def test_which_hosts_are_on_the_public_internet(host: str, public: list[str]) -> None:
    assert public_addresses(host, resolve) == public


def test_without_insecure_the_commands_default_holds() -> None:
    assert insecure_choice(parse(), "8.8.8.8:5000", resolve=resolve) is None
    with pytest.raises(UsageError, match="--insecure-public"):
        insecure_choice(parse("--insecure-public"), "registry.lab:5000", resolve=resolve)


def test_insecure_to_the_sites_own_network_needs_no_question() -> None:
    def never(_question: str) -> bool:
        raise AssertionError("asked for a private address")

    for host in ("registry.lab:5000", "10.0.0.5:5000", "127.0.0.1:5000"):
        assert insecure_choice(parse("--insecure"), host, ask=never, resolve=resolve) is True


def test_insecure_to_a_public_host_asks_and_a_no_refuses() -> None:
    questions: list[str] = []

    def answer(yes: bool):  # type: ignore[no-untyped-def]
        def ask(question: str) -> bool:
            questions.append(question)
            return yes

        return ask

    args = parse("--insecure", "--username", "ci")
    assert insecure_choice(args, "mirror.example.com:5000", ask=answer(True), resolve=resolve)
    assert "mirror.example.com:5000 is on the public internet (93.184.216.34)" in questions[0]
    assert "and the password" in questions[0]
    with pytest.raises(UsageError) as refused:
        insecure_choice(args, "mirror.example.com:5000", ask=answer(False), resolve=resolve)
    sentence = refused.value.sentence()
    assert "public internet" in sentence and "--insecure-public" in sentence


def test_without_a_terminal_a_public_host_needs_the_confirming_flag(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("airgap_tui.cli.insecure._has_terminal", lambda: False)
    with pytest.raises(UsageError, match="public internet"):
        insecure_choice(parse("--insecure"), "8.8.8.8:5000", resolve=resolve)
    confirmed = parse("--insecure", "--insecure-public")
    assert insecure_choice(confirmed, "8.8.8.8:5000", resolve=resolve) is True


def test_import_refuses_plain_http_to_a_public_address_before_anything_else(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No bundle is read and no password asked for: the refusal comes first."""
    from airgap_tui.cli.commands import main

    monkeypatch.setattr("airgap_tui.cli.insecure._has_terminal", lambda: False)
    code = main(["import", str(tmp_path / "none"), "--registry", "8.8.8.8:5000", "--insecure"])
    assert code == 2
    err = capsys.readouterr().err
    assert "--insecure for 8.8.8.8:5000: it is on the public internet (8.8.8.8)" in err


def test_import_and_inventory_pass_the_choice_to_the_registry_client(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airgap_tui.cli.commands import main
    from airgap_tui.importer import run

    seen: list[object] = []

    def capture(request: run.ImportRequest, *_args: object, **_kwargs: object) -> object:
        seen.append(request.insecure)
        raise UsageError("stop", "captured")

    monkeypatch.setattr(run, "import_bundle", capture)
    monkeypatch.setattr("airgap_tui.cli.insecure._has_terminal", lambda: False)
    bundle = str(tmp_path)
    main(["import", bundle, "--registry", "10.0.0.5:5000/a", "--insecure"])
    main(["import", bundle, "--registry", "10.0.0.5:5000/a"])
    main(["import", bundle, "--registry", "8.8.8.8:5000", "--insecure", "--insecure-public"])
    assert seen == [True, None, True]
