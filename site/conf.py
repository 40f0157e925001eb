"""Sphinx configuration of the course website (built by `make site`)."""

from typing import Any

project = "Data Ethics in Marketing"
author = "Data Ethics in Marketing authors"
copyright = "2026, Data Ethics in Marketing authors (content CC BY 4.0, code MIT)"
language = "en"

extensions = ["myst_nb"]
nb_execution_mode = "off"          # lessons are rendered from their stored outputs
nb_merge_streams = True
myst_enable_extensions = ["colon_fence", "deflist"]  # no math: MathJax would need a CDN
myst_heading_anchors = 3
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
suppress_warnings = ["mystnb.unknown_mime_type"]

html_theme = "sphinx_book_theme"
html_title = "Data Ethics in Marketing"
html_static_path = ["_static"]
html_css_files = ["course.css"]
html_theme_options = {
    "show_toc_level": 2,
    "use_download_button": True,
    "home_page_in_toc": True,
}
html_last_updated_fmt = None
html_favicon = "_static/favicon.svg"


def _name_nav_toggles(app: Any, exception: Exception | None) -> None:
    """Give the sidebar's fold buttons an accessible name (the theme's hold only an icon)."""
    import pathlib

    if exception is not None or app.builder.format != "html":
        return
    bare = '<summary><span class="toctree-toggle" role="presentation">'
    named = ('<summary aria-label="Show or hide this section\'s pages">'
             '<span class="toctree-toggle" role="presentation">')
    for page in pathlib.Path(app.outdir).rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        if bare in text:
            page.write_text(text.replace(bare, named), encoding="utf-8")


def setup(app: Any) -> dict:
    """Sphinx hook: post-process the built pages."""
    app.connect("build-finished", _name_nav_toggles)
    return {"parallel_read_safe": True}
