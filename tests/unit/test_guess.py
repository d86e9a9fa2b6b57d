"""Part 7: a major the catalog has no tag for gets the newest upstream major tag, as a guess."""

from __future__ import annotations

from airgap_tui.catalog.guess import guess_tags, newest_major_tag
from airgap_tui.errors import RegistryError


def test_the_newest_major_tag_is_the_highest_all_digit_tag() -> None:
    tags = ["latest", "5", "6", "6.1.2", "6-fips", "7-fips", "10", "9", "07", "v11", "6.0"]
    assert newest_major_tag(tags) == "10"
    assert newest_major_tag(["latest", "1.2.3", "2-fips"]) is None
    assert newest_major_tag([]) is None


def test_every_answer_is_marked_as_a_guess_or_says_why_not() -> None:
    upstream = {"semgrep": ["5", "6", "7", "7.0.1", "latest"], "kics": ["latest"]}

    def list_tags(path: str) -> list[str]:
        if path == "secrets":
            raise RegistryError("Registry registry.gitlab.com", "it is unreachable", "Check it")
        return upstream[path]

    guesses = guess_tags(
        [("semgrep", "semgrep"), ("kics", "kics"), ("secrets", "secrets")], 19, list_tags
    )
    semgrep, kics, secrets = guesses
    assert semgrep.tag == "7" and semgrep.label == "7 (guess)"
    assert "a guess for GitLab 19" in semgrep.why and "request --templates" in semgrep.why
    assert kics.tag is None and kics.label == "?" and "no major tag" in kics.why
    assert secrets.tag is None and "unreachable" in secrets.why
