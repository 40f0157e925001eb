"""The course's plot style: colour-blind-safe colours, readable sizes, PNG output.

Call :func:`use_course_style` once at the top of a notebook:

>>> from dataethics.plotting import use_course_style, PALETTE
>>> use_course_style()
>>> PALETTE["blue"]
'#0072B2'
"""

from __future__ import annotations

import matplotlib as mpl
from cycler import cycler

#: Okabe & Ito's palette, readable by people with the common colour-vision deficiencies.
PALETTE: dict[str, str] = {
    "blue": "#0072B2",
    "orange": "#E69F00",
    "green": "#009E73",
    "vermillion": "#D55E00",
    "sky": "#56B4E9",
    "purple": "#CC79A7",
    "yellow": "#F0E442",
    "black": "#000000",
}

#: Two colours the lessons use for a contrast: honest/human vs inflated/bot.
GOOD, BAD = PALETTE["blue"], PALETTE["vermillion"]


def use_course_style() -> None:
    """Set matplotlib's defaults for the course (PNG figures, palette, sizes)."""
    mpl.rcParams.update(
        {
            "axes.prop_cycle": cycler(color=list(PALETTE.values())),
            "figure.figsize": (7.0, 4.0),
            "figure.dpi": 90,
            "savefig.dpi": 90,
            "axes.titlesize": 12,
            "axes.titleweight": "bold",
            "axes.labelsize": 11,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "legend.frameon": False,
            "font.family": "DejaVu Sans",
            "svg.hashsalt": "dataethics",
        }
    )
    try:  # only inside IPython: keep figures as PNG so notebook checks compare text only
        from IPython import get_ipython

        shell = get_ipython()
        if shell is not None:
            from matplotlib_inline.backend_inline import set_matplotlib_formats

            set_matplotlib_formats("png")
    except ImportError:  # pragma: no cover - IPython is always there in the course env
        pass
