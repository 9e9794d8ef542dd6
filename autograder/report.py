"""The instructor's report of one assignment: exports/A/report.md and exports/A/histogram.png.

- the score histogram (a table in the report, and a PNG);
- the due date, the late policy and every late submission's penalty;
- who still awaits manual grading (written answers), and each written answer's grade and comment;
- per-question statistics from the gradebook, autograded tests and written answers alike (how
  many earned full points, some, nothing; the mean; the pass rate);
- the regrades (exports/A/regrades.csv);
- the slowest submissions (the sandbox's execution time, recorded in autograde_log.csv);
- the failing submissions with their reasons: not graded (nbgrader's error), a cell that hit a
  limit or an integrity flag (the log's notes), no submission at all (and why, when collect
  knows: a folder without a notebook);
- what collect skipped or noted (exports/A/collect_log.csv): notebooks without a usable student
  id, folders without a notebook, older re-submissions, renamed notebooks, extra files.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

SLOWEST = 10  # rows in "slowest submissions"
BINS = 10  # histogram bins over 0..100 %


@dataclass
class Gathered:
    max_score: float
    rows: list[dict]  # grades.read() rows, with status/notes/seconds from the log, collect notes
    questions: list = field(default_factory=list)  # grades.Question, autograded and written
    written: list[dict] = field(default_factory=list)  # per student and written answer: score, comment
    collected: list[dict] = field(default_factory=list)  # collect_log.csv rows
    regrades: list[dict] = field(default_factory=list)  # regrades.csv rows
    due: str = ""  # the gradebook's due date (ISO, UTC), "" if none
    late_policy: str = ""
    max_auto: float = 0.0
    max_written: float = 0.0


def read_log(path: Path) -> dict[str, dict]:
    """student_id -> {status, notes, seconds} from autograde_log.csv ({} if there is none)."""
    if not path.is_file():
        return {}
    with open(path, newline="", encoding="utf-8") as f:
        return {csv_uncell(r["student_id"]): {k: csv_uncell(v) for k, v in r.items()}
                for r in csv.DictReader(f)}


def read_collect_log(path: Path) -> dict[str, list[dict]]:
    """student_id -> the collect_log.csv rows about that student (source, status, note)."""
    out: dict[str, list[dict]] = {}
    if path.is_file():
        with open(path, newline="", encoding="utf-8") as f:
            for r in csv.DictReader(f):
                r = {k: csv_uncell(v) for k, v in r.items()}
                out.setdefault(r["student_id"], []).append(r)
    return out


def collect_notes(entries: list[dict], status: str) -> str:
    """What collect said about one student, for the grades: its notes on the collected notebook
    and, for a student without a submission, why nothing was collected."""
    notes = [e["note"] for e in entries if e["status"] == "collected" and e.get("note")]
    if status == "missing":
        notes += [e["status"].removeprefix("skipped: ") for e in entries if e["status"] != "collected"]
    return "; ".join(notes)


def _md(text) -> str:
    """Text for one Markdown table cell: on one line, and inert: what a submission named (a file,
    an id, an error message) shows as the characters it is, never as markup, a link or HTML."""
    text = " ".join(str(text).split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = re.sub(r"([\\`*\[\]|])", r"\\\1", text)  # no code, emphasis, link or cell break
    return text or " "


def csv_uncell(text: str) -> str:
    """The text csv_cell was given (read back from a CSV file this module wrote)."""
    return text[1:] if text[:1] == "'" and text[1:2] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_cell(text) -> str:
    """A CSV field that a spreadsheet shows as text: one that starts like a formula (=, +, -, @,
    a tab or a carriage return) gets a leading apostrophe."""
    text = str(text)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def histogram(percents: list[float], bins: int = BINS) -> list[tuple[str, int]]:
    """(label, count) per bin over 0..100 %; 100 % goes in the last bin."""
    counts = [0] * bins
    width = 100 / bins
    for p in percents:
        counts[min(int(p // width), bins - 1)] += 1
    return [(f"{i * width:.0f}-{(i + 1) * width:.0f}%", c) for i, c in enumerate(counts)]


def plot_histogram(percents: list[float], path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=100)
    ax.hist(percents, bins=[100 * i / BINS for i in range(BINS + 1)], color="#4878a8", edgecolor="white")
    ax.set_xlim(0, 100)
    ax.set_xlabel("score (% of the maximum)")
    ax.set_ylabel("submissions")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def write_report(a: str, data: Gathered, out_dir: Path) -> Path:
    """exports/A/report.md (and histogram.png next to it) from what the export gathered."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = data.rows
    submitted = [r for r in rows if r["status"] != "missing"]
    percents = [r["percent"] for r in submitted]
    png = plot_histogram(percents, out_dir / "histogram.png", f"{a}: {len(submitted)} submissions")
    lines = [f"# {a}: grading report", ""]
    graded = [r for r in submitted if r["status"] == "graded"]
    lines.append(f"{len(rows)} students, {len(submitted)} submissions, {len(graded)} graded, "
                 f"{len(submitted) - len(graded)} not graded, {len(rows) - len(submitted)} missing. "
                 f"Maximum score {data.max_score:g}" + (
                     f" ({data.max_auto:g} autograded, {data.max_written:g} written, graded by hand)."
                     if data.max_written else "."))
    if percents:
        srt = sorted(percents)
        med = srt[len(srt) // 2] if len(srt) % 2 else (srt[len(srt) // 2 - 1] + srt[len(srt) // 2]) / 2
        lines.append(f"Mean {sum(percents) / len(percents):.1f} %, median {med:.1f} %, "
                     f"full marks {sum(p >= 100 for p in percents)}, zero {sum(p <= 0 for p in percents)}.")
    waiting = [r for r in graded if r.get("awaiting")]
    lines.append(f"Awaiting manual grading: {len(waiting)} submission(s)"
                 + (": " + ", ".join(f"{_md(r['student_id'])} ({len(r['awaiting'])})" for r in waiting)
                    + ". Their scores below are not final." if waiting else "."))
    lines.append(f"Due {data.due or 'date not set'}; late policy: {_md(data.late_policy or 'none')}.")
    lines += ["", "## Score histogram", "", f"![score histogram]({png.name})", "",
              "| score | submissions | |", "|---|---:|---|"]
    hist = histogram(percents)
    top = max([c for _, c in hist] + [1])
    lines += [f"| {label} | {c} | {'#' * round(30 * c / top)} |" for label, c in hist]

    late = [r for r in submitted if r.get("hours_late")]
    lines += ["", "## Late submissions", ""]
    if late:
        lines += ["| student | submitted (UTC) | hours late | penalty | score |", "|---|---|---:|---:|---:|"]
        lines += [f"| {_md(r['student_id'])} | {_md(r['timestamp'])} | {r['hours_late']:.1f} | "
                  f"{r['late_penalty']:g} | {r['score']:g} |"
                  for r in sorted(late, key=lambda r: -r["hours_late"])]
    else:
        lines.append("None." if data.due else "No due date in the gradebook: nothing is late.")

    lines += ["", "## Per-question statistics (from the gradebook)", "",
              "Autograded tests and written answers alike, over the submissions graded so far. "
              "Full: all the question's points; zero: none (a failed, skipped or not-run test, an "
              "empty answer). Pass rate: the share with full points.",
              "", "| notebook | question | kind | points | full | partial | zero | mean | pass rate |",
              "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for q in sorted(data.questions, key=lambda q: (q.notebook, q.kind, q.full / max(q.graded, 1))):
        rate = f"{100 * q.full / q.graded:.0f} %" if q.graded else "-"
        if q.awaiting:
            rate += f" ({q.awaiting} {'not autograded' if q.kind == 'auto' else 'awaiting'})"
        mean = "-" if q.mean is None else f"{q.mean:.2f}"
        lines.append(f"| {_md(q.notebook)} | {_md(q.name)} | {q.kind} | {q.max_score:g} | {q.full} | "
                     f"{q.partial} | {q.zero} | {mean} | {rate} |")

    if data.written:
        lines += ["", "## Written answers", "",
                  "The grade and comment of each written answer (formgrader), by student.", "",
                  "| student | question | score | comment |", "|---|---|---:|---|"]
        for w in sorted(data.written, key=lambda w: (w["student_id"], w["question"])):
            score = "awaiting" if w["awaiting"] else f"{w['score'] or 0:g} / {w['max_score']:g}"
            lines.append(f"| {_md(w['student_id'])} | {_md(w['question'])} | {score} | {_md(w['comment'])} |")

    lines += ["", "## Regrades", ""]
    if data.regrades:
        lines += ["| time (UTC) | student | before | after | manual grades kept | to review |",
                  "|---|---|---:|---:|---|---|"]
        lines += [f"| {_md(g['time'])} | {_md(csv_uncell(g['student_id']))} | {_md(g['score_before'])} | "
                  f"{_md(g['score_after'])} | {_md(g['manual_grades_kept'])} | {_md(g['to_review'])} |"
                  for g in data.regrades]
    else:
        lines.append("None.")

    timed = sorted((r for r in submitted if r.get("seconds") is not None), key=lambda r: -r["seconds"])
    lines += ["", f"## Slowest submissions (sandboxed execution time, top {SLOWEST})", ""]
    if timed:
        total = sum(r["seconds"] for r in timed)
        lines += [f"Total execution time {total:.1f} s, mean {total / len(timed):.1f} s per submission.",
                  "", "| student | seconds | score | notes |", "|---|---:|---:|---|"]
        lines += [f"| {_md(r['student_id'])} | {r['seconds']:.1f} | {r['score']:g} | {_md(r['notes'])} |"
                  for r in timed[:SLOWEST]]
    else:
        lines.append("No execution times recorded (autograde_log.csv has none).")

    failing = [r for r in rows if r["status"] != "graded" or r["notes"]]
    lines += ["", "## Failing submissions and why", "",
              "Not graded (nbgrader's error), graded with a cell that hit a limit or an integrity "
              "flag (the sandbox's notes: the tests that depend on that cell earned nothing), or "
              "missing.", ""]
    if failing:
        lines += ["| student | score | status | reason |", "|---|---:|---|---|"]
        order = {"missing": 2, "graded": 1}
        for r in sorted(failing, key=lambda r: (-order.get(r["status"], 3), r["student_id"])):
            if r["status"] == "missing":
                reason = r.get("collect") or "no submission"
            else:
                reason = r["notes"] or r["status"].removeprefix("failed: ")
            lines.append(f"| {_md(r['student_id'])} | {r['score']:g} | {_md(r['status'].split(':')[0])} | "
                         f"{_md(reason)} |")
    else:
        lines.append("None: every submission was graded without incident.")

    lines += ["", f"## Collection (exports/{a}/collect_log.csv)", ""]
    if data.collected:
        got = [c for c in data.collected if c["status"] == "collected"]
        told = [c for c in data.collected if c["status"] != "collected" or c.get("note")]
        lines.append(f"{len(got)} notebook(s) collected, {len(data.collected) - len(got)} skipped, "
                     f"{sum(bool(c.get('note')) for c in got)} collected with a note.")
        if told:
            lines += ["", "| source | student | outcome |", "|---|---|---|"]
            lines += [f"| {_md(c['source'])} | {_md(c['student_id'])} | "
                      f"{_md(c['status'] + ('; ' + c['note'] if c.get('note') else ''))} |" for c in told]
    else:
        lines.append("No collect log (the submissions were put in submitted/ by other means).")
    path = out_dir / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path
