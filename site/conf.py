"""Sphinx configuration of the course website (built by `make site`)."""

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
