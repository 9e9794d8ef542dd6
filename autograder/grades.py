"""What the gradebook says about an assignment, read once for the export and the report.

Per student: the automatic points (test cells, with any override a grader made in the
formgrader), the written answers' points (graded by hand), the late penalty, the final score, and
which written answers still await a grade. Per question, autograded and written alike: its mean
and pass rate. Per written answer: the grader's score and comment.

Also the two things a term needs around the gradebook:
- regrades that keep a grader's work (`Snapshot`): nbgrader keeps manual scores and comments when
  a submission is autograded again, but flags every manually graded cell for review. A written
  answer whose text did not change keeps its grade without a new review;
- the LMS's gradebook import (`write_lms_csv`): Canvas's CSV columns, optionally matched against
  the roster the LMS exported.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from autograder.report import csv_cell


@dataclass
class Question:
    """One graded cell of the assignment, across submissions."""

    notebook: str
    name: str
    max_score: float
    kind: str  # "auto" (a test cell) or "written" (graded by hand)
    scores: list[float] = field(default_factory=list)  # graded submissions only
    awaiting: int = 0  # submissions whose grade is still to be given (or reviewed)

    @property
    def graded(self) -> int:
        return len(self.scores)

    @property
    def full(self) -> int:
        return sum(s >= self.max_score for s in self.scores)

    @property
    def partial(self) -> int:
        return sum(0 < s < self.max_score for s in self.scores)

    @property
    def zero(self) -> int:
        return sum(s <= 0 for s in self.scores)

    @property
    def mean(self) -> float | None:
        return sum(self.scores) / len(self.scores) if self.scores else None


def _utc(t: dt.datetime | None) -> str:
    if t is None:
        return ""
    return (t if t.tzinfo else t.replace(tzinfo=dt.UTC)).isoformat()


def read(course, a: str) -> tuple[list[dict], list[Question], list[dict], dict]:
    """(one row per student, one Question per graded cell, one row per written answer submitted
    (student, question, score, comment), the assignment's maxima and due date)."""
    from nbgrader.api import MissingEntry

    rows, written = [], []
    with course.gradebook() as gb:
        assignment = gb.find_assignment(a)
        questions: dict[tuple[str, str], Question] = {}
        for nb in assignment.notebooks:
            for cell in nb.grade_cells:
                kind = "auto" if cell.cell_type == "code" else "written"
                questions[(nb.name, cell.name)] = Question(nb.name, cell.name, float(cell.max_score), kind)
        info = dict(max_score=float(assignment.max_score),
                    max_auto=sum(q.max_score for q in questions.values() if q.kind == "auto"),
                    max_written=sum(q.max_score for q in questions.values() if q.kind == "written"),
                    due=_utc(assignment.duedate))
        for student in gb.students:
            try:
                sub = gb.find_submission(a, student.id)
            except MissingEntry:
                rows.append(dict(student_id=student.id, score=0.0, max_score=info["max_score"],
                                 max_auto=info["max_auto"], auto_score=0.0, manual_score=0.0,
                                 late_penalty=0.0, raw_score=0.0, awaiting=[], status="missing",
                                 timestamp="", hours_late=0.0))
                continue
            auto = manual = 0.0
            awaiting = []
            for snb in sub.notebooks:
                comments = {c.name: (c.manual_comment or c.auto_comment or "") for c in snb.comments}
                for g in snb.grades:
                    q = questions.get((snb.name, g.name))
                    kind = q.kind if q else ("auto" if g.cell_type == "code" else "written")
                    if g.needs_manual_grade:
                        awaiting.append(g.name)
                        if q:
                            q.awaiting += 1
                    elif q:
                        q.scores.append(float(g.score))
                    if kind == "auto":
                        auto += float(g.score)
                    else:
                        manual += float(g.manual_score or 0.0)
                        written.append(dict(student_id=student.id, question=g.name,
                                            score=g.manual_score, max_score=float(g.max_score),
                                            awaiting=bool(g.needs_manual_grade),
                                            comment=comments.get(g.name, "")))
            raw = float(sub.score)
            penalty = float(sub.late_submission_penalty or 0.0)
            rows.append(dict(student_id=student.id, score=max(0.0, raw - penalty),
                             max_score=info["max_score"], max_auto=info["max_auto"],
                             auto_score=auto, manual_score=manual,
                             late_penalty=penalty, raw_score=raw, awaiting=awaiting, status="graded",
                             timestamp=_utc(sub.timestamp),
                             hours_late=float(sub.total_seconds_late) / 3600.0))
    return rows, list(questions.values()), written, info


# ------------------------------------------------------------------------------------------
# regrades
# ------------------------------------------------------------------------------------------
@dataclass
class Snapshot:
    """A student's graded state before a regrade: score and the written answers' texts."""

    student: str
    score: float | None
    answers: dict[str, str]  # written answer grade_id -> text, from the autograded notebook

    @classmethod
    def take(cls, course, a: str, student: str) -> Snapshot | None:
        """None when the student was never graded (not a regrade)."""
        import nbformat
        from nbgrader.api import MissingEntry

        from autograder.notebooks import written_cells

        try:
            with course.gradebook() as gb:
                sub = gb.find_submission(a, student)
                score = float(sub.score) - float(sub.late_submission_penalty or 0.0)
        except MissingEntry:
            return None
        answers = {}
        for path in sorted(course.dir("autograded", student, a).glob("*.ipynb")):
            try:
                nb = nbformat.read(str(path), as_version=4)
            except Exception:  # noqa: BLE001 - an unreadable old copy: review everything again
                continue
            answers.update({f"{path.stem}/{gid}": c.source for gid, c in written_cells(nb).items()})
        return cls(student, score, answers)

    def restore(self, course, a: str) -> dict:
        """After the regrade: a written answer with a grader's score and the same text as before
        needs no new review. Returns {kept: [...], review: [...]} (grade ids)."""
        import nbformat

        from autograder.notebooks import written_cells

        now = {}
        for path in sorted(course.dir("autograded", self.student, a).glob("*.ipynb")):
            nb = nbformat.read(str(path), as_version=4)
            now.update({f"{path.stem}/{gid}": c.source for gid, c in written_cells(nb).items()})
        kept, review = [], []
        with course.gradebook() as gb:
            sub = gb.find_submission(a, self.student)
            for snb in sub.notebooks:
                for g in snb.grades:
                    if g.manual_score is None:
                        continue
                    key = f"{snb.name}/{g.name}"
                    if g.cell_type == "markdown" and key in now and now[key] == self.answers.get(key):
                        g.needs_manual_grade = False
                        kept.append(g.name)
                    else:
                        review.append(g.name)
            gb.db.commit()
        return dict(kept=kept, review=review)


REGRADE_COLUMNS = ["time", "student_id", "score_before", "score_after", "manual_grades_kept",
                   "to_review"]


def record_regrade(path: Path, student: str, before: float | None, after: float | None,
                   kept: list[str], review: list[str]) -> None:
    """Append one row to exports/A/regrades.csv."""
    new = not path.is_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        if new:
            w.writerow(REGRADE_COLUMNS)
        w.writerow([dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), csv_cell(student),
                    "" if before is None else f"{before:g}", "" if after is None else f"{after:g}",
                    " ".join(kept), " ".join(review)])


def read_regrades(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


# ------------------------------------------------------------------------------------------
# the LMS's gradebook import
# ------------------------------------------------------------------------------------------
LMS_ID_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]


def write_lms_csv(a: str, rows: list[dict], out: Path, roster: Path | None = None) -> tuple[Path, list[str]]:
    """exports/A/lms.csv in Canvas's gradebook format: Student, ID, SIS User ID, SIS Login ID,
    Section, then one column for the assignment (its final score, late penalty taken).

    With `roster` (the LMS's own gradebook export), its students keep their identity columns and
    our student id is matched against SIS Login ID, SIS User ID, ID, then Student; the
    assignment's column keeps the roster's header when one starts with the assignment's name
    (Canvas's "a1_knn_linear (123456)"). Without it, our student id goes in SIS Login ID.
    A submission still awaiting manual grading gets an empty cell (the LMS leaves the grade as it
    is); a missing one, 0. Returns the path and warnings (students the roster lacks)."""
    by_id = {r["student_id"]: r for r in rows}
    header, warnings = a, []

    def cell(r: dict | None) -> str:
        if r is None or r["status"] == "missing":
            return "0"
        if r["awaiting"] or r["status"] != "graded":
            return ""
        return f"{r['score']:g}"

    out_rows = []
    if roster is not None:
        with open(roster, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            fields = reader.fieldnames or []
            header = next((h for h in fields if h.strip().startswith(a)), a)
            matched = set()
            for r in reader:
                if (r.get("Student") or "").strip().lower() == "points possible":
                    continue
                sid = next((r[k].strip() for k in ("SIS Login ID", "SIS User ID", "ID", "Student")
                            if (r.get(k) or "").strip() in by_id), None)
                matched.add(sid)
                out_rows.append([r.get(k, "") for k in LMS_ID_COLUMNS] + [cell(by_id.get(sid))])
        warnings = [f"{s} is not in the roster {roster.name}: no LMS row"
                    for s in sorted(set(by_id) - matched) if by_id[s]["status"] != "missing"]
    else:
        out_rows = [["", "", "", r["student_id"], ""] + [cell(r)] for r in rows]
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(LMS_ID_COLUMNS + [header])
        w.writerows([[csv_cell(x) for x in r] for r in out_rows])
    return out, warnings
