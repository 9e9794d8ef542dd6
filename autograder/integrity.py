"""Integrity of a submission's structure against the gradebook (nothing here runs student code).

`IntegrityCheck`, an nbgrader *sanitize* preprocessor (it runs before DeduplicateIds and
OverwriteCells, on the notebook as the student handed it in), compares the graded cells with
the gradebook's source cells and records what the later steps will repair or ignore: a locked or
test cell that was edited (OverwriteCells puts the original back), a deleted test cell, a
grade_id that appears more than once (DeduplicateIds keeps the last copy), an unknown grade_id
(a renamed cell: it counts as an ordinary cell), a changed cell type or point value. The
findings travel in the notebook's metadata to `SandboxedExecute`, which writes them into the
notebook's report (`<nb>.sandbox.json`, "integrity") and its incidents, so they reach the
autograde log's notes. None of them changes a grade: the grade is the hidden tests' verdict,
decided outside the student's process (autograder/hidden.py), with the test cells, their points
and their requirements taken from the source.

(Until the grading moved out of the kernel, a `Guard` here also probed the kernel for
monkeypatched test helpers. A probe inside the student's process can be unwatched by that
process, so it is gone: see autograder/grading.py for what replaced it.)
"""

from __future__ import annotations

from nbgrader.preprocessors import NbGraderPreprocessor

from autograder.notebooks import nbgrader_meta

META_KEY = "dlcv_integrity"  # notebook metadata: structural findings, sanitize -> autograde step



def _visible(source: str) -> list[str]:
    """A cell's lines without the hidden-test region and blank lines (what the student sees)."""
    out, hidden = [], False
    for line in (source or "").splitlines():
        t = line.strip()
        if t == "### BEGIN HIDDEN TESTS":
            hidden = True
        elif t == "### END HIDDEN TESTS":
            hidden = False
        elif t and not hidden:
            out.append(line.rstrip())
    return out


class IntegrityCheck(NbGraderPreprocessor):
    """Record (not repair) how the graded cells of a submission differ from the gradebook."""

    def preprocess(self, nb, resources):
        from nbgrader.api import Gradebook, MissingEntry

        info = resources.get("nbgrader", {})
        findings: list[dict] = []

        def note(kind, message, cell=None, grade_id=None):
            findings.append(dict(kind=kind, message=message, cell=cell, grade_id=grade_id))

        try:
            with Gradebook(info["db_url"]) as gb:
                src = gb.find_notebook(info["notebook"], info["assignment"])
                source_cells = {c.name: c for c in src.source_cells}
                points = {c.name: float(c.max_score) for c in src.grade_cells}
                solutions = {c.name for c in src.solution_cells}
        except (KeyError, MissingEntry) as e:
            self.log.warning("integrity: no gradebook entry to compare with: %s", e)
            return nb, resources
        seen: dict[str, list[int]] = {}
        for i, cell in enumerate(nb.cells):
            m = nbgrader_meta(cell)
            gid = m.get("grade_id")
            if not gid or not (m.get("grade") or m.get("solution") or m.get("locked") or m.get("task")):
                continue
            seen.setdefault(gid, []).append(i)
        for gid, idx in seen.items():
            if gid not in source_cells:
                note("UnknownCell", f"cell {idx[0]} has grade_id {gid!r}, which the assignment does not "
                                    "have (renamed?): it counts as an ordinary cell", idx[0], gid)
                for i in idx:  # an ordinary cell (nbgrader would fail on a grade cell without an id)
                    nb.cells[i].metadata.pop("nbgrader", None)
                continue
            if len(idx) > 1:
                note("DuplicateCell", f"grade_id {gid!r} appears {len(idx)} times (cells "
                                      f"{', '.join(map(str, idx))}): only the last copy counts",
                     idx[-1], gid)
                # DeduplicateIds would leave `"nbgrader": {}`, which nbgrader's own validator then
                # rejects (schema version 0): make the earlier copies ordinary cells here.
                for i in idx[:-1]:
                    nb.cells[i].metadata.pop("nbgrader", None)
            cell, sc = nb.cells[idx[-1]], source_cells[gid]
            if cell.cell_type != sc.cell_type:
                note("CellTypeChanged", f"cell {gid!r} was changed from {sc.cell_type} to "
                                        f"{cell.cell_type}: restored", idx[-1], gid)
            elif sc.locked:
                # The student edition lacks the hidden tests: compare with the source without them.
                if _visible(cell.source) != _visible(sc.source):
                    what = "test cell" if gid in points and gid not in solutions else "locked cell"
                    note("EditedCell", f"{what} {gid!r} was edited: the original was restored",
                         idx[-1], gid)
            if gid in points and gid not in solutions:
                try:
                    p = float(nbgrader_meta(cell).get("points", points[gid]))
                except (TypeError, ValueError):
                    p = None
                if p != points[gid]:
                    note("PointsChanged", f"the points of {gid!r} were changed to {p}: "
                                          f"{points[gid]:g} restored", idx[-1], gid)
        for gid in points:
            if gid not in seen and gid not in solutions:
                note("MissingCell", f"test cell {gid!r} is missing from the submission (deleted or "
                                    f"renamed): its {points[gid]:g} point(s) are not earned", None, gid)
            elif gid not in seen:
                note("MissingCell", f"answer cell {gid!r} is missing from the submission", None, gid)
        nb.metadata[META_KEY] = findings
        for f in findings:
            self.log.warning("integrity: %s", f["message"])
        return nb, resources
