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
