"""Written answers: the questions a person grades (nbgrader's manually graded answer cells).

An assignment's written question is a locked markdown cell followed by a markdown answer cell
with `grade` and `solution` set and its points. In the source edition the answer cell holds the
model answer and a rubric for the grader; nbgrader's generate_assignment replaces the whole cell
with "YOUR ANSWER HERE" in the student edition.

- `GraderNotes` (an autograde step) puts, after each written answer of the autograded notebook,
  a note for the grader with that model answer and rubric, read from the source notebook: the
  formgrader shows it beside the student's answer. The note is marked `"dlcv": {"grader_only":
  true}` and has no nbgrader metadata, so it is never graded.
- `DropGraderNotes` (the first feedback step) removes those notes: the student's feedback shows
  their answer, the grader's score and comment, never the model answer or the rubric.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbgrader.preprocessors import NbGraderPreprocessor

from autograder.notebooks import nbgrader_meta, written_cells

NOTE_HEADING = "For the grader (not shown to the student)"


def is_grader_note(cell) -> bool:
    return bool(cell.get("metadata", {}).get("dlcv", {}).get("grader_only"))


def grader_note(grade_id: str, points: float, source: str) -> nbformat.NotebookNode:
    """The note that follows a written answer in the autograded notebook."""
    quoted = "\n".join("> " + line if line.strip() else ">" for line in source.strip().splitlines())
    text = (f"**{NOTE_HEADING}: `{grade_id}`, {points:g} points.** The source edition's model "
            f"answer and rubric:\n\n{quoted}")
    return nbformat.v4.new_markdown_cell(text, metadata={"dlcv": {"grader_only": True}})


class GraderNotes(NbGraderPreprocessor):
    """After each written answer, the source edition's model answer and rubric (for the grader)."""

    def preprocess(self, nb, resources):
        from nbgrader.coursedir import CourseDirectory

        info = resources["nbgrader"]
        coursedir = CourseDirectory(config=self.config)
        src = (Path(coursedir.root) / coursedir.source_directory / info["assignment"]
               / f"{info['notebook']}.ipynb")
        if not src.is_file():
            self.log.warning("grader notes: no source notebook %s", src)
            return nb, resources
        model = written_cells(nbformat.read(str(src), as_version=4))
        cells = []
        for cell in nb.cells:
            if is_grader_note(cell):  # a note a student copied in: never kept
                continue
            cells.append(cell)
            gid = nbgrader_meta(cell).get("grade_id")
            if gid in model and cell.cell_type == "markdown":
                cells.append(grader_note(gid, float(nbgrader_meta(model[gid]).get("points", 0)),
                                         model[gid].source))
        nb.cells = cells
        return nb, resources


class DropGraderNotes(NbGraderPreprocessor):
    """Feedback: the grader's notes removed (the student sees their answer, score and comment)."""

    enabled = True

    def preprocess(self, nb, resources):
        nb.cells = [c for c in nb.cells if not is_grader_note(c)]
        return nb, resources
