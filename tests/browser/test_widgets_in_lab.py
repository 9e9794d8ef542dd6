"""Every lecture widget, live in JupyterLab: rendered, and answering its controls.

For every lecture that shows a widget (found in the notebook itself: a code cell that calls a
view class of a topic's widgets module, dlcv.<topic>.widgets, so a new lecture is covered
without editing this file), open the
notebook in JupyterLab, Run All Cells, wait for the kernel to be idle, and check:
- every code cell ran and no output holds a traceback, "Error displaying widget" or
  "Loading widget";
- each widget is there as a live widget (controls and an image, not the static PNG fallback);
- each control answers: a slider moved by keyboard (focus the handle, ArrowRight, or ArrowLeft
  at the maximum), a dropdown set to its next option, a multiple selection changed, a button or
  toggle button clicked, a checkbox ticked, a number typed: the figure (the <img> of the Image
  widget gets a new src) or the readout text must change;
- JupyterLab's log console (where exceptions raised in widget callbacks go) holds no traceback.
A screenshot of every widget, as first shown and after all its controls were moved, is saved
and its path printed.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
import time
from pathlib import Path

import nbformat
import pytest

from .conftest import REPO, save_screenshot

pytestmark = pytest.mark.browser

# Timeouts guard against hangs only: a busy machine makes the kernel's work and Chromium's rendering
# several times slower, so they are far above what the work takes on an idle one.
RESPONSE_TIMEOUT = 180_000  # ms for the figure or readout to change after a control moved
RENDER_TIMEOUT = 300_000  # ms for every widget of a lecture to show its first figure after Run All
SMALL_STEP_TIMEOUT = 8_000  # ms after one slider step before trying a jump to the end
INERT_TIMEOUT = 5_000  # ms to watch a control listed in INERT
# Controls that may legitimately leave figure and readout unchanged in the state the test
# reaches (after the controls before them were moved): (view class, control label) -> why.
INERT = {
    ("BlockCostView", "cardinality (ResNeXt)"): "only the ResNeXt block has a cardinality",
    ("LinearClassifierView", "fit loss"): "it chooses the loss of the next fit (the button after it)",
}


# ------------------------------------------------------------------------------------------
# Which lectures show which widgets
# ------------------------------------------------------------------------------------------
def widget_modules() -> list[str]:
    """The widgets module of every topic room: dlcv.<topic>.widgets."""
    import dlcv

    return [f"dlcv.{info.name}.widgets" for info in pkgutil.iter_modules(dlcv.__path__)
            if info.ispkg and (Path(dlcv.__path__[0]) / info.name / "widgets.py").is_file()]


WIDGET_MODULES = widget_modules()


def widget_classes() -> dict[str, type]:
    """Every view class (a FigureView subclass) of the topics' widgets modules, by name."""
    from dlcv.widget import FigureView

    found = {}
    for name in WIDGET_MODULES:
        module = importlib.import_module(name)
        for cls_name, obj in vars(module).items():
            if (isinstance(obj, type) and issubclass(obj, FigureView) and obj is not FigureView
                    and obj.__module__ == module.__name__):
                found[cls_name] = obj
    return found


def _code(source: str) -> ast.Module | None:
    lines = ["" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()]
    try:
        return ast.parse("\n".join(lines))
    except SyntaxError:
        return None


def widgets_shown(notebook: Path, classes: dict[str, type]) -> list[str]:
    """The view classes that the notebook's code cells construct, in cell order: calls of a
    name imported from a widgets module (`from dlcv.classification.widgets import KNNRegionsView`)
    or of an attribute of an imported one (`widgets.KNNRegionsView(...)`)."""
    nb = nbformat.read(notebook, as_version=4)
    trees = [t for c in nb.cells if c.cell_type == "code" and (t := _code(c.source)) is not None]
    names, modules = {}, set()
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module in WIDGET_MODULES:
                for a in node.names:
                    if a.name in classes:
                        names[a.asname or a.name] = a.name
            elif isinstance(node, ast.ImportFrom) and f"{node.module}.widgets" in WIDGET_MODULES:
                modules.update(a.asname or a.name for a in node.names if a.name == "widgets")
            elif isinstance(node, ast.Import):
                modules.update(a.asname for a in node.names if a.name in WIDGET_MODULES and a.asname)
    shown = []
    for tree in trees:
        calls = sorted((n for n in ast.walk(tree) if isinstance(n, ast.Call)),
                       key=lambda n: (n.lineno, n.col_offset))
        for call in calls:
            f = call.func
            if isinstance(f, ast.Name) and f.id in names:
                shown.append(names[f.id])
            elif (isinstance(f, ast.Attribute) and f.attr in classes
                  and isinstance(f.value, ast.Name) and f.value.id in modules):
                shown.append(f.attr)
    return shown


CLASSES = widget_classes()
SHOWN = {p.name: widgets_shown(p, CLASSES) for p in sorted((REPO / "lectures").glob("*.ipynb"))}
WIDGET_LECTURES = {name: shown for name, shown in SHOWN.items() if shown}


def test_every_widget_is_shown_in_a_lecture():
    """The discovery finds the widgets, and no view class of a widgets module goes untested."""
    assert WIDGET_LECTURES, "no lecture constructs a widgets view: the discovery is broken"
    shown = {c for v in WIDGET_LECTURES.values() for c in v}
    assert set(CLASSES) <= shown, (
        f"view classes no lecture shows (so no browser test exercises them): "
        f"{sorted(set(CLASSES) - shown)}")


# ------------------------------------------------------------------------------------------
# Controls
# ------------------------------------------------------------------------------------------
# The widget's state as the eye sees it: the image sources (a new figure gets a new blob URL) and
# the HTML readouts. (Slider readouts are left out: they change whenever the slider moves.)
_JS_SIGNATURE = """el => [...el.querySelectorAll('img')].map(i => i.src).join(' ') + '\\n'
    + [...el.querySelectorAll('.widget-html-content')].map(e => e.innerHTML).join('\\n')"""

_CONTROL_SELECTORS = {
    "slider": ".widget-slider .noUi-handle",
    "dropdown": ".widget-dropdown select",
    "selection": ".widget-select-multiple select",
    "toggle buttons": ".widget-toggle-buttons",
    "checkbox": ".widget-checkbox input[type=checkbox]",
    "button": "button.widget-button",
    "number": ".widget-text input[type=number]",
}

# Mark every control of a widget output with data-dlcv-control="i" (document order) and describe it.
_JS_CONTROLS = """(el, selectors) => {
  const all = [...el.querySelectorAll(Object.values(selectors).join(','))];
  return all.map((c, i) => {
    c.setAttribute('data-dlcv-control', String(i));
    const kind = Object.keys(selectors).find(k => c.matches(selectors[k]));
    const box = c.closest('.widget-inline-hbox');
    const lab = box && box.querySelector('.widget-label');
    let label = kind === 'button' ? c.textContent : (lab ? lab.textContent : '');
    if (kind === 'checkbox') label = c.closest('.widget-checkbox').textContent;
    return {index: i, kind, label: label.replace(/\u200b/g, '').trim()};
  });
}"""

_JS_DISABLED = """c => {
  if (c.classList.contains('noUi-handle')) return c.closest('.noUi-target').hasAttribute('disabled');
  if (c.matches('.widget-toggle-buttons'))
    return [...c.querySelectorAll('button')].every(b => b.disabled);
  return c.disabled;
}"""


def _signature(widget) -> str:
    return widget.evaluate(_JS_SIGNATURE)


def _settle(nb, widget) -> None:
    """Wait for the kernel to be idle and the widget to stop changing."""
    nb.wait_idle(RESPONSE_TIMEOUT)
    last, stable = _signature(widget), 0
    while stable < 2:
        nb.page.wait_for_timeout(300)
        now = _signature(widget)
        stable, last = (stable + 1 if now == last else 0), now
        if stable == 0:
            nb.wait_idle(RESPONSE_TIMEOUT)


def move(control, kind: str, again: bool = False) -> str:
    """Operate one control as a person would; return what was done. `again`: a second, larger
    move of a slider whose first step changed nothing visible (End, or Home at the maximum)."""
    if kind == "slider":
        now, hi = (float(control.get_attribute(a)) for a in ("aria-valuenow", "aria-valuemax"))
        key = ("End" if now < hi else "Home") if again else ("ArrowRight" if now < hi else "ArrowLeft")
        was = control.get_attribute("aria-valuetext")
        control.focus()
        control.press(key)
        return f"pressed {key} on the handle (from {was})"
    if kind == "dropdown":
        options = control.evaluate("s => [...s.options].map(o => o.value)")
        i = (control.evaluate("s => s.selectedIndex") + 1) % len(options)
        control.select_option(index=i)
        return f"selected {options[i]!r}"
    if kind == "selection":
        options = control.evaluate("s => [...s.options].map(o => o.value)")
        chosen = control.evaluate("s => [...s.selectedOptions].map(o => o.value)")
        new = options if len(chosen) < len(options) else options[:1]
        control.select_option(new)
        return f"selected {new}"
    if kind == "toggle buttons":
        button = control.locator("button:not(.mod-active)").first
        text = button.inner_text()
        button.click()
        return f"clicked {text!r}"
    if kind in ("checkbox", "button"):
        control.click()
        return "clicked"
    if kind == "number":
        value = float(control.input_value() or 0)
        step = float(control.get_attribute("step") or 1)
        hi = control.get_attribute("max")
        new = value + step if hi is None or value + step <= float(hi) else value - step
        text = str(int(new)) if new == int(new) else str(new)
        control.fill(text)
        control.press("Enter")
        return f"typed {text}"
    raise ValueError(kind)


def _responds(nb, widget, before: str, timeout: float) -> bool:
    """Whether the figure or the readout changes from `before` within `timeout` ms; then wait
    until the kernel is idle and the widget stops changing."""
    try:
        nb.page.wait_for_function(f"([el, before]) => ({_JS_SIGNATURE})(el) !== before",
                                  arg=[widget.element_handle(), before], timeout=timeout,
                                  polling=200)
        changed = True
    except Exception:  # noqa: BLE001 - Playwright's TimeoutError
        changed = False
    _settle(nb, widget)
    return changed


def exercise(nb, widget, view: str) -> tuple[list[str], list[str]]:
    """Move every enabled control of one widget output; return (log lines, failures)."""
    log, failures = [], []
    controls = widget.evaluate(_JS_CONTROLS, _CONTROL_SELECTORS)
    if not controls:
        return log, [f"{view}: no controls found"]
    for c in controls:
        control = widget.locator(f'[data-dlcv-control="{c["index"]}"]')
        name = f'{c["kind"]} {c["label"] or "#" + str(c["index"])!r}'
        if control.evaluate(_JS_DISABLED):
            log.append(f"  {name}: disabled, left alone")
            continue
        inert = INERT.get((view, c["label"]))
        t0 = time.monotonic()
        before = _signature(widget)
        did = move(control, c["kind"])
        if c["kind"] == "slider" and not inert:
            # One step may change nothing visible (a tiny term printed to 3 decimals): then
            # jump to the end of the range.
            changed = _responds(nb, widget, before, SMALL_STEP_TIMEOUT)
            if not changed:
                did += ", no visible change; then " + move(control, c["kind"], again=True)
                changed = _responds(nb, widget, before, RESPONSE_TIMEOUT)
        else:
            changed = _responds(nb, widget, before, INERT_TIMEOUT if inert else RESPONSE_TIMEOUT)
        took = time.monotonic() - t0
        if changed:
            log.append(f"  {name}: {did} -> figure/readout changed ({took:.1f} s)")
        elif inert:
            log.append(f"  {name}: {did} -> unchanged, as expected: {inert}")
        else:
            log.append(f"  {name}: {did} -> NOTHING CHANGED in {took:.0f} s")
            failures.append(f"{view}: {name}: {did}, but neither the figure nor the readout "
                            f"changed within {took:.0f} s")
            if len(failures) >= 2:
                failures.append(f"{view}: stopped after two controls without effect")
                break
    return log, failures


# ------------------------------------------------------------------------------------------
# The test
# ------------------------------------------------------------------------------------------
_WIDGET_OUTPUTS = ".jp-OutputArea-output:has(.jupyter-widgets img)"
_JS_PLACEHOLDERS = """() => [...document.querySelectorAll(
      '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output')].map(e => e.textContent)
    .filter(t => /Error displaying widget|Loading widget/.test(t))"""


@pytest.mark.parametrize("lecture", sorted(WIDGET_LECTURES))
def test_widgets_render_and_respond(lecture, open_notebook, screenshots):
    views = WIDGET_LECTURES[lecture]
    source = nbformat.read(REPO / "lectures" / lecture, as_version=4)
    code_cells = sum(1 for c in source.cells if c.cell_type == "code" and c.source.strip())
    stem = Path(lecture).stem

    t0 = time.monotonic()
    nb = open_notebook(f"lectures/{lecture}")
    opened = time.monotonic() - t0
    seconds = nb.run_all(code_cells)
    print(f"{lecture}: opened with an idle kernel in {opened:.0f} s, Run All Cells took {seconds:.0f} s")
    assert not nb.tracebacks(), f"{lecture}: a cell failed:\n" + "\n".join(nb.tracebacks())
    prompts = nb.prompts()
    not_run = [i for i, p in enumerate(prompts) if not re.search(r"\[\d+\]", p)]
    assert not not_run, f"{lecture}: code cells {not_run} did not run ({prompts})"

    widgets = nb.panel.locator(_WIDGET_OUTPUTS)
    page = nb.page
    # The widget views are created from the kernel's messages: wait for all of them and their
    # first figure.
    page.wait_for_function(
        """([sel, n]) => { const w = document.querySelectorAll(sel);
             return w.length >= n && [...w].every(o => [...o.querySelectorAll('img')]
               .every(i => i.src && i.src.startsWith('blob:'))); }""",
        arg=[f".jp-NotebookPanel:not(.lm-mod-hidden) {_WIDGET_OUTPUTS}", len(views)],
        timeout=RENDER_TIMEOUT, polling=500)
    try:  # "Loading widget" goes away when the view is built; "Error displaying widget" stays
        page.wait_for_function(f"() => !({_JS_PLACEHOLDERS})().some(t => t.includes('Loading widget'))",
                               timeout=RENDER_TIMEOUT, polling=500)
    except Exception:  # noqa: BLE001 - reported by the assertion below
        pass
    assert not page.evaluate(_JS_PLACEHOLDERS), (
        f"{lecture}: a widget did not display: {page.evaluate(_JS_PLACEHOLDERS)}")
    assert widgets.count() == len(views), (
        f"{lecture}: the code constructs {views} but {widgets.count()} live widgets are shown")

    report, failures = [], []
    for i, view in enumerate(views):
        widget = widgets.nth(i)
        widget.scroll_into_view_if_needed()
        assert widget.locator("img.widget-image").count() >= 1, f"{view}: no Image widget"
        save_screenshot(widget, screenshots, f"{stem}-{i + 1}-{view}-initial")
        t1 = time.monotonic()
        log, failed = exercise(nb, widget, view)
        report += [f"{view} (widget {i + 1}): {time.monotonic() - t1:.0f} s"] + log
        failures += failed
        save_screenshot(widget, screenshots, f"{stem}-{i + 1}-{view}-after")
    print("\n".join(report))

    assert not nb.tracebacks(), f"{lecture}: an output shows a traceback:\n" + "\n".join(
        nb.tracebacks())
    assert not page.evaluate(_JS_PLACEHOLDERS), f"{lecture}: {page.evaluate(_JS_PLACEHOLDERS)}"
    log_console = nb.log_console_text()
    print(f"{lecture}: {time.monotonic() - t0:.0f} s in all")
    # Uncaught exceptions in the page's JavaScript (a widget view that throws); the browser's
    # harmless ResizeObserver notice is not one.
    js_errors = [e for e in page.page_errors if "ResizeObserver loop" not in e]
    assert not js_errors, f"{lecture}: JavaScript errors in the page: {js_errors}"
    assert "Traceback" not in log_console and "Error" not in log_console, (
        f"{lecture}: JupyterLab's log console shows an error from a widget callback:\n"
        f"{log_console}")
    assert not failures, f"{lecture}:\n" + "\n".join(failures) + "\n\n" + "\n".join(report)


BROKEN_WIDGET = '''\
from dlcv.widget import FigureView, slider


class BrokenView(FigureView):
    """A widget whose callback raises: the test below must see it."""

    def __init__(self):
        super().__init__(figsize=(3, 2))
        self.fig.add_subplot().plot([0, 1], [0, 1])
        self.k = slider("k", 1, 0, 10)
        self.watch(self.k)
        self.render()

    def update(self):
        raise ValueError("a bug in a widget callback")


BrokenView()
'''


def test_an_exception_in_a_widget_callback_is_caught(lab, open_notebook):
    """The checks above can fail: an exception raised in a widget's callback shows only in
    JupyterLab's log console (not in the cell), and the test reads it from there."""
    nb_file = lab.root / "broken_widget.ipynb"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(BROKEN_WIDGET)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                 "language": "python"}
    nbformat.write(nb, nb_file)
    notebook = open_notebook(nb_file.name)
    notebook.run_all(1)
    widget = notebook.panel.locator(_WIDGET_OUTPUTS).first
    controls = widget.evaluate(_JS_CONTROLS, _CONTROL_SELECTORS)
    assert [c["kind"] for c in controls] == ["slider"], controls
    before = _signature(widget)
    move(widget.locator('[data-dlcv-control="0"]'), "slider")
    notebook.menu("View", "Show Log Console")
    console = notebook.page.locator(".jp-LogConsolePanel").first
    console.get_by_text("a bug in a widget callback").first.wait_for(state="visible",
                                                                   timeout=RESPONSE_TIMEOUT)
    assert "Traceback" in console.inner_text()
    assert _signature(widget) == before  # the figure did not change: the other check would fail
    assert not notebook.tracebacks()  # the cell itself shows nothing wrong
