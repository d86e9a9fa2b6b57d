"""The export-archive byte model: tar arithmetic against real tars, Go JSON re-encoding against
bytes measured from real engines, and the layouts' de-duplication rules.

The MEASURED_* values come from `docker save` of the five images built by `_measured_images`
on Debian bookworm's Engine 20.10.24 (legacy layout) and trixie's Engine 26.1.5 (OCI layout).
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections import Counter
from typing import Any

import pytest

from airgap_tui.archive_size import (
    BLOCK,
    ImageLayout,
    LayerSize,
    TarEntry,
    archive_entries,
    archive_size,
    familiar,
    format_for_api_version,
    go_json,
    go_time,
    header_size,
    legacy_entries,
    oci_entries,
    oci_manifest,
    tar_size,
    v1_json,
)

# ----------------------------------------------------------------------------------------------
# tar arithmetic


def _real_tar(entries: list[TarEntry], fmt: int) -> tuple[int, int]:
    """(offset after the last member + trailer, file length) of a tar Python writes."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for entry in entries:
            info = tarfile.TarInfo(entry.name.rstrip("/") if entry.kind == "dir" else entry.name)
            info.mtime = 1_700_000_000
            if entry.kind == "dir":
                info.type = tarfile.DIRTYPE
                tf.addfile(info)
            elif entry.kind == "symlink":
                info.type = tarfile.SYMTYPE
                info.linkname = entry.linkname
                tf.addfile(info)
            else:
                info.size = entry.size
                tf.addfile(info, io.BytesIO(b"x" * entry.size))
        members_end = tf.offset
    return members_end + 2 * BLOCK, len(buf.getvalue())


H = "f" * 64


def test_tar_size_matches_a_real_ustar_tar() -> None:
    entries = [
        TarEntry(f"{H}/", kind="dir"),
        TarEntry(f"{H}/VERSION", size=3),
        TarEntry(f"{H}/json", size=0),
        TarEntry(f"{H}/layer.tar", size=512),
        TarEntry("a", size=511),
        TarEntry("b", size=513),
        TarEntry("c", size=1),
        TarEntry(f"{'e' * 64}/layer.tar", kind="symlink", linkname=f"../{H}/layer.tar"),
        # 130 characters, but splittable into USTAR's prefix + name: still one header.
        TarEntry(f"{'p' * 60}/{'q' * 69}", size=700),
    ]
    expected, file_length = _real_tar(entries, tarfile.USTAR_FORMAT)
    assert tar_size(entries) == expected
    # Python (like GNU tar) pads the file to 10 KiB records; Go's writer does not.
    assert file_length == -(-expected // 10240) * 10240
    assert file_length != expected


def test_unsplittable_long_names_get_a_pax_header_like_a_real_pax_tar() -> None:
    entries = [TarEntry("n" * 150, size=10), TarEntry("d/" + "m" * 120, size=1000)]
    expected, _ = _real_tar(entries, tarfile.PAX_FORMAT)
    assert tar_size(entries) == expected
    assert header_size(entries[0]) == 3 * BLOCK


def test_sizes_past_8_gib_need_a_pax_size_record() -> None:
    assert header_size(TarEntry("big", size=8**11 - 1)) == BLOCK
    assert header_size(TarEntry("big", size=8**11)) == 3 * BLOCK


def test_empty_archive_and_trailer() -> None:
    assert tar_size([]) == 1024
    assert archive_size([], "oci") == 0


# ----------------------------------------------------------------------------------------------
# Go JSON, checked against files the engines wrote

V1_BASE = (
    '{"id":"de327d1b305c6de8294232c7feff297b94d9403f3705c0970cbf2964bd7e1941",'
    '"created":"1970-01-01T00:00:00Z","container_config":{"Hostname":"","Domainname":"",'
    '"User":"","AttachStdin":false,"AttachStdout":false,"AttachStderr":false,"Tty":false,'
    '"OpenStdin":false,"StdinOnce":false,"Env":null,"Cmd":null,"Image":"","Volumes":null,'
    '"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":null},"os":"linux"}'
)
V1_TOP = (
    '{"id":"8a35d989fbc6c636a971d4d84b5fb9b85ed1ae260631db6bfc5580e3fe300bd6",'
    '"parent":"fa00c40d2bb4e9cb0a544f82f9810357a42a4c0ff2b5e2ad57c6ce3e9db83926",'
    '"created":"2024-05-01T10:00:00.123Z","container_config":{"Hostname":"","Domainname":"",'
    '"User":"","AttachStdin":false,"AttachStdout":false,"AttachStderr":false,"Tty":false,'
    '"OpenStdin":false,"StdinOnce":false,"Env":null,"Cmd":["a"],"Image":"","Volumes":null,'
    '"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":null},"docker_version":"20.10",'
    '"config":{"Hostname":"","Domainname":"","User":"","AttachStdin":false,"AttachStdout":false,'
    '"AttachStderr":false,"Tty":false,"OpenStdin":false,"StdinOnce":false,'
    '"Env":["PATH=/usr/bin:/bin"],"Cmd":["/bin/sh"],"Image":"","Volumes":null,"WorkingDir":"",'
    '"Entrypoint":null,"OnBuild":null,"Labels":{"a":"b\\u003cc\\u003e"}},'
    '"architecture":"amd64","os":"linux"}'
)


def _config(diff_ids: list[str], **extra: Any) -> dict[str, Any]:
    """The configs of the measured images (json.dumps of this is the config blob)."""
    config: dict[str, Any] = {
        "architecture": "amd64",
        "os": "linux",
        "created": "2024-05-01T10:00:00.123Z",
        "config": {"Env": ["PATH=/usr/bin:/bin"], "Cmd": ["/bin/sh"], "Labels": {"a": "b<c>"}},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": "2024-05-01T10:00:00Z", "created_by": "x"} for _ in diff_ids],
    }
    config.update(extra)
    return config


def test_v1_json_of_a_base_layer_is_byte_identical() -> None:
    assert v1_json(v1_id="de327d1b305c6de8294232c7feff297b94d9403f3705c0970cbf2964bd7e1941",
                   parent="", os_name="linux") == V1_BASE  # fmt: skip


def test_v1_json_of_a_top_layer_is_byte_identical() -> None:
    config = _config(
        ["sha256:" + "0" * 64] * 3, container_config={"Cmd": ["a"]}, docker_version="20.10"
    )
    text = v1_json(
        v1_id="8a35d989fbc6c636a971d4d84b5fb9b85ed1ae260631db6bfc5580e3fe300bd6",
        parent="fa00c40d2bb4e9cb0a544f82f9810357a42a4c0ff2b5e2ad57c6ce3e9db83926",
        os_name="linux",
        config=config,
    )
    assert text == V1_TOP


def test_go_json_escapes_and_orders_like_encoding_json() -> None:
    assert (
        go_json({"b": 1, "a": ["<&>", None, True]})
        == '{"a":["\\u003c\\u0026\\u003e",null,true],"b":1}'
    )
    assert go_json("é\u2028") == '"é\\u2028"'
    assert go_time("2024-05-01T10:00:00.120000Z") == "2024-05-01T10:00:00.12Z"
    assert go_time("2024-05-01T10:00:00.000+00:00") == "2024-05-01T10:00:00Z"
    assert go_time("2024-05-01T10:00:00+02:00") == "2024-05-01T10:00:00+02:00"


def test_oci_manifest_matches_the_engine_26_blob() -> None:
    image = ImageLayout(
        config_digest="sha256:4ed7eaaa4ee3fe63e046baffbae8ddb3e587c44ac52e572047958d89f2a7dcb9",
        config_size=355,
        layers=(
            LayerSize(
                "sha256:0dccf314a2e72af54d4e20ed7bb4ef6b42f19e2489ca80181fb5749c54b70da5", 81920
            ),
        ),
    )
    assert oci_manifest(image) == (
        '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
        '"config":{"mediaType":"application/vnd.oci.image.config.v1+json",'
        '"digest":"sha256:4ed7eaaa4ee3fe63e046baffbae8ddb3e587c44ac52e572047958d89f2a7dcb9",'
        '"size":355},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar",'
        '"digest":"sha256:0dccf314a2e72af54d4e20ed7bb4ef6b42f19e2489ca80181fb5749c54b70da5",'
        '"size":81920}]}'
    )


# ----------------------------------------------------------------------------------------------
# Whole archives, against sizes measured on the real engines

L1, L2, L3, L4 = (LayerSize(f"sha256:{c * 64}", n) for c, n in
                  (("1", 307200), ("2", 102400), ("3", 61440), ("4", 81920)))  # fmt: skip
MEASURED_LEGACY = 589824  # Engine 20.10.24
MEASURED_OCI = 589312  # Engine 26.1.5


def _image(tag: str, layers: list[LayerSize], config_size: int, **extra: Any) -> ImageLayout:
    config = _config([layer.diff_id for layer in layers], **extra)
    assert len(json.dumps(config)) == config_size  # the blob the engines saw
    digest = "sha256:" + hashlib.sha256(tag.encode()).hexdigest()
    return ImageLayout(digest, config_size, tuple(layers), (tag,), config)


def _measured_images() -> list[ImageLayout]:
    images = [
        _image("127.0.0.1:5000/sec/a:1", [L1, L2], 486),
        _image("127.0.0.1:5000/sec/b:2", [L1, L3], 458,
               config={"Env": ["X=1"], "ExposedPorts": {"80/tcp": {}}}),
        _image("127.0.0.1:5000/sec/c:3", [L1, L2, L4], 680,
               container_config={"Cmd": ["a"]}, docker_version="20.10"),
        _image("127.0.0.1:5000/sec/d:4", [L3, L2], 486),
        _image("docker.io/library/busybox:latest", [L4], 355),
    ]  # fmt: skip
    return images + [images[0]]  # asked for twice: saved once


def test_legacy_archive_size_equals_engine_20_10() -> None:
    assert archive_size(_measured_images(), "docker-archive") == MEASURED_LEGACY


def test_oci_archive_size_equals_engine_26_1() -> None:
    assert archive_size(_measured_images(), "oci") == MEASURED_OCI


def _kinds(entries: list[TarEntry]) -> Counter[tuple[str, str]]:
    def shape(name: str) -> str:
        last = name.rstrip("/").split("/")[-1]
        return "layer.tar" if last == "layer.tar" else "json" if last == "json" else "other"

    return Counter((shape(e.name), e.kind) for e in entries)


def test_legacy_layout_dedupes_layers_and_images() -> None:
    entries = legacy_entries(_measured_images())
    kinds = _kinds(entries)
    # 8 distinct v1 positions; only 4 distinct layers are written, the rest are symlinks.
    assert kinds[("layer.tar", "file")] == 4
    assert kinds[("layer.tar", "symlink")] == 4
    assert kinds[("json", "file")] == 8
    assert sum(1 for e in entries if e.kind == "dir") == 8
    written = sorted(e.size for e in entries if e.name.endswith("layer.tar") and e.kind == "file")
    assert written == sorted(layer.size for layer in (L1, L2, L3, L4))
    configs = [e for e in entries if e.name.endswith(".json") and len(e.name) == 69]
    assert len(configs) == 5
    repositories = next(e for e in entries if e.name == "repositories")
    assert repositories.size > 0


def test_oci_layout_has_one_blob_per_distinct_content() -> None:
    entries = oci_entries(_measured_images())
    blobs = [e for e in entries if e.name.startswith("blobs/sha256/") and e.kind == "file"]
    # 4 layers + 5 configs + 5 manifests + 8 legacy v1 json blobs
    assert len(blobs) == 22
    names = {e.name for e in entries}
    assert {"index.json", "manifest.json", "oci-layout", "repositories"} <= names
    assert not any(e.kind == "symlink" for e in entries)


def test_same_image_under_two_names_adds_only_a_tag() -> None:
    one = _measured_images()[0]
    renamed = ImageLayout(
        one.config_digest, one.config_size, one.layers, ("other/name:9",), one.config
    )
    for fmt in ("docker-archive", "oci"):
        single = archive_entries([one], fmt)  # type: ignore[arg-type]
        double = archive_entries([one, renamed], fmt)  # type: ignore[arg-type]
        assert len(single) == len(double)
        assert tar_size(double) >= tar_size(single)
        assert tar_size(double) - tar_size(single) <= 2 * BLOCK  # JSON files grow a little


def test_a_missing_config_still_gives_a_close_estimate() -> None:
    """Without config JSON (e.g. a caller that has only sizes) the legacy json is a guess."""
    images = [ImageLayout(i.config_digest, i.config_size, i.layers, i.repo_tags) for i in
              _measured_images()]  # fmt: skip
    for fmt, measured in (("docker-archive", MEASURED_LEGACY), ("oci", MEASURED_OCI)):
        size = archive_size(images, fmt)  # type: ignore[arg-type]
        assert abs(size - measured) <= 0.01 * measured


# ----------------------------------------------------------------------------------------------
# Names and versions


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("docker.io/library/busybox:latest", "busybox:latest"),
        ("docker.io/gitlab/runner:1", "gitlab/runner:1"),
        ("docker.io/library/a/b:1", "library/a/b:1"),
        (
            "registry.gitlab.com/security-products/semgrep:6",
            "registry.gitlab.com/security-products/semgrep:6",
        ),
    ],
)
def test_familiar_names(ref: str, expected: str) -> None:
    assert familiar(ref) == expected


@pytest.mark.parametrize(
    ("api", "fmt"),
    [("1.41", "docker-archive"), ("1.43", "docker-archive"), ("1.44", "oci"), ("1.45", "oci"),
     ("2.0", "oci")],
)  # fmt: skip
def test_format_for_api_version(api: str, fmt: str) -> None:
    assert format_for_api_version(api) == fmt
