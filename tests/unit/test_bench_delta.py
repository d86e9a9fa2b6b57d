"""The delta rows' helpers in benchmarks/delta.py: the changed image and RESULTS.md's Delta section.

The delta run itself talks to real registries (benchmarks/run.py --only delta); these pin the
parts that decide what it measures and what it keeps of RESULTS.md.
"""

from __future__ import annotations

import json

from benchmarks import delta as bench
from tests.harness.native import sha256_digest
from tests.harness.synthetic import analyzer_set


def test_changed_image_gets_only_a_new_top_layer() -> None:
    images = analyzer_set(200_000, path="p", label="t")
    for old in images:
        new = bench.changed_image(old, "t-v2")
        assert (new.name, new.tag, new.path, new.media_type) == (
            old.name,
            old.tag,
            old.path,
            old.media_type,
        )
        assert new.layers[:-1] == old.layers[:-1]
        assert new.layers[-1].digest != old.layers[-1].digest
        assert new.config.digest != old.config.digest and new.digest != old.digest
        manifest = json.loads(new.manifest)
        assert manifest["config"]["digest"] == sha256_digest(new.config.data)
        assert [d["digest"] for d in manifest["layers"]] == [b.digest for b in new.layers]
        old_ids = json.loads(old.config.data)["rootfs"]["diff_ids"]
        new_ids = json.loads(new.config.data)["rootfs"]["diff_ids"]
        assert new_ids[:-1] == old_ids[:-1] and new_ids[-1] != old_ids[-1]


def test_splice_delta_appends_then_replaces_only_its_section() -> None:
    text = "# Benchmarks\n\n| table |\n\n## Machine\n\n- cpu\n\n## Notes\n\n- by hand\n"
    first = bench.splice_delta(text, [bench.DELTA_HEADING, "", "run one", ""])
    assert first.startswith(text.rstrip("\n"))
    assert first.endswith(f"{bench.DELTA_HEADING}\n\nrun one\n")
    second = bench.splice_delta(first, [bench.DELTA_HEADING, "", "run two", ""])
    assert "run one" not in second and second.count(bench.DELTA_HEADING) == 1
    assert second.startswith(text.rstrip("\n")) and "run two" in second
    # a section followed by another keeps what follows
    middle = first + "\n## Later\n\n- kept\n"
    third = bench.splice_delta(middle, [bench.DELTA_HEADING, "", "run three", ""])
    assert "run one" not in third and "- kept" in third and "- by hand" in third
