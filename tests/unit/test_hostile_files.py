"""Issue 20's eight failures, each a regression test: every hostile file from the stick or the
other side ends in a clear error (file, field, cause), never a traceback or a hang.

Time and memory of the same hostile files are measured in benchmarks/hostile.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml

from airgap_tui.bundle.manifest import (
    MANIFEST_NAME,
    BundleBlob,
    BundleImage,
    BundleManifest,
    BundlePart,
    ToolFile,
    manifest_yaml,
    write_manifest,
)
from airgap_tui.bundle.safe_load import (
    load_bounded_json,
    load_bounded_yaml,
    parse_bounded_json,
    parse_bounded_yaml,
    read_bounded,
)
from airgap_tui.bundle.schema import read_manifest
from airgap_tui.bundle.verify import verify_bundle
from airgap_tui.delta.delta import PresenceError, load_presence
from airgap_tui.errors import BundleError, UsageError
from airgap_tui.registry.reference import validate_repository_path, validate_tag

MiB = 1 << 20


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def small_bundle(directory: Path, **changes: Any) -> BundleManifest:
    """One image (manifest, config, layer) in one part; bundle.yaml written."""
    manifest_body = b'{"schemaVersion":2}'
    config = b'{"os":"linux"}'
    layer = os.urandom(3000)
    data = bytearray(8192)
    blobs = []
    for offset, body, media in (
        (512, manifest_body, "application/vnd.oci.image.manifest.v1+json"),
        (1536, config, "application/vnd.oci.image.config.v1+json"),
        (2560, layer, "application/vnd.oci.image.layer.v1.tar+gzip"),
    ):
        data[offset : offset + len(body)] = body
        blobs.append(BundleBlob(_digest(body), len(body), media, offset))
    (directory / "images.tar.000").write_bytes(bytes(data))
    part = BundlePart("images.tar.000", len(data), hashlib.sha256(bytes(data)).hexdigest())
    fields: dict[str, Any] = {
        "source_prefix": "registry.gitlab.com/security-products",
        "gitlab_major": 18,
        "platforms": ["linux/amd64"],
        "images": [
            BundleImage(
                name="semgrep",
                tag="6",
                source_ref="registry.gitlab.com/security-products/semgrep:6",
                digest=blobs[0].digest,
                media_type=blobs[0].media_type,
                platform="linux/amd64",
                blobs=[blobs[1].digest, blobs[2].digest],
                analyzer="semgrep",
            )
        ],
        "blobs": blobs,
        "parts": [part],
    }
    fields.update(changes)
    manifest = BundleManifest(**fields)
    write_manifest(directory, manifest)
    return manifest


def write_yaml_text(directory: Path, text: bytes) -> None:
    (directory / MANIFEST_NAME).write_bytes(text)


def manifest_dict(manifest: BundleManifest) -> dict[str, Any]:
    data = yaml.safe_load(manifest_yaml(manifest))
    assert isinstance(data, dict)
    return data


def rewrite_with_fingerprint(directory: Path, data: dict[str, Any]) -> None:
    """What an attacker does: edit a field, recompute the fingerprint, write bundle.yaml."""
    from airgap_tui.bundle.manifest import _FINGERPRINT_DOMAIN, FORMAT_VERSION

    content = {k: v for k, v in data.items() if k not in ("tool_version", "created", "fingerprint")}
    content["format_version"] = FORMAT_VERSION
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    data["fingerprint"] = hashlib.sha256(_FINGERPRINT_DOMAIN + canonical.encode()).hexdigest()
    (directory / MANIFEST_NAME).write_text(yaml.safe_dump(data, sort_keys=False))


# --------------------------------------------------------------------------- 1. deep YAML


@pytest.mark.parametrize("depth", [2000, 100_000])
@pytest.mark.parametrize("opener", [b"[", b"{images: ", b"- "])
def test_deep_yaml_is_a_clear_error(tmp_path: Path, depth: int, opener: bytes) -> None:
    write_yaml_text(tmp_path, opener * depth + b"\n")
    with pytest.raises(BundleError) as err:
        read_manifest(tmp_path)
    text = str(err.value)
    assert MANIFEST_NAME in text and "Traceback" not in text
    assert "nests deeper" in text or "not valid YAML" in text


def test_deep_block_yaml_names_where_it_nests(tmp_path: Path) -> None:
    text = b"".join(b" " * i + b"images:\n" for i in range(2000))
    write_yaml_text(tmp_path, text)
    with pytest.raises(BundleError, match=r"field images\.images.*nests deeper than"):
        read_manifest(tmp_path)


# --------------------------------------------------------------------------- 2. loader errors


@pytest.mark.parametrize(
    ("line", "field", "cause"),
    [
        (b"created: 2026-99-99\n", "created", "is not valid (month must be in 1..12)"),
        (b"zz: 2026-02-31\n", "zz", "unknown field"),  # refused at its key
        (b"images: [{zz: 2026-02-31}]\n", "images[0].zz", "is not valid (day is out of range"),
        (b"gitlab_major: " + b"7" * 5000 + b"\n", "gitlab_major", "is not valid (Exceeds"),
    ],
)
def test_values_the_yaml_loader_cannot_build_are_named(
    tmp_path: Path, line: bytes, field: str, cause: str
) -> None:
    write_yaml_text(tmp_path, b"format_version: 2\n" + line)
    with pytest.raises(BundleError) as err:
        read_manifest(tmp_path)
    assert f"field {field}: " in str(err.value)
    assert cause in str(err.value)


# --------------------------------------------------------------------------- 3. 8 MB bundle.yaml


def test_an_unknown_field_in_8_mb_is_refused_at_its_key(tmp_path: Path) -> None:
    write_yaml_text(tmp_path, b"format_version: 2\nzz: [" + b"0," * (4 * MiB - 16) + b"0]\n")
    assert (tmp_path / MANIFEST_NAME).stat().st_size < 8 * MiB
    with pytest.raises(BundleError, match=r"field zz: unknown field"):
        read_manifest(tmp_path)


def test_millions_of_values_under_a_known_field_are_refused_while_parsing(tmp_path: Path) -> None:
    write_yaml_text(tmp_path, b"format_version: 2\nimages: [" + b"0," * (4 * MiB - 16) + b"0]\n")
    with pytest.raises(BundleError) as err:
        read_manifest(tmp_path)
    assert "field images[" in str(err.value)
    assert "refused while parsing" in str(err.value)


def test_the_manifest_is_parsed_once_by_libyaml(tmp_path: Path, monkeypatch: Any) -> None:
    """A YAML bundle.yaml (older bundles, hand edits): one parse (no separate alias pass), with
    the C loader where PyYAML has it."""
    small_bundle(tmp_path)
    as_yaml = yaml.safe_dump(json.loads((tmp_path / MANIFEST_NAME).read_text()), sort_keys=False)
    (tmp_path / MANIFEST_NAME).write_text(as_yaml)
    calls: list[str] = []
    real_parse, real_load = yaml.parse, yaml.safe_load
    monkeypatch.setattr(yaml, "parse", lambda *a, **k: calls.append("parse") or real_parse(*a, **k))
    monkeypatch.setattr(yaml, "safe_load", lambda *a, **k: calls.append("load") or real_load(*a))
    assert read_manifest(tmp_path).images  # read through the YAML path
    assert calls == []
    from airgap_tui.bundle import safe_yaml

    assert safe_yaml._YAML_LOADER is getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def test_a_bundle_airgap_tui_wrote_is_verified_without_loading_pyyaml(tmp_path: Path) -> None:
    """bundle.yaml is written as JSON (a subset of YAML) and read by the JSON decoder: the
    offline host's verify does not load a YAML parser at all (its start-up is measured)."""
    small_bundle(tmp_path)
    script = (
        "import sys\n"
        "from airgap_tui.bundle.verify import verify_bundle\n"
        f"assert verify_bundle({str(tmp_path)!r}, records=False).ok\n"
        "print(sorted(m for m in sys.modules if m == 'yaml' or m.startswith('yaml.')))\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"format_version": 2, "zz": 1}', "field zz: unknown field"),
        ('{"format_version": 2, "images": ' + "[" * 40 + "]" * 40 + "}", "nests deeper than"),
        (  # the place is named, as the YAML path names it
            '{"images": [{"blobs": ' + "[" * 40 + "]" * 40 + "}]}",
            r"field images\[0\]\.blobs(\[0\])+: it nests deeper than",
        ),
        ('{"images": ' + "[" * 100_000 + "]" * 100_000 + "}", "nests too deep"),
        ('{"images": [' + "0," * 600_000 + "0]}", "refused before parsing"),
        ("{format_version: 2, zz: 1}", "field zz: unknown field"),  # YAML flow: the YAML path
    ],
)
def test_a_json_shaped_bundle_yaml_has_the_yaml_path_s_bounds(
    tmp_path: Path, text: str, expected: str
) -> None:
    (tmp_path / MANIFEST_NAME).write_text(text)
    with pytest.raises(BundleError, match=expected):
        read_manifest(tmp_path)


# --------------------------------------------------------------------------- 4. fullmatch


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("images", 0, "tag"), "1\n"),
        (("images", 0, "media_type"), "application/vnd.oci.image.manifest.v1+json\n"),
        (("images", 0, "name"), "semgrep\n"),
        (("blobs", 0, "media_type"), "application/vnd.oci.image.manifest.v1+json\n"),
        (("platforms", 0), "linux/amd64\n"),
    ],
)
def test_a_trailing_newline_is_not_a_valid_value(
    tmp_path: Path, path: tuple[Any, ...], value: str
) -> None:
    data = manifest_dict(small_bundle(tmp_path))
    target: Any = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    rewrite_with_fingerprint(tmp_path, data)  # re-sealed: only the validators can catch it
    with pytest.raises(BundleError):
        read_manifest(tmp_path)


def test_reference_validators_use_fullmatch() -> None:
    with pytest.raises(UsageError):
        validate_tag("1\n")
    with pytest.raises(UsageError):
        validate_repository_path("semgrep\n")


# --------------------------------------------------------------------------- 5. 255 characters


def test_a_repository_name_longer_than_255_characters_is_refused(tmp_path: Path) -> None:
    long_name = "/".join(["a" * 99] * 3)  # 299 characters of valid components
    with pytest.raises(UsageError, match="255"):
        validate_repository_path(long_name)
    data = manifest_dict(small_bundle(tmp_path))
    data["images"][0]["name"] = long_name
    rewrite_with_fingerprint(tmp_path, data)
    with pytest.raises(BundleError, match="255"):
        read_manifest(tmp_path)
    assert validate_repository_path("/".join(["a" * 127] * 2)) == "/".join(["a" * 127] * 2)


# --------------------------------------------------------------------------- 6. 63 MiB presence


@pytest.mark.parametrize(
    "body",
    [
        b'{"kind": "x", "images": [' + b"0," * (31 * MiB) + b"0]}",
        b'{"blobs": [' + b"{}," * (20 * MiB) + b"{}]}",
    ],
    ids=["ints", "objects"],
)
def test_a_63_mib_presence_file_of_tiny_items_is_refused_before_parsing(
    tmp_path: Path, body: bytes, monkeypatch: Any
) -> None:
    path = tmp_path / "receipt.json"
    path.write_bytes(body)
    assert 60 * MiB < path.stat().st_size < 64 * MiB

    def no_parse(*_a: object, **_k: object) -> None:
        raise AssertionError("parsed the whole file")

    monkeypatch.setattr(json, "loads", no_parse)
    with pytest.raises(PresenceError) as err:
        load_presence(path)
    assert str(path) in str(err.value) and "refused before parsing" in str(err.value)


# --------------------------------------------------------------------------- 7. FIFO


def _returns(function: Any, *args: Any) -> BaseException | None:
    """Run `function(*args)` in a thread; the exception it raised (a hang fails the test)."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            function(*args)
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(60)
    assert not thread.is_alive(), f"{function.__name__} blocked on a FIFO"
    return outcome[0]


def test_a_fifo_given_as_delta_from_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "receipt.json"
    os.mkfifo(fifo)
    error = _returns(load_presence, fifo)
    assert isinstance(error, PresenceError)
    assert "FIFO" in str(error) and str(fifo) in str(error)


@pytest.mark.parametrize("loader", [load_bounded_json, load_bounded_yaml])
def test_the_bounded_loaders_refuse_a_fifo_and_a_symlink(tmp_path: Path, loader: Any) -> None:
    fifo = tmp_path / "request.yaml"
    os.mkfifo(fifo)
    error = _returns(lambda p: loader(p, what=f"Request {p}", max_bytes=MiB), fifo)
    assert isinstance(error, BundleError) and "FIFO" in str(error)
    target = tmp_path / "real.yaml"
    target.write_text("{}")
    link = tmp_path / "link.yaml"
    link.symlink_to(target)
    with pytest.raises(BundleError, match="symbolic link"):
        loader(link, what=f"Request {link}", max_bytes=MiB)


def test_read_bounded_checks_the_size_before_reading(tmp_path: Path) -> None:
    big = tmp_path / "big"
    with open(big, "wb") as f:
        f.truncate(2 * MiB)
    with pytest.raises(UsageError, match="larger than"):
        read_bounded(big, what="Big file", max_bytes=MiB, error=UsageError)


# --------------------------------------------------------------------------- 8. spoofed tool


def test_an_unlisted_airgap_tui_pyz_beside_a_renamed_tool_fails_verify(tmp_path: Path) -> None:
    genuine = b"PK genuine zipapp bytes"
    (tmp_path / "tool.bin").write_bytes(genuine)
    (tmp_path / "airgap-tui.pyz").write_bytes(b"PK evil zipapp bytes")
    small_bundle(
        tmp_path,
        tool=ToolFile("tool.bin", len(genuine), hashlib.sha256(genuine).hexdigest()),
    )
    report = verify_bundle(tmp_path)
    assert not report.ok
    named = [p for p in report.problems if p.file == "airgap-tui.pyz"]
    assert named and "do not run it" in named[0].message.lower()


# --------------------------------------------------------------------------- the loader itself


def test_bounded_yaml_builds_plain_values_and_refuses_tags() -> None:
    value = parse_bounded_yaml(b"a: 1\nb: [x, 2.5, null, true]\nc: {d: '2026-01-01'}\n", what="f")
    assert value == {"a": 1, "b": ["x", 2.5, None, True], "c": {"d": "2026-01-01"}}
    for text in (b"a: !!python/object:os.system x\n", b"a: !!set {x}\n", b"a: !!binary AAAA\n"):
        with pytest.raises(BundleError, match="tag"):
            parse_bounded_yaml(text, what="f")
    with pytest.raises(BundleError, match="field a: it appears twice"):
        parse_bounded_yaml(b"a: 1\na: 2\n", what="f")
    with pytest.raises(BundleError, match="more than one YAML document"):
        parse_bounded_yaml(b"a: 1\n---\nb: 2\n", what="f")


def test_bounded_json_refuses_duplicates_constants_and_deep_nesting() -> None:
    assert parse_bounded_json(b'{"a": [1, {"b": "c"}]}', what="f") == {"a": [1, {"b": "c"}]}
    for raw, cause in (
        (b'{"a":1,"a":2}', "appears twice"),
        (b'{"a":NaN}', "NaN"),
        (b"[" * 5000 + b"]" * 5000, "refused before parsing"),
        (b"[" * 3000 + b"]" * 3000 + b" " * 100_000, "nests too deep"),
        (b'{"a":' + b"9" * 5000 + b"}", "not valid JSON"),
    ):
        with pytest.raises(BundleError, match=cause):
            parse_bounded_json(raw, what="f")


def test_an_import_whose_target_repository_is_over_255_characters_stops_before_any_request(
    tmp_path: Path,
) -> None:
    from airgap_tui.importer.run import ImportRequest, import_bundle

    small_bundle(tmp_path)
    registry = "127.0.0.1:9/" + "/".join(["a" * 100] * 3)  # nothing listens on port 9
    with pytest.raises(UsageError, match="255"):
        import_bundle(ImportRequest(bundle_dir=tmp_path, registry=registry, receipt_dir=tmp_path))
