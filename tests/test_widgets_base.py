"""dlcv.widget: the figure view every widget builds on, tested without a browser."""

import base64

import ipywidgets as widgets
import numpy as np

from dlcv.widget import FigureView, dropdown, slider


class Line(FigureView):
    """A minimal widget: y = a x, with a slider for a."""

    def __init__(self):
        super().__init__(figsize=(3, 2))
        ax = self.fig.add_subplot()
        self.x = np.linspace(0, 1, 5)
        (self.line,) = ax.plot(self.x, self.x)
        self.a = slider("a", 1.0, -2.0, 2.0, 0.5)
        self.kind = dropdown("kind", ["x", "x^2"])
        self.again = widgets.Button(description="again")
        self.watch(self.a, self.kind, self.again)
        self.update()

    def update(self):
        if self._syncing:
            return
        p = 1 if self.kind.value == "x" else 2
        self.line.set_ydata(self.a.value * self.x**p)
        self.readout.value = f"a = {self.a.value}"
        self.render()


def test_controls_update_artists_in_place_and_rerender():
    v = Line()
    line, png, n = v.line, v.image.value, v.renders
    v.a.value = 2.0
    assert v.line is line  # the same artist, changed in place
    np.testing.assert_allclose(v.line.get_ydata(), 2 * v.x)
    assert v.renders == n + 1 and v.image.value != png
    assert v.readout.value == "a = 2.0"
    v.kind.value = "x^2"
    np.testing.assert_allclose(v.line.get_ydata(), 2 * v.x**2)
    v.again.click()
    assert v.renders == n + 3


def test_syncing_moves_several_controls_with_one_update():
    """Code that moves several controls (a preset, a follower) does it inside syncing(): each
    control's own update waits, the code renders once; nested blocks keep the outer in charge."""
    v = Line()
    n = v.renders
    with v.syncing():
        v.a.value = -1.0
        with v.syncing():
            v.kind.value = "x^2"
        assert v._syncing  # the inner block ended; the outer still holds
        v.a.value = 0.5
    assert not v._syncing and v.renders == n  # no update ran inside
    v.update()
    assert v.renders == n + 1
    np.testing.assert_allclose(v.line.get_ydata(), 0.5 * v.x**2)
    try:
        with v.syncing():
            raise RuntimeError("a bad preset")
    except RuntimeError:
        pass
    assert not v._syncing  # an error inside never leaves the view deaf


def test_display_bundle_has_live_widget_and_static_png():
    v = Line()
    bundle = v._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    png = base64.b64decode(bundle["image/png"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert isinstance(v.widget, widgets.VBox)
    assert v.widget.children[-2] is v.image and v.widget.children[-1] is v.readout


def test_slider_kinds():
    assert isinstance(slider("k", 1, 1, 9), widgets.IntSlider)
    assert isinstance(slider("lr", 0.1, 0.0, 1.0, 0.1), widgets.FloatSlider)
    s = slider("reg", 1e-3, -5, 0, 0.5, log=True)
    assert isinstance(s, widgets.FloatLogSlider) and s.continuous_update is False
