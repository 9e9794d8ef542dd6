"""Interactive figures for the lectures (ipywidgets + matplotlib).

Each widget is a small class around pure functions elsewhere in dlcv; see base.FigureView.
"""

from dlcv.widgets.base import FigureView, dropdown, slider

__all__ = ["FigureView", "dropdown", "slider"]
