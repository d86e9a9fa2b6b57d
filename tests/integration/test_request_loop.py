"""Issue 16's loop on real registries: the offline GitLab's templates write a request, the
connected host exports exactly that (only the layers the request's inventory lacks), the
offline host imports it, and `check` proves no pipeline misses an image; templates that want
more make `check` exit 1 naming each missing image and the command that fixes it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from airgap_tui.bundle.schema import read_manifest
from tests.harness.native import NativeUpstream
from tests.harness.registry import RegistryHandle
from tests.integration.conftest import CliRun
from tests.integration.import_support import served_digest

MakeRegistry = Callable[..., RegistryHandle]
REAL = Path(__file__).resolve().parents[1] / "fixtures" / "gitlab-templates"


def _templates(root: Path, files: dict[str, tuple[str, dict[str, str]]]) -> Path:
    """Real vendored templates, copied whole; `edits` turn a tag into what upstream holds."""
    for target, (real, edits) in files.items():
        text = (REAL / real).read_text()
        for old, new in edits.items():
            assert old in text, (real, old)
            text = text.replace(old, new)
        (root / target).parent.mkdir(parents=True, exist_ok=True)
        (root / target).write_text(text)
    return root


# GitLab 18's images for these jobs, the ones the native upstream holds.
BASE = {
    "Jobs/SAST-IaC.gitlab-ci.yml": ("18/Jobs/SAST-IaC.gitlab-ci.yml", {}),  # kics:6
    "Jobs/Secret-Detection.gitlab-ci.yml": (
        "15/Jobs/Secret-Detection.gitlab-ci.yml",
        {'SECRETS_ANALYZER_VERSION: "4"': 'SECRETS_ANALYZER_VERSION: "7"'},
    ),
    "Security/Secret-Detection.gitlab-ci.yml": ("15/Security/Secret-Detection.gitlab-ci.yml", {}),
    "Jobs/Container-Scanning.gitlab-ci.yml": (
        "17/Jobs/Container-Scanning.gitlab-ci.yml",
        {"container-scanning:7": "container-scanning:8"},
    ),
}
# Next month: dependency scanning joins (only gemnasium of it: the others run on files the
# projects do not have, and an opt-out keeps them out of the pipeline and of this request).
MORE = {
    **BASE,
    "Jobs/Dependency-Scanning.gitlab-ci.yml": (
        "17/Jobs/Dependency-Scanning.gitlab-ci.yml",
        {
            "DS_MAJOR_VERSION: 5": "DS_MAJOR_VERSION: 6",
            '    DS_ANALYZER_NAME: "gemnasium-maven"\n  rules:\n': (
                '    DS_ANALYZER_NAME: "gemnasium-maven"\n  rules:\n    - when: never\n'
            ),
            '    DS_ANALYZER_NAME: "gemnasium-python"\n  rules:\n': (
                '    DS_ANALYZER_NAME: "gemnasium-python"\n  rules:\n    - when: never\n'
            ),
        },
    ),
}


def test_request_export_import_check_closes_the_loop(
    native_upstream: NativeUpstream,
    registry_factory: MakeRegistry,
    tmp_path: Path,
    cli_no_engine: Callable[..., CliRun],
) -> None:
    offline = registry_factory("offline")
    registry = f"{offline.host}/mirror"
    source = ["--source-prefix", native_upstream.prefix]
    first = _templates(tmp_path / "t1", BASE)

    # Before anything is imported, check says what is missing and how to fix it.
    run = cli_no_engine("check", "--registry", registry, "--templates", str(first))
    assert run.code == 1, run.err
    for ref in ("kics:6", "secrets:7", "container-scanning:8"):
        assert ref in run.err
    assert f"airgap-tui request --templates {first} --registry {registry}" in run.err

    # Offline host: the request, with the (empty) registry's inventory.
    request = tmp_path / "stick" / "request.json"
    run = cli_no_engine(
        "request", "--templates", str(first), "--registry", registry, "--out", str(request),
        "--json",
    )  # fmt: skip
    assert run.code == 0, run.err
    assert {(i["name"], i["tag"]) for i in run.json["images"]} == {
        ("kics", "6"),
        ("secrets", "7"),
        ("container-scanning", "8"),
    }

    # Connected host: the estimate is exact, the export carries those images and no more.
    est = cli_no_engine("estimate", "--request", str(request), *source, "--json")
    assert est.code == 0, est.err
    bundle = tmp_path / "bundle"
    run = cli_no_engine(
        "export", "--request", str(request), *source, "--to", str(bundle),
        "--part-size", "1MiB", "--json",
    )  # fmt: skip
    assert run.code == 0, run.err
    assert sorted(run.json["images"]) == ["container-scanning:8", "kics:6", "secrets:7"]
    assert run.json["readback_ok"] and run.json["bundle_bytes"] == est.json["delta"]["delta_bytes"]

    # Offline host: import, then check passes for the platform.
    run = cli_no_engine(
        "import", str(bundle), "--registry", registry, "--receipt-dir", str(tmp_path / "r")
    )
    assert run.code == 0, run.err
    run = cli_no_engine("check", "--registry", registry, "--templates", str(first), "--json")
    assert run.code == 0, run.err
    assert run.json["ok"] and run.json["missing"] == []
    cs = next(i for i in run.json["images"] if i["name"] == "container-scanning")
    amd64 = native_upstream.image("container-scanning").manifest_for("linux/amd64")
    assert cs["present"] and cs["digest"] == amd64.digest  # one platform was carried
    run = cli_no_engine(
        "check", "--registry", registry, "--templates", str(first), "--platform", "linux/s390x"
    )
    assert run.code == 1 and "container-scanning:8" in run.err  # not for that platform

    # Templates that want more: check exits 1 and names each missing image.
    wider = _templates(
        tmp_path / "t2", {**BASE, "Jobs/SAST.gitlab-ci.yml": ("18/Jobs/SAST.gitlab-ci.yml", {})}
    )
    run = cli_no_engine("check", "--registry", registry, "--templates", str(wider))
    assert run.code == 1
    for ref in ("semgrep:6", "pmd-apex:6", "sobelow:6", "spotbugs:5"):
        assert ref in run.err and f"MISSING  {ref}" in run.out
    for ref in ("kics:6", "secrets:7", "container-scanning:8"):
        assert f"present  {ref}" in run.out

    # Next month: the request's inventory makes the export carry only the layers it lacks.
    second = _templates(tmp_path / "t3", MORE)
    request2 = tmp_path / "stick" / "request-2.json"
    run = cli_no_engine(
        "request", "--templates", str(second), "--registry", registry, "--out", str(request2)
    )
    assert run.code == 0, run.err
    bundle2 = tmp_path / "bundle-2"
    run = cli_no_engine(
        "export", "--request", str(request2), *source, "--to", str(bundle2),
        "--part-size", "1MiB", "--json",
    )  # fmt: skip
    assert run.code == 0, run.err
    assert "gemnasium:6" in run.json["images"]
    delta = run.json["delta"]
    assert delta["kind"] == "inventory" and 0 < delta["delta_bytes"] < delta["full_bytes"]
    gemnasium = native_upstream.image("gemnasium")
    base_layer = gemnasium.manifests[0].layers[0].digest  # shared with kics and secrets
    manifest = read_manifest(bundle2)
    assert manifest.delta is not None
    assert base_layer in {blob.digest for blob in manifest.delta.expected}  # left out
    run = cli_no_engine(
        "import", str(bundle2), "--registry", registry, "--receipt-dir", str(tmp_path / "r2")
    )
    assert run.code == 0, run.err
    assert served_digest(offline.url, "mirror/gemnasium", "6", gemnasium.media_type) == (
        gemnasium.digest
    )
    run = cli_no_engine("check", "--registry", registry, "--templates", str(second))
    assert run.code == 0, run.err + run.out


def test_a_hostile_request_is_refused_before_any_download(
    native_upstream: NativeUpstream, tmp_path: Path, cli_no_engine: Callable[..., CliRun]
) -> None:
    request = tmp_path / "request.json"
    request.write_text('{"kind": "airgap-tui request", "version": 1, "images": 3}')
    run = cli_no_engine(
        "export", "--request", str(request), "--source-prefix", native_upstream.prefix,
        "--to", str(tmp_path / "b"),
    )  # fmt: skip
    assert run.code == 2
    assert str(request) in run.err and "field" in run.err
    assert not (tmp_path / "b").exists()
