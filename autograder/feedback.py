"""Feedback that never reveals hidden tests.

nbgrader's feedback shows each test cell as it was graded: with the hidden tests restored into
its source, and with tracebacks that quote them (jupyter/nbgrader#917, #1363). This preprocessor
runs in `generate_feedback` after the grades are read and, in every autograded test cell:
- removes the `### BEGIN HIDDEN TESTS` ... `### END HIDDEN TESTS` regions from the source;
- replaces each error's traceback by its last line (`CheckFailed: <message for the student>`),
  so no line of hidden code is quoted.
The messages themselves are written for students (dlcv.checks) and stay.
"""

from __future__ import annotations

from nbgrader.preprocessors import ClearHiddenTests
from nbgrader.utils import is_grade, is_solution


class HideHiddenTests(ClearHiddenTests):
    enforce_metadata = False  # feedback must never fail because of it

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type != "code" or not is_grade(cell) or is_solution(cell):
            return cell, resources
        self._remove_hidden_test_region(cell)
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                out["traceback"] = [f"{out.get('ename', 'Error')}: {out.get('evalue', '')}"]
        return cell, resources


class InertOutputs(ClearHiddenTests):
    """Every output in the feedback is inert and bounded: what a student's code displayed is kept
    as text and pictures only (text/plain, image/png, image/jpeg; never HTML, SVG, JavaScript,
    Markdown or widget views, which a browser would run or render as markup), and every text
    (streams, results, errors and their tracebacks) is cut at `max_chars`. The HTML exporter's
    own sanitizer (HTMLExporter.sanitize_html, set in the course's config) cleans Markdown cells."""

    enforce_metadata = False
    SAFE = ("text/plain", "image/png", "image/jpeg")
    max_chars = 20_000

    def _cut(self, text) -> str:
        text = "".join(text) if isinstance(text, list) else str(text or "")
        if len(text) <= self.max_chars:
            return text
        return text[: self.max_chars] + f"\n... ({len(text) - self.max_chars:,} more characters cut)\n"

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type != "code":
            return cell, resources
        for out in cell.get("outputs", []):
            kind = out.get("output_type")
            if kind == "stream":
                out["text"] = self._cut(out.get("text"))
            elif kind in ("display_data", "execute_result"):
                data = out.get("data", {})
                kept = {k: (self._cut(v) if k == "text/plain" else v)
                        for k, v in data.items() if k in self.SAFE}
                if not kept:
                    kept = {"text/plain": f"[output of type {', '.join(sorted(data)) or 'none'} "
                                          "not shown in the feedback]"}
                out["data"] = kept
                out["metadata"] = {}
            elif kind == "error":
                out["ename"] = self._cut(out.get("ename"))[:200]
                out["evalue"] = self._cut(out.get("evalue"))
                out["traceback"] = [self._cut("\n".join(map(str, out.get("traceback") or [])))]
        return cell, resources
