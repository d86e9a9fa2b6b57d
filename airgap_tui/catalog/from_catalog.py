"""The built-in catalog standing in for an instance's templates, when none are given.

Every answer built from it says so: it is what this tool knows of GitLab `major`, not what the
offline instance's own templates ask for.
"""

from __future__ import annotations

from airgap_tui.catalog.catalog import Catalog
from airgap_tui.catalog.template_model import Evaluation, TemplateImage

CATALOG_TEMPLATE = "built-in catalog"


def images_from_catalog(catalog: Catalog, major: int, *, fips: bool = False) -> Evaluation:
    """The images GitLab `major`'s stock templates pull by default, plus the opt-in jobs (with
    their switch), as the catalog records them; entries with no known tag are named in
    `skipped`."""
    images: list[TemplateImage] = []
    skipped: list[str] = []
    for analyzer in catalog.analyzers(major):
        opt_in = analyzer.enable[0][0] if analyzer.enable else None
        if analyzer.removed or not (analyzer.default or opt_in):
            continue
        tag = (analyzer.fips_tag if fips else None) or analyzer.tag
        if tag is None:
            skipped.append(
                f"{analyzer.name}: the built-in catalog knows no tag for GitLab {major}; give "
                "the instance's templates (--templates DIR or --gitlab-url URL)"
            )
            continue
        images.append(
            TemplateImage(
                name=analyzer.path,
                tag=tag,
                job=analyzer.name,
                template=CATALOG_TEMPLATE,
                opt_in=opt_in,
                fips=fips and tag != analyzer.tag,
                under_prefix=analyzer.prefix_based,
                note=None if analyzer.prefix_based else analyzer.note or None,
            )
        )
    return Evaluation(images=tuple(images), skipped=tuple(skipped), templates=())
