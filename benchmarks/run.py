"""airgap-tui's registry-native transport against skopeo and the machine's own tools, in one run.

    .venv/bin/python benchmarks/run.py --size both     # as root, after scripts/test.sh
    .venv/bin/python benchmarks/run.py --size small    # ~5 minutes: enough to refresh RESULTS.md

Builds a synthetic analyzer set (tests/harness/synthetic.py: 7 images sharing base layers,
layers gzip-compressed by Python, about 2:1) and pushes it STRAIGHT to a loopback "upstream"
registry through the API (no engine touches it). Then, for each size, times each contender
against its baseline in the same run, alternating which goes first, with `sync` and the page
cache dropped (as root) before every timed run. One module per measure family:

- transport.py: `airgap-tui export --no-tool` (installed with `pip install .` into a new
  virtualenv, as an operator does) vs `skopeo copy docker://… dir:…` per image; bytes on media
  against the registry's distinct bytes; `airgap-tui import` (straight to the registry) vs
  `skopeo copy --preserve-digests dir:… docker://…` per image, into an emptied offline registry
  each time, every pushed tag's digest read back and compared with upstream's, for both.
- verify.py: `airgap-tui verify` vs `sha256sum` over the parts.
- footprint.py: the estimate against the bytes written; peak RSS, and small vs large.
- engine_route.py: `import --via-docker` vs the seed's `docker load` + `tag` + `push`.
- carried_tool.py: airgap-tui.pyz on its own rows: its size, its share of export time (cache
  warm, and first build), its share of verify, the wizard's first screen and verify run from it.
- end_to_end.py: the default settings, export + verify + import, against skopeo + sha256sum.
- delta.py: full export → import (receipt) → two images get a new top layer upstream →
  `export --delta-from <receipt>`: the delta's bytes against the new blobs', its import against
  pushing the new blobs alone (RegistryClient.push_blob). `--only delta` runs just these and
  rewrites only RESULTS.md's Delta section.
- report.py and readme.py: RESULTS.md (the commit measured, whether its tree was clean, the
  machine, the load average, every sample) and the README's paragraph generated from it.
- runner.py: the order of it all.

Files skopeo writes are fsync'd (`sync FILE…`) inside its timing, as airgap-tui fsyncs its parts
(airgap-tui also reads every part back, inside its timing; skopeo does not). Peak RSS is the
kernel's ru_maxrss of each process (for skopeo, the largest of its per-image processes).
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
# Run as a script, Python puts benchmarks/ first on the path: its modules would shadow any
# top-level module of the same name. The package is imported from the repository root instead.
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(REPO_ROOT)
elif str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from benchmarks.runner import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
