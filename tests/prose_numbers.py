"""Numbers in a notebook's prose that restate what its code printed.

A figure that comes from a run (an accuracy, an IoU, a loss) must not be typed into the markdown:
the next change to the code moves the output and leaves the prose behind. The prose refers to
the printed line instead ("the accuracy printed above"), or the code prints the sentence itself.

restated(nb) finds the candidates in an executed notebook: every number in a markdown cell
(outside math, code spans and links) with two or more decimals, or written as a percentage,
that is a rounding of a longer number in the notebook's outputs (0.82 for a printed 0.824), or
equal to a printed number of three or more decimals. Round numbers, which are settings,
thresholds and rates far more often than results, are passed over: one significant digit (0.01,
5%), all nines (0.99, 99%), or two decimals or a whole percentage ending in 0 or 5 (0.25, 0.90,
25%).

ALLOWED lists, per notebook, the numbers that match an output by coincidence, each with the
reason; test_notebooks.py checks every notebook (lectures and the source editions of the
assignments) after executing it once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ALLOWED: dict[str, dict[str, str]] = {
    "08_evaluation": {"97%": "a hypothetical classifier in the definition of calibration, not "
                             "the network's printed mean confidence"},
    "18_beyond": {"0.98": "a hypothetical teacher's probability in the introduction to "
                          "distillation, not the teacher's printed accuracy"},
}

_DISPLAY_MATH = re.compile(r"\$\$.*?\$\$", re.S)
_MATH = re.compile(r"\$[^$]+\$")
_CODE = re.compile(r"`[^`]*`")
_LINK = re.compile(r"https?://\S+|arXiv[: ]\S+|\]\([^)]*\)", re.I)
_PROSE_NUMBER = re.compile(r"(?<![\w.\-/])(\d+(?:\.\d+)?)(\s?%)?(?!\w)")
_OUTPUT_NUMBER = re.compile(r"(?<![\w.])[-+]?\d+(?:,\d{3})*(?:\.\d+)?(?:[eE][-+]?\d+)?")


@dataclass(frozen=True)
class Restated:
    cell: int       # index of the markdown cell
    number: str     # as written in the prose, e.g. "0.82" or "93%"
    outputs: tuple  # the printed numbers it rounds
    context: str    # the prose around it

    def __str__(self) -> str:
        return (f"markdown cell {self.cell}: {self.number!r} restates the printed "
                f"{', '.join(f'{o:g}' for o in self.outputs[:3])} (...{self.context}...)")


def _text(source) -> str:
    return "".join(source) if isinstance(source, list) else source


def printed_numbers(nb) -> set[float]:
    """Every number in the code cells' text outputs (streams, text/plain, text/html)."""
    parts = []
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                parts.append(_text(out["text"]))
            for kind in ("text/plain", "text/html"):
                if kind in out.get("data", {}):
                    parts.append(_text(out["data"][kind]))
    return {float(m.group().replace(",", "")) for m in _OUTPUT_NUMBER.finditer("\n".join(parts))}


def _is_round(digits: str, decimals: int, percent: bool) -> bool:
    significant = digits.replace(".", "").lstrip("0")
    return (len(significant) <= 1 or set(significant) == {"9"}
            or ((decimals == 2 or percent and decimals == 0) and significant[-1] in "05"))


def restated(nb, allowed: dict[str, str] | None = None) -> list[Restated]:
    """The prose numbers of nb (an executed notebook as a dict) that restate its outputs."""
    printed = [p for p in printed_numbers(nb) if p != 0]
    allowed = allowed or {}
    found = []
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "markdown":
            continue
        text = _LINK.sub(" ", _CODE.sub(" ", _MATH.sub(" ", _DISPLAY_MATH.sub(" ", _text(cell["source"])))))
        for m in _PROSE_NUMBER.finditer(text):
            digits, percent = m.group(1), bool(m.group(2))
            decimals = len(digits.split(".")[1]) if "." in digits else 0
            if (not percent and decimals < 2) or _is_round(digits, decimals, percent):
                continue
            token = digits + ("%" if percent else "")
            if token in allowed:
                continue
            value = float(digits)
            hits = tuple(p for p in printed
                         if any(abs(round(c, decimals) - value) < 1e-9
                                and (abs(c - value) > 1e-12 or decimals >= 3)
                                for c in ((p, 100 * p) if percent else (p,))))
            if hits:
                context = text[max(0, m.start() - 60):m.end() + 20].replace("\n", " ")
                found.append(Restated(i, token, hits, context))
    return found
