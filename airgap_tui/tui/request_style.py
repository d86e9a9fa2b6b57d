"""The request screens' stylesheet, read as the app reads app.tcss: through importlib.resources,
so it also loads from inside the carried airgap-tui.pyz."""

from importlib import resources

REQUEST_CSS = resources.files("airgap_tui.tui").joinpath("request.tcss").read_text(encoding="utf-8")
