"""The request file: built from real templates, written atomically, read back as hostile."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from airgap_tui.catalog.request import (
    MAX_REQUEST_BYTES,
    REQUEST_KIND,
    SOURCE_GITLAB_API,
    SOURCE_TEMPLATES,
    RequestError,
    build_request,
    public_source,
    select_images,
    write_request,
)
from airgap_tui.catalog.request_read import read_request
from airgap_tui.catalog.templates import images_from_templates, read_templates_dir

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "gitlab-templates"
INVENTORY = {
    "kind": "airgap-tui registry inventory",
    "version": 1,
    "registry": "10.0.0.5:5000",
    "taken": "2026-12-01T10:00:00Z",
    "repositories": [],
    "blobs": [{"digest": "sha256:" + "a" * 64, "size": 12}],
}


def _images(major: str = "17", *, fips: bool = False):  # noqa: ANN202 - a test helper
    return images_from_templates(read_templates_dir(FIXTURES / major), fips=fips)


def test_opt_in_jobs_are_left_out_unless_asked_for() -> None:
    images = _images()
    requested, left = select_images(images)
    assert {i.job for i in left} == {"gitlab-advanced-sast", "kubesec-sast"}
    assert all(i.opt_in is None for i in requested)
    requested, left = select_images(images, opt_in=["GITLAB_ADVANCED_SAST_ENABLED"])
    assert [i.job for i in left] == ["kubesec-sast"]
    assert "gitlab-advanced-sast" in {i.job for i in requested}
    requested, left = select_images(images, all_opt_in=True)
    assert left == [] and len(requested) == len(images)


def test_an_opt_in_no_template_waits_for_is_refused() -> None:
    with pytest.raises(RequestError) as caught:
        select_images(_images(), opt_in=["GITLAB_ADVANCED_SAST_ENABLD"])
    text = str(caught.value)
    assert "GITLAB_ADVANCED_SAST_ENABLD" in text
    assert "GITLAB_ADVANCED_SAST_ENABLED" in text and "SCAN_KUBERNETES_MANIFESTS" in text


def test_written_request_reads_back_the_same(tmp_path: Path) -> None:
    requested, left = select_images(_images(fips=True))
    data = build_request(
        requested,
        left,
        gitlab_version="17.5.1",
        fips=True,
        source=SOURCE_TEMPLATES,
        inventory=INVENTORY,
    )
    path = tmp_path / "stick" / "request.json"
    sha = write_request(data, path)
    assert len(sha) == 64 and not path.with_name("request.json.part").exists()
    request = read_request(path)
    assert request.gitlab_version == "17.5.1" and request.fips
    assert [i.as_json() for i in request.images] == data["images"]
    assert [i.job for i in request.left_out] == ["gitlab-advanced-sast", "kubesec-sast"]
    assert request.inventory == INVENTORY and request.inventory_sha256
    assert "container-scanning:7-fips" in request.references()
    assert request.references() == sorted(set(request.references()))
    on_disk = json.loads(path.read_text())
    for image in on_disk["images"]:
        assert {"name", "tag", "job", "template", "opt_in", "fips"} <= set(image)


def test_the_source_never_keeps_credentials() -> None:
    source = public_source(SOURCE_GITLAB_API, "https://root:s3cret@gitlab.example:8443/x/?t=1")
    assert source == "gitlab-api https://gitlab.example:8443/x"
    assert "s3cret" not in source and "t=1" not in source


# ---------------------------------------------------------------------------------------------
# Hostile request files


def _valid() -> dict[str, Any]:
    requested, left = select_images(_images())
    return build_request(requested, left, gitlab_version=None, fips=False, source=SOURCE_TEMPLATES)


def _error(tmp_path: Path, content: bytes | dict[str, Any]) -> str:
    path = tmp_path / "request.json"
    path.write_bytes(content if isinstance(content, bytes) else json.dumps(content).encode())
    with pytest.raises(RequestError) as caught:
        read_request(path)
    text = str(caught.value)
    assert str(path) in text
    return text


def _changed(**image_fields: Any) -> dict[str, Any]:
    data = _valid()
    data["images"][0].update(image_fields)
    return data


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"\xff\xfe", "not UTF-8"),
        (b"{not json", "not valid JSON"),
        (b'{"kind": 1, "kind": 2}', "appears twice"),
        (b'{"x": NaN}', "not JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deep"),
        (b'"just a string"', "not a JSON object"),
        ({"kind": "airgap-tui import receipt"}, "not 'airgap-tui request'"),
        ({**_valid(), "version": 99}, "this airgap-tui reads version 1"),
        ({**_valid(), "images": {"a": 1}}, "field images: it is an object, not a list"),
        ({**_valid(), "fips": "yes"}, "field fips"),
        ({**_valid(), "gitlab_version": "17; rm -rf /"}, "field gitlab_version"),
        (_changed(tag="../../etc"), "images[0].tag"),
        (_changed(name="Semgrep/UPPER"), "images[0].name"),
        (_changed(name="evil.example:5000/x", under_prefix=False, tag="1"), None),
        (_changed(template="../../etc/passwd"), "images[0].template"),
        (_changed(opt_in="A B"), "images[0].opt_in"),
        (_changed(fips=None), "images[0].fips"),
        (_changed(job=""), "images[0].job"),
        ({**_valid(), "inventory": {"kind": "something else"}}, "field inventory.kind"),
        ({**_valid(), "inventory": [1]}, "field inventory"),
        (
            {**_valid(), "images": [_valid()["images"][0]] * 10_001},
            "more than 10,000 images",
        ),
        ({**_valid(), "a": {"b": {"c": {"d": [[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]}}}}, "nests deeper"),
    ],
)
def test_a_hostile_request_is_a_clear_error(
    tmp_path: Path, content: bytes | dict[str, Any], expected: str | None
) -> None:
    if expected is None:  # a valid outside-prefix image reads fine
        path = tmp_path / "request.json"
        path.write_text(json.dumps(content))
        assert read_request(path).images[0].name == "evil.example:5000/x"
        return
    assert expected in _error(tmp_path, content)


def test_missing_huge_and_non_regular_files(tmp_path: Path) -> None:
    for path, expected in (
        (tmp_path / "nope.json", "does not exist"),
        (tmp_path, "not a regular file"),
    ):
        with pytest.raises(RequestError) as caught:
            read_request(path)
        assert str(path) in str(caught.value) and expected in str(caught.value)
    huge = tmp_path / "huge.json"
    with open(huge, "wb") as handle:
        handle.truncate(MAX_REQUEST_BYTES + 1)  # sparse
    with pytest.raises(RequestError) as caught:
        read_request(huge)
    assert "larger than" in str(caught.value)


def test_kind_is_what_the_writer_writes(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    write_request(_valid(), path)
    assert json.loads(path.read_text())["kind"] == REQUEST_KIND
    assert read_request(path).inventory is None
