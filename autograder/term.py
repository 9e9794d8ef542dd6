"""The term: due dates, extensions and the late policy, on nbgrader's own mechanisms.

- **Due dates** live in nbgrader's gradebook (`Assignment.duedate`, which the formgrader also
  shows and edits). `Term.due` in autograder/nbgrader_config.py sets them from the course's
  configuration; every command writes them into the gradebook before it works, so the
  configuration wins over an edit in the formgrader for the assignments it names.
- **Extensions** are nbgrader's too (`SubmittedAssignment.extension`): `Term.extensions` gives
  hours per assignment and student, written after autograding creates the submission.
- **Submission times** are nbgrader's `timestamp.txt` in each submitted folder, which collect
  writes from the LMS zip's entry dates or the files' modification times (autograder/collect.py).
- **The late policy** is an nbgrader late-submission plugin, `LatePenalty`, run by nbgrader's
  `AssignLatePenalties` step while autograding. nbgrader applies it to the score at that moment,
  before any written answer is graded; `reassess` applies it again to the current score (written
  answers and overrides included) whenever feedback or grades are written, so the penalty always
  follows the final score.
"""

from __future__ import annotations

import datetime as dt
import math
import re

from nbgrader.plugins import BasePlugin
from traitlets import Dict, Float
from traitlets.config import Configurable

from autograder.errors import UsageError

DAY = 86400.0


class Term(Configurable):
    """The course's calendar, from autograder/nbgrader_config.py (c.Term.due, c.Term.extensions)."""

    due = Dict(help="assignment -> due date, an ISO date with its time zone, e.g. "
                    "{'a1_knn_linear': '2027-02-05 23:59:00 +01:00'} (no zone: UTC)").tag(config=True)
    extensions = Dict(help="assignment -> {student: hours}, e.g. {'a1_knn_linear': {'ada': 48}}"
                      ).tag(config=True)


class LatePenalty(BasePlugin):
    """A percentage of the score per started day late, after a grace period; zero after a cutoff.

    Late by t seconds (after the due date plus any extension): within `grace_minutes`, nothing;
    then `percent_per_day` of the score for every started day, and the whole score once the work
    is more than `zero_after_days` days late. The defaults: 10 % per day, 15 minutes' grace,
    nothing after 7 days."""

    percent_per_day = Float(10.0, help="percent of the score taken per started day late").tag(config=True)
    grace_minutes = Float(15.0, help="minutes after the due date that cost nothing").tag(config=True)
    zero_after_days = Float(7.0, help="days late after which the score is 0").tag(config=True)

    def days_charged(self, total_seconds_late: float) -> int:
        late = total_seconds_late - 60.0 * self.grace_minutes
        return 0 if late <= 0 else math.ceil(late / DAY)

    def late_submission_penalty(self, student_id: str, score: float, total_seconds_late: float) -> float:
        if total_seconds_late - 60.0 * self.grace_minutes <= 0:
            return 0.0
        if total_seconds_late > self.zero_after_days * DAY:
            return float(score)
        return float(score) * min(1.0, self.percent_per_day * self.days_charged(total_seconds_late) / 100.0)

    def describe(self) -> str:
        return (f"{self.percent_per_day:g} % of the score per started day late after "
                f"{self.grace_minutes:g} minutes' grace; 0 after {self.zero_after_days:g} days")


def _plugin(course):
    """The late plugin that nbgrader's AssignLatePenalties uses in this course, configured."""
    from nbgrader.preprocessors import AssignLatePenalties

    step = AssignLatePenalties(config=course.config)
    return step.plugin_class(parent=step)


def policy(course) -> str:
    """The late policy in words, for the report."""
    plugin = _plugin(course)
    if hasattr(plugin, "describe"):
        return plugin.describe()
    return f"nbgrader's {type(plugin).__name__} (penalty_method {getattr(plugin, 'penalty_method', '?')!r})"


def parse_due(text) -> dt.datetime:
    """A due date as an aware UTC datetime: ISO 8601 with an offset ("2027-02-05 23:59:00 +01:00",
    "2027-02-05T23:59+01:00"), a zone name ("2027-02-05 23:59 Europe/Zurich"), or no zone (UTC).
    (nbgrader's own parser reads "... +01:00" with a space as UTC: the offset is lost.)"""
    if isinstance(text, dt.datetime):
        when = text
    else:
        raw = " ".join(str(text).split())
        zone = None
        head, _, last = raw.rpartition(" ")
        if head and "/" in last or last in ("UTC", "GMT", "Z"):
            raw, zone = head, (dt.UTC if last in ("UTC", "GMT", "Z") else _zone(last, text))
        raw = re.sub(r"\s+([+-]\d\d:?\d\d)$", r"\1", raw)
        try:
            when = dt.datetime.fromisoformat(raw)
        except ValueError:
            raise UsageError(f"due date {text!r}: write it as 2027-02-05 23:59:00 +01:00 (ISO 8601 "
                             "with an offset), 2027-02-05 23:59 Europe/Zurich, or without a zone "
                             "for UTC") from None
        if zone is not None:
            when = when.replace(tzinfo=zone)
    return (when if when.tzinfo else when.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)


def _zone(name: str, text) -> dt.tzinfo:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(f"due date {text!r}: no time zone called {name!r}") from None


def set_due_date(course, a: str) -> None:
    """Write the configuration's due date of `a` (if it names one) into the gradebook."""
    due = Term(config=course.config).due.get(a)
    if due is None:
        return
    with course.gradebook() as gb:
        gb.update_or_create_assignment(a, duedate=parse_due(due))


def reassess(course, a: str) -> None:
    """Extensions from the configuration, then every submission's late penalty from its current
    score (automatic + written + overrides), through the configured late plugin."""
    from nbgrader.api import MissingEntry

    set_due_date(course, a)
    extensions = Term(config=course.config).extensions.get(a, {})
    plugin = _plugin(course)
    with course.gradebook() as gb:
        for student, hours in extensions.items():
            try:
                gb.grant_extension(a, student, hours=float(hours))
            except MissingEntry:  # no submission (yet): nothing is late
                pass
        for sub in gb.find_assignment(a).submissions:
            late = sub.total_seconds_late
            for nb in sub.notebooks:
                penalty = None
                if late > 0:
                    penalty = plugin.late_submission_penalty(sub.student.id, nb.score, late)
                    penalty = None if penalty is None else min(max(float(penalty), 0.0), float(nb.score))
                nb.late_submission_penalty = penalty
        gb.db.commit()
