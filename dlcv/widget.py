"""The base of every course widget: controls, a matplotlib figure, and a text readout.

Design (the convention of every widget: a view class in its room's dlcv/<room>/widgets.py, around
pure functions of the same room):
- The figure is a plain matplotlib Figure (not pyplot), built once. Updates change its artists in
  place (set_data, set_offsets, ...) and re-render it to PNG into an ipywidgets.Image: no
  front-end extension beyond ipywidgets, no flicker, and tests can inspect the artists.
- Controls are attributes (view.k, view.metric), so tests set view.k.value = 5 and check the result.
- Displayed in JupyterLab the view is live; displayed where widgets are not rendered (nbconvert,
  a headless run, GitHub's viewer) the same output carries a static PNG of the current figure.
"""

from __future__ import annotations

import base64
import contextlib
import io

import ipywidgets as widgets
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def slider(description: str, value, min, max, step=1, readout_format=None, width="320px",
           continuous_update: bool = False, log: bool = False):
    """A labelled int/float slider in the course's style (updates on release by default)."""
    kw = dict(description=description, value=value, min=min, max=max, step=step,
              continuous_update=continuous_update, style={"description_width": "initial"},
              layout=widgets.Layout(width=width))
    if log:
        cls = widgets.FloatLogSlider  # min/max are exponents of 10
    elif all(isinstance(v, int) for v in (value, min, max, step)):
        cls = widgets.IntSlider
    else:
        cls = widgets.FloatSlider
    if readout_format:
        kw["readout_format"] = readout_format
    return cls(**kw)


def dropdown(description: str, options, value=None, width="220px"):
    return widgets.Dropdown(description=description, options=options,
                            value=value if value is not None else list(options)[0] if not
                            isinstance(options, dict) else list(options.values())[0],
                            style={"description_width": "initial"},
                            layout=widgets.Layout(width=width))


class FigureView:
    """Controls on top, the figure in the middle, a readout below.

    Subclasses build their figure in __init__ (after calling super().__init__), create their
    controls as attributes, pass them to self.watch(...), and implement update(), which changes
    artists in place and ends with self.render().
    """

    dpi = 80
    _syncing = False  # True while code (not the user) moves several controls: see syncing()

    def __init__(self, figsize=(9.0, 4.0)):
        self.fig = Figure(figsize=figsize, dpi=self.dpi)
        FigureCanvasAgg(self.fig)
        self.image = widgets.Image(format="png", layout=widgets.Layout(max_width="100%"))
        self.readout = widgets.HTML()
        self.renders = 0  # how many times the figure was rendered (tests use it)
        self._controls: list[widgets.Widget] = []
        self._widget: widgets.Widget | None = None

    @contextlib.contextmanager
    def syncing(self):
        """`with self.syncing():` around code that moves several controls at once. Their observers
        each call update(), which returns at once while self._syncing is set; the code then
        updates once. Nested blocks leave the outermost one in charge."""
        outer = self._syncing
        self._syncing = True
        try:
            yield
        finally:
            self._syncing = outer

    # -- building --------------------------------------------------------------------------
    def watch(self, *controls: widgets.Widget) -> None:
        """Register controls: they are shown on top and each change calls update()."""
        for c in controls:
            self._controls.append(c)
            if isinstance(c, widgets.Button):
                c.on_click(lambda _b: self.update())
            else:
                c.observe(lambda _change: self.update(), names="value")

    def control_rows(self) -> list[list[widgets.Widget]]:
        """How the controls are laid out; one row of up to three by default."""
        cs = self._controls
        return [cs[i:i + 3] for i in range(0, len(cs), 3)]

    @property
    def widget(self) -> widgets.Widget:
        if self._widget is None:
            rows = [widgets.HBox(r) for r in self.control_rows()]
            self._widget = widgets.VBox(rows + [self.image, self.readout])
        return self._widget

    # -- updating --------------------------------------------------------------------------
    def update(self) -> None:  # pragma: no cover - every subclass overrides it
        raise NotImplementedError

    def render(self) -> None:
        """Re-render the figure (after its artists changed) into the Image widget."""
        buf = io.BytesIO()
        self.fig.savefig(buf, format="png", dpi=self.dpi)
        self.image.value = buf.getvalue()
        self.renders += 1

    def png(self) -> bytes:
        if not self.image.value:
            self.render()
        return self.image.value

    def savefig(self, path) -> None:
        self.fig.savefig(path, dpi=self.dpi)

    # -- display ---------------------------------------------------------------------------
    def _repr_mimebundle_(self, include=None, exclude=None):
        bundle = self.widget._repr_mimebundle_()
        bundle["image/png"] = base64.b64encode(self.png()).decode("ascii")
        bundle["text/plain"] = f"<{type(self).__name__}: interactive figure>"
        return bundle
