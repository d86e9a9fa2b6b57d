"""airgap-tui.pyz, the tool the bundle carries, run by a python3 with nothing installed (issue 12).

The archive is built from this test venv's installed distributions, then run by the system's
python3 in isolated mode (tests/harness/cleanpy.py) with PYTHONPATH empty, a HOME that does not
exist (nothing may be written there) and a TMPDIR that must be empty again afterwards.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import json
import shutil
import subprocess
import uuid
import zipfile
from pathlib import Path

import pytest

from airgap_tui import __version__
from airgap_tui.bundle.verify import verify_bundle
from airgap_tui.cli.commands import main
from airgap_tui.toolpack.toolpack import (
    SHEBANG,
    SOURCE_ONLY,
    TOOL_FILE,
    ZIP_TIME,
    tool_size,
    write_tool,
)
from tests.harness.cleanpy import clean_env, clean_python
from tests.harness.engine import EngineHandle
from tests.harness.pty import run_until_text
from tests.harness.registry import RegistryHandle
from tests.integration.conftest import registry_tags
from tests.integration.faults_support import IMAGE_NAMES, TAGS, mounted_tmpfs, tree_state

MB = 1_000_000
COMPILED = (".so", ".pyd", ".dylib", ".dll", *importlib.machinery.EXTENSION_SUFFIXES)


@pytest.fixture(scope="module")
def carried_tool(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tool")
    info = write_tool(out)
    path = out / info.file
    assert info.file == TOOL_FILE
    assert path.stat().st_size == info.size
    assert hashlib.sha256(path.read_bytes()).hexdigest() == info.sha256
    assert sorted(p.name for p in out.iterdir()) == [TOOL_FILE]  # no .part left behind
    return path


def _run(
    *args: str | Path, tmp_path: Path, cwd: Path | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    """`python3 -I ARGS` (the tool first); afterwards HOME still does not exist and TMPDIR is
    empty (certifi's extracted CA file is removed at exit)."""
    home, tmp = tmp_path / "no-home", tmp_path / "tmp"
    tmp.mkdir(exist_ok=True)
    run = subprocess.run(
        [*clean_python(), *map(str, args)],
        env=clean_env(home, tmp, **env),
        cwd=cwd or tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert not home.exists(), "the carried tool wrote into HOME"
    assert list(tmp.iterdir()) == [], "the carried tool left files in TMPDIR"
    return run


def test_the_archive_is_pure_python_small_sorted_and_dated_1980(carried_tool: Path) -> None:
    assert carried_tool.stat().st_size <= 15 * MB
    assert carried_tool.read_bytes().startswith(SHEBANG)
    with zipfile.ZipFile(carried_tool) as archive:
        infos = archive.infolist()
    names = [i.filename for i in infos]
    assert [n for n in names if n.endswith(COMPILED)] == []
    assert names[0] == "__main__.py" and names[1:] == sorted(names[1:])
    assert {i.date_time for i in infos} == {ZIP_TIME}
    for needed in (
        "airgap_tui/cli/commands.py",
        "airgap_tui/catalog/data/analyzers.yaml",
        "airgap_tui/tui/app.tcss",
        "textual/app.py",
        "docker/api/client.py",
        "certifi/cacert.pem",
        "yaml/__init__.py",
        "charset_normalizer/md.py",  # the pure-Python twin of the mypyc build
        "requests/__init__.pyc",  # bytecode for this interpreter rides along
        "pygments/lexers/__init__.pyc",
        "pygments/lexers/python.py",
    ):
        assert needed in names, needed
    # pygments' lexers and styles, which the tool never imports, go as source only
    assert "pygments/lexers/python.pyc" not in names
    compiled = sorted(n for n in names if n.startswith(SOURCE_ONLY) and n.endswith(".pyc"))
    assert compiled == [
        f"pygments/{kind}/{name}.pyc"
        for kind in ("lexers", "styles")
        for name in ("__init__", "_mapping")
    ]
    tops = {n.split("/")[0] for n in names}
    assert not tops & {"pytest", "_pytest", "mypy", "cryptography", "ruff", "syrupy"}, tops


def test_the_same_installation_gives_the_same_bytes(carried_tool: Path, tmp_path: Path) -> None:
    again = write_tool(tmp_path)
    assert (tmp_path / again.file).read_bytes() == carried_tool.read_bytes()


def test_the_size_estimate_is_within_fifteen_per_cent(carried_tool: Path) -> None:
    actual = carried_tool.stat().st_size
    assert abs(tool_size() - actual) <= 0.15 * actual


def test_version_and_snippet_match_the_installed_command(
    carried_tool: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    version = _run(carried_tool, "--version", tmp_path=tmp_path)
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"airgap-tui {__version__}"

    argv = ["snippet", "--registry", "registry.example:5000/scanners", "semgrep", "secrets:7"]
    snippet = _run(carried_tool, *argv, tmp_path=tmp_path)
    assert snippet.returncode == 0, snippet.stderr
    capsys.readouterr()
    assert main(argv) == 0
    assert snippet.stdout == capsys.readouterr().out


def test_the_carried_tool_cannot_rebuild_itself_and_says_so(
    carried_tool: Path, tmp_path: Path
) -> None:
    run = _run(carried_tool, "tool", "--out", tmp_path / "again", tmp_path=tmp_path)
    assert run.returncode == 1
    assert "it is not installed as files" in run.stderr
    assert "Write the tool from an installed airgap-tui" in run.stderr
    assert not (tmp_path / "again").exists()


def test_every_module_comes_from_the_archive_and_the_fallbacks_import(
    carried_tool: Path, tmp_path: Path
) -> None:
    """Nothing is taken from the interpreter's own site-packages (the system python3 has PyYAML
    and Pygments there); the compiled modules' pure-Python fallbacks really import."""
    script = r"""
import json, os, sys, sysconfig
started_with = set(sys.modules)  # what site loaded (Debian's sitecustomize, .pth hooks)
tool = sys.argv[1]
sys.path.insert(0, tool)
import airgap_tui.cli.commands, airgap_tui.bundle.writer, airgap_tui.importer.run
import airgap_tui.registry.client, airgap_tui.importer.engine, airgap_tui.catalog.catalog
import airgap_tui.tui.app, airgap_tui.tui.screens.start
import charset_normalizer, charset_normalizer.md, charset_normalizer.cd, certifi, yaml
from airgap_tui.catalog.load import load_catalog
from pygments.lexers import get_lexer_by_name  # carried as source only: compiled on import
stdlib = {os.path.realpath(sysconfig.get_paths()[k]) for k in ("stdlib", "platstdlib")}
outside = sorted(
    name for name, module in list(sys.modules.items())
    if name not in started_with and getattr(module, "__file__", None)
    and not module.__file__.startswith(tool + os.sep)
    and not any(os.path.realpath(module.__file__).startswith(s + os.sep) for s in stdlib)
)
print(json.dumps({
    "outside": outside,
    "libyaml": yaml.__with_libyaml__,
    "md": charset_normalizer.md.__file__,
    "detected": str(charset_normalizer.from_bytes("Grüße aus Köln".encode("cp1252")).best()),
    "cacert": os.path.isfile(certifi.where()),
    "css": airgap_tui.tui.app.AirgapApp.CSS,
    "majors": len(load_catalog().majors),
    "lexer": type(get_lexer_by_name("python")).__module__,
}))
"""
    run = _run("-c", script, carried_tool, tmp_path=tmp_path)
    assert run.returncode == 0, run.stderr
    found = json.loads(run.stdout)
    assert found["outside"] == []
    assert found["libyaml"] is False
    assert found["md"].startswith(str(carried_tool))
    assert found["detected"] == "Grüße aus Köln"
    assert found["cacert"] is True
    assert found["css"] == (Path(__file__).parents[2] / "airgap_tui/tui/app.tcss").read_text()
    assert found["majors"] > 0
    assert found["lexer"] == "pygments.lexers.python"


def test_the_wizard_opens_its_first_screen_in_a_terminal(
    carried_tool: Path, tmp_path: Path
) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = clean_env(tmp_path / "no-home", tmp, DOCKER_HOST=f"unix://{tmp_path / 'no-engine.sock'}")
    run = run_until_text([*clean_python(), carried_tool], "Import a bundle", env=env, cwd=tmp_path)
    assert "Prepare a bundle" in run.screen and "CI snippet" in run.screen
    assert run.code == 0  # ctrl+q quit it
    assert not (tmp_path / "no-home").exists()


def test_verify_and_import_from_read_only_media(
    carried_tool: Path,
    exported: Path,
    clean_engine: EngineHandle,
    offline_registry: RegistryHandle,
    tmp_path: Path,
) -> None:
    """The tool on the stick next to the bundle, the stick mounted read-only: verify gives the
    installed command's fingerprint, import pushes every image, and not a byte on the stick
    changes."""
    with mounted_tmpfs(tmp_path / "stick", "96m") as stick:
        bundle = stick / "bundle"
        shutil.copytree(exported, bundle)
        shutil.copyfile(carried_tool, bundle / TOOL_FILE)
        subprocess.run(["mount", "-o", "remount,ro", str(stick)], check=True)
        before = tree_state(stick)
        tool = bundle / TOOL_FILE

        verified = _run(tool, "verify", str(bundle), "--json", tmp_path=tmp_path, cwd=bundle)
        assert verified.returncode == 0, verified.stderr
        report = json.loads(verified.stdout)
        assert report["ok"] is True
        assert report["fingerprint"] == verify_bundle(exported).fingerprint

        path = f"zipapp-{uuid.uuid4().hex[:10]}"
        receipts = tmp_path / "receipts"
        imported = _run(
            tool,
            "import",
            str(bundle),
            "--registry",
            f"{offline_registry.host}/{path}",
            "--receipt-dir",
            str(receipts),
            "--json",
            tmp_path=tmp_path,
            DOCKER_HOST=clean_engine.docker_host,
        )
        assert imported.returncode == 0, imported.stderr
        result = json.loads(imported.stdout)
        assert [i["status"] for i in result["images"]] == ["pushed"] * len(IMAGE_NAMES)
        assert Path(result["receipt"]).parent == receipts
        for name in IMAGE_NAMES:
            assert registry_tags(offline_registry.host, f"{path}/{name}") == [TAGS[name]]
        assert tree_state(stick) == before
