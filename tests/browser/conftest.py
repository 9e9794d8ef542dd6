"""Browser tests: the course in a real JupyterLab, driven by Playwright and Debian's Chromium.

A widget that passes its unit tests can still show "Error displaying widget" in JupyterLab (a
missing front-end extension, a version skew, an exception in a callback that only the log console
shows), and the nbgrader buttons and pages exist only in a browser. These tests open the course
as a student and as an instructor would.

    make test-browser            # these tests alone (they are also part of `make test`)
    make setup-browser           # apt-get install chromium, pip install playwright (if missing)

Fixtures:
- ``lab`` (one per pytest process): JupyterLab on 127.0.0.1, a free port, a random token, private
  config / runtime / data / settings / workspace directories, serving a scratch copy of the
  course (lectures, assignments, the nbgrader configuration), so the repository's notebooks are
  never saved with outputs. The venv's share/jupyter stays on the data path, so the lab
  extensions of ipywidgets and nbgrader load. Stopped at the end (kernels shut down through the
  REST API, then the server; terminate, wait, kill).
- ``browser`` (one per pytest process): Chromium at /usr/bin/chromium (DLCV_CHROMIUM overrides)
  through the Playwright package. Playwright's own browser download is not used. If Chromium or
  Playwright is missing or cannot start, the tests FAIL with how to install them; never skip.
- ``page``: a fresh browser context and tab. JupyterLab's question "Would you like to get
  notified about official Jupyter news?" is answered "No" whenever it shows up.
- ``open_notebook``: opens a notebook of the scratch course in its own JupyterLab workspace and
  returns a ``Notebook`` (run all, wait for the kernel, read outputs, the log console); its
  kernel is shut down after the test.

Waits are on JupyterLab's own state (the kernel status in the status bar and the notebook
toolbar, the cells' execution counts, the widgets' images), with generous timeouts: the machine
may be busy with the rest of the suite. Screenshots go to tests/browser/screenshots/ (git-ignored;
DLCV_SCREENSHOTS overrides); each test prints the paths of its screenshots.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("DLCV_CHROMIUM", "/usr/bin/chromium"))
# Without the background-networking flags Chromium tries to reach Google's services, and on a
# closed network its connections are refused. As root Chromium needs --no-sandbox.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic",
                 "--disable-dev-shm-usage"]
SCREENSHOTS = Path(os.environ.get("DLCV_SCREENSHOTS") or Path(__file__).parent / "screenshots")
INSTALL_HINT = ("The browser tests need Debian's Chromium at /usr/bin/chromium and the Playwright "
                "Python package: run `make setup-browser` (it runs `apt-get install -y chromium` "
                "and `pip install -r requirements.txt`), or by hand `sudo apt-get install chromium` "
                "and `.venv/bin/pip install playwright`. Playwright's own browser download is not "
                "needed.")

SERVER_START_TIMEOUT = 180  # s, JupyterLab importing its extensions on a busy machine
KERNEL_START_TIMEOUT = 180_000  # ms
RUN_ALL_TIMEOUT = 900_000  # ms; a lecture takes 10-40 s alone, several times that under load
DEFAULT_TIMEOUT = 90_000  # ms, every Playwright action and wait
NEWS_QUESTION = re.compile("official Jupyter news")


# ------------------------------------------------------------------------------------------
# JupyterLab
# ------------------------------------------------------------------------------------------
def make_scratch_course(root: Path) -> Path:
    """A copy of the course that JupyterLab may modify: lecture and assignment notebooks and the
    nbgrader configuration (whose course root is the folder holding it)."""
    (root / "lectures").mkdir(parents=True)
    for nb in sorted((REPO / "lectures").glob("*.ipynb")):
        shutil.copy2(nb, root / "lectures" / nb.name)
    # The jupytext .py twins hold the solutions and are never released: leave them out (the
    # hidden tests, which grading and release need, stay).
    def ignore(folder, names):
        return {n for n in names if n.endswith(".py") and n != "hidden_tests.py"
                or n in (".ipynb_checkpoints", "__pycache__")}

    shutil.copytree(REPO / "assignments", root / "assignments", ignore=ignore)
    (root / "autograder").mkdir()
    shutil.copy2(REPO / "autograder" / "nbgrader_config.py", root / "autograder")
    shutil.copy2(REPO / "nbgrader_config.py", root)
    return root


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class JupyterLab:
    """One JupyterLab server on 127.0.0.1 serving a scratch course, with private directories."""

    def __init__(self, base: Path):
        self.base = base
        self.root = make_scratch_course(base / "course")
        self.token = secrets.token_hex(16)
        self.log_path = base / "jupyterlab.log"
        self.settings_dir = base / "settings"
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self.news_answered = False

    # -- environment -------------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if k not in ("MPLBACKEND", "DLCV_GRADEBOOK", "JUPYTER_CONFIG_PATH")}
        # MPLBACKEND is unset so that kernels use the inline backend, as under `make lab`.
        for name in ("config", "runtime", "data", "ipython"):
            (self.base / name).mkdir(exist_ok=True)
        env.update(
            # Private user-level directories. The venv's etc/jupyter and share/jupyter stay on
            # the config and data paths (sys.prefix), so its server and lab extensions load.
            JUPYTER_CONFIG_DIR=str(self.base / "config"),
            JUPYTER_RUNTIME_DIR=str(self.base / "runtime"),
            JUPYTER_DATA_DIR=str(self.base / "data"),
            IPYTHONDIR=str(self.base / "ipython"),
            DLCV_COURSE_ROOT=str(self.root),
            PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""),
        )
        return env

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "jupyterlab",
               "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}",
               "--ServerApp.port_retries=0", f"--IdentityProvider.token={self.token}",
               f"--ServerApp.root_dir={self.root}", "--ServerApp.open_browser=False",
               "--ServerApp.terminals_enabled=False",
               "--LabApp.news_url=None",
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
               f"--LabApp.user_settings_dir={self.settings_dir}",
               f"--LabApp.workspaces_dir={self.base / 'workspaces'}"]
        if os.geteuid() == 0:
            cmd.append("--allow-root")  # JupyterLab refuses to run as root without it
        return cmd

    # -- life cycle --------------------------------------------------------------------------
    def start(self) -> None:
        errors = []
        for _attempt in range(3):  # a port taken between choosing and binding: try another
            self.port = _free_port()
            log = open(self.log_path, "ab")  # noqa: SIM115 - kept open for the server's life
            # nbgrader's server extensions read nbgrader_config.py from the working directory.
            self.proc = subprocess.Popen(self.command(), cwd=self.root, env=self.env(), stdout=log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            log.close()
            deadline = time.monotonic() + SERVER_START_TIMEOUT
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                try:
                    self.api("GET", "api/status", timeout=5)
                    return
                except (OSError, urllib.error.URLError):
                    time.sleep(0.5)
            errors.append(f"exit code {self.proc.poll()}")
            self._kill()
        pytest.fail(f"JupyterLab did not start ({'; '.join(errors)}). Its log:\n{self.log_tail()}",
                    pytrace=False)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            self.shutdown_kernels()
            self.api("POST", "api/shutdown", timeout=10)
        except (OSError, urllib.error.URLError):
            pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._kill()

    def _kill(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=15)

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    # -- REST --------------------------------------------------------------------------------
    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}"

    def api(self, method: str, path: str, timeout: float = 30):
        req = urllib.request.Request(self.url(path), method=method,
                                     headers={"Authorization": f"token {self.token}"})
        if method in ("POST", "PUT", "PATCH"):
            req.data = b"{}"
            req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=timeout) as r:
            body = r.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self, path: str | None = None) -> None:
        """Shut down the kernel of notebook `path` (all kernels when None)."""
        for s in self.api("GET", "api/sessions"):
            if path is None or s.get("path") == path:
                self.api("DELETE", f"api/sessions/{s['id']}")
        if path is None:
            for k in self.api("GET", "api/kernels"):
                self.api("DELETE", f"api/kernels/{k['id']}")

    def news_setting(self) -> str | None:
        f = self.settings_dir / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
        if not f.is_file():
            return None
        m = re.search(r'"fetchNews"\s*:\s*"(\w+)"', f.read_text())
        return m.group(1) if m else None


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    t0 = time.monotonic()
    server = JupyterLab(tmp_path_factory.mktemp("jupyterlab"))
    server.start()
    print(f"JupyterLab {server.url()} serving {server.root} (started in "
          f"{time.monotonic() - t0:.0f} s; log {server.log_path})")
    try:
        yield server
    finally:
        server.stop()


# ------------------------------------------------------------------------------------------
# Chromium through Playwright
# ------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as e:
        pytest.fail(f"The Playwright package is not installed ({e}).\n{INSTALL_HINT}", pytrace=False)
    if not CHROMIUM.exists():
        pytest.fail(f"Chromium is not installed: {CHROMIUM} does not exist.\n{INSTALL_HINT}",
                    pytrace=False)
    pw = sync_playwright().start()
    try:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
                                      headless=True, timeout=120_000)
    except Exception as e:  # noqa: BLE001 - any launch failure gets the same advice
        pw.stop()
        pytest.fail(f"Chromium ({CHROMIUM}) cannot start: {e}\n{INSTALL_HINT}", pytrace=False)
    try:
        yield chromium
    finally:
        chromium.close()
        pw.stop()


def answer_news_question(page, toast) -> None:
    """Click "No" on JupyterLab's news question (the toast offering official Jupyter news)."""
    toast.get_by_role("button", name="No", exact=True).click()


@pytest.fixture
def page(browser, lab):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, device_scale_factor=1)
    context.set_default_timeout(DEFAULT_TIMEOUT)
    tab = context.new_page()
    tab.page_errors = []  # uncaught exceptions in the page's JavaScript
    tab.on("pageerror", lambda e: tab.page_errors.append(str(e)))
    news = tab.locator(".Toastify__toast").filter(has_text=NEWS_QUESTION)
    # Whenever the question covers the page before an action, answer it first.
    tab.add_locator_handler(news.first, lambda toast: answer_news_question(tab, toast))
    tab.news_toast = news
    try:
        yield tab
    finally:
        context.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


def save_screenshot(locator, folder: Path, name: str) -> Path:
    path = folder / f"{name}.png"
    locator.screenshot(path=str(path), animations="disabled")
    print(f"screenshot: {path}")
    return path


# ------------------------------------------------------------------------------------------
# A notebook open in JupyterLab
# ------------------------------------------------------------------------------------------
_PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"

# The kernel is idle as the status bar says ("Python 3 (ipykernel) | Idle") and as the notebook
# toolbar's execution indicator holds it (data-status="idle").
_JS_IDLE = """() => {
  const item = [...document.querySelectorAll('.jp-StatusBar-TextItem')]
      .map(e => e.textContent).find(t => / \\| \\w+/.test(t)) || '';
  const ind = document.querySelector('PANEL .jp-Notebook-ExecutionIndicator');
  return item.endsWith('| Idle') && (!ind || ind.dataset.status === 'idle');
}""".replace("PANEL", _PANEL)

# Cells' execution counts: "[12]:" done, "[*]:" queued or running, "[ ]:" not run.
_JS_PROMPTS = """() => [...document.querySelectorAll('PANEL .jp-CodeCell .jp-InputArea-prompt')]
    .map(e => e.textContent.trim())""".replace("PANEL", _PANEL)

_JS_TRACEBACKS = """() => [...document.querySelectorAll('PANEL .jp-OutputArea-output')]
    .map(e => e.textContent)
    .filter(t => t.includes('Traceback (most recent call last)')
                 || t.includes('CheckFailed'))""".replace("PANEL", _PANEL)

# Finished: nothing queued or running, the kernel idle, and `cells` cells with execution counts
# or `errors` outputs with a traceback (Run All stops at the first error).
_JS_RUN_DONE = """([cells, errors]) => {
  const prompts = (PROMPTS)();
  if (prompts.some(p => p.includes('*'))) return false;
  const done = prompts.filter(p => /\\[\\d+\\]/.test(p)).length;
  return (IDLE)() && (done >= cells || (TRACEBACKS)().length >= errors);
}""".replace("PROMPTS", _JS_PROMPTS).replace("IDLE", _JS_IDLE).replace("TRACEBACKS", _JS_TRACEBACKS)


def goto_lab(page, lab: JupyterLab, where: str = "") -> None:
    """Open JupyterLab in a fresh workspace (nothing restored from other tests), at `where`
    ("tree/lectures/x.ipynb", or "" for the launcher); answer the news question; collapse the
    file browser to leave room for the notebook."""
    workspace = f"dlcv-{uuid.uuid4().hex[:10]}"
    page.goto(lab.url(f"lab/workspaces/{workspace}/{where}?token={lab.token}"))
    page.locator("#jp-main-statusbar").wait_for(state="visible")
    if not lab.news_answered:
        # A fresh JupyterLab asks once whether to fetch news: answer "No" (the handler of the
        # `page` fixture does it too should it show up later, before any action).
        try:
            page.news_toast.first.wait_for(state="visible", timeout=20_000)
            answer_news_question(page, page.news_toast.first)
            page.news_toast.first.wait_for(state="hidden")
        except Exception:  # noqa: BLE001 - not asked: an earlier page of this server answered
            pass
        lab.news_answered = lab.news_setting() == "false"
    current = page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current")
    if current.count():
        current.first.click()


def menu(page, *names: str) -> None:
    """Click through JupyterLab's menu bar, e.g. menu(page, "Run", "Run All Cells")."""
    page.locator("#jp-menu-panel").get_by_role("menuitem", name=names[0], exact=True).click()
    for name in names[1:]:
        page.locator(".lm-Menu").get_by_role("menuitem", name=name, exact=True).click()


class Notebook:
    """A notebook of the scratch course open in its own JupyterLab workspace."""

    def __init__(self, page, lab: JupyterLab, path: str):
        self.page, self.lab, self.path = page, lab, path
        self.panel = page.locator(_PANEL)

    def open(self) -> Notebook:
        goto_lab(self.page, self.lab, f"tree/{self.path}")
        self.panel.locator(".jp-Notebook .jp-Cell").first.wait_for(state="visible")
        self.wait_idle(KERNEL_START_TIMEOUT)
        return self

    # -- kernel and execution ----------------------------------------------------------------
    def wait_idle(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.page.wait_for_function(_JS_IDLE, timeout=timeout, polling=250)

    def menu(self, *names: str) -> None:
        menu(self.page, *names)

    def run_all(self, expected_cells: int, timeout: float = RUN_ALL_TIMEOUT) -> float:
        """Run > Run All Cells, then wait until the kernel is idle and `expected_cells` cells
        have execution counts (or an error stopped the run). Returns the seconds it took."""
        return self.run(("Run", "Run All Cells"), cells=expected_cells, timeout=timeout)

    def run(self, menu_path: tuple[str, ...], cells: int = 10**9, errors: int = 1,
            timeout: float = RUN_ALL_TIMEOUT) -> float:
        """Run cells through a menu, then wait until nothing is queued, the kernel is idle and
        `cells` code cells have execution counts or `errors` outputs show a traceback."""
        t0 = time.monotonic()
        self.menu(*menu_path)
        self.page.wait_for_function(_JS_RUN_DONE, arg=[cells, errors], timeout=timeout,
                                    polling=500)
        return time.monotonic() - t0

    def prompts(self) -> list[str]:
        return self.page.evaluate(_JS_PROMPTS)

    def tracebacks(self) -> list[str]:
        return self.page.evaluate(_JS_TRACEBACKS)

    # -- JupyterLab's log console (where exceptions in widget callbacks end up) --------------
    def log_console_text(self) -> str:
        self.menu("View", "Show Log Console")
        console = self.page.locator(".jp-LogConsolePanel").first
        console.wait_for(state="visible")
        return console.inner_text()


@pytest.fixture
def open_notebook(page, lab):
    opened: list[str] = []

    def _open(path: str) -> Notebook:
        opened.append(path)
        return Notebook(page, lab, path).open()

    yield _open
    for path in opened:
        try:
            lab.shutdown_kernels(path)
        except (OSError, urllib.error.URLError):
            pass
