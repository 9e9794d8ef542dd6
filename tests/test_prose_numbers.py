"""tests/prose_numbers.py finds prose that restates a printed number, and only that."""

from __future__ import annotations

import nbformat
import prose_numbers
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output


def _nb(markdown: str, printed: str):
    code = new_code_cell("print(...)", outputs=[new_output("stream", name="stdout", text=printed)])
    return nbformat.from_dict(new_notebook(cells=[code, new_markdown_cell(markdown)]))


def test_a_rounded_result_in_the_prose_is_found():
    found = prose_numbers.restated(_nb("Two priors give a mean IoU of 0.82 here.", "mean IoU 0.824\n"))
    assert [(r.cell, r.number, r.outputs) for r in found] == [(1, "0.82", (0.824,))]
    assert "0.82" in str(found[0]) and "0.824" in str(found[0])
    pct = prose_numbers.restated(_nb("It is right 97% of the time.", "accuracy 0.9733\n"))
    assert [r.number for r in pct] == ["97%"]


def test_settings_math_code_and_allowed_numbers_are_passed_over():
    printed = "lr 0.25, accuracy 0.824, loss 0.5017, error 0.9733\n"
    for prose in ("with a learning rate of 0.25", "the threshold 0.99 and 1% positives",
                  "$\\approx 0.82$ by hand", "`fit(lr=0.82)`", "about 50% dead units",
                  "see https://example.org/0.82"):
        assert prose_numbers.restated(_nb(prose, printed)) == [], prose
    assert prose_numbers.restated(_nb("reaches 0.82", printed), {"0.82": "from the paper"}) == []
    assert prose_numbers.restated(_nb("reaches 0.82", "nothing printed\n")) == []
