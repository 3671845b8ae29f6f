"""What a page's Bokeh figure draws, read in the test's process (no browser)."""

from __future__ import annotations

from typing import Any


def figure_of(pane: Any, root: Any) -> Any:
    """The Bokeh figure a ``pn.pane.HoloViews`` drew into the document of ``root``, or the
    figure a ``pn.pane.Bokeh`` shows."""
    if not hasattr(pane, "_plots"):
        return pane.object
    return pane._plots[root.ref["id"]][0].handles["plot"]


def drawn_lines(figure: Any, y: str) -> dict[str, list[float]]:
    """Legend label -> the ``y`` column of each visible line (hidden ones are left out)."""
    out = {}
    for item in figure.legend[0].items:
        for renderer in item.renderers:
            if renderer.visible and type(renderer.glyph).__name__ == "Line":
                out[item.label.value] = [float(v) for v in renderer.data_source.data[y]]
    return out
