"""The instructor's report of one assignment: exports/A/report.md and exports/A/histogram.png.

- the score histogram (a table in the report, and a PNG);
- per-test pass rates, from the gradebook (every autograded test cell: how many earned its full
  points, some points, nothing);
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
class TestStats:
    notebook: str
    name: str
    max_score: float
    full: int = 0
    partial: int = 0
    zero: int = 0
    manual: int = 0  # not autograded (nbgrader: needs a manual grade), e.g. an unreadable notebook

    @property
    def graded(self) -> int:
        return self.full + self.partial + self.zero


@dataclass
class Gathered:
    max_score: float
    rows: list[dict]  # cli.scores() rows, with status/notes/seconds from the log, collect notes
    tests: list[TestStats] = field(default_factory=list)
    collected: list[dict] = field(default_factory=list)  # collect_log.csv rows


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


def test_stats(gb, a: str) -> list[TestStats]:
    """Per autograded test cell of A: how many submissions earned full, partial, no points."""
    assignment = gb.find_assignment(a)
    stats: dict[tuple[str, str], TestStats] = {}
    for nb in assignment.notebooks:
        for cell in nb.grade_cells:
            if cell.cell_type == "code":  # autograded tests (markdown grade cells are manual)
                stats[(nb.name, cell.name)] = TestStats(nb.name, cell.name, float(cell.max_score))
    for sub in assignment.submissions:
        for snb in sub.notebooks:
            for g in snb.grades:
                st = stats.get((snb.name, g.name))
                if st is None:
                    continue
                if g.needs_manual_grade:
                    st.manual += 1
                elif g.score >= g.max_score:
                    st.full += 1
                elif g.score > 0:
                    st.partial += 1
                else:
                    st.zero += 1
    return list(stats.values())


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
    """exports/A/report.md (and histogram.png next to it) from what `gather` found."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = data.rows
    submitted = [r for r in rows if r["status"] != "missing"]
    percents = [r["percent"] for r in submitted]
    png = plot_histogram(percents, out_dir / "histogram.png", f"{a}: {len(submitted)} submissions")
    lines = [f"# {a}: autograding report", ""]
    graded = [r for r in submitted if r["status"] == "graded"]
    lines.append(f"{len(rows)} students, {len(submitted)} submissions, {len(graded)} graded, "
                 f"{len(submitted) - len(graded)} not graded, {len(rows) - len(submitted)} missing. "
                 f"Maximum score {data.max_score:g}.")
    if percents:
        srt = sorted(percents)
        med = srt[len(srt) // 2] if len(srt) % 2 else (srt[len(srt) // 2 - 1] + srt[len(srt) // 2]) / 2
        lines.append(f"Mean {sum(percents) / len(percents):.1f} %, median {med:.1f} %, "
                     f"full marks {sum(p >= 100 for p in percents)}, zero {sum(p <= 0 for p in percents)}.")
    lines += ["", "## Score histogram", "", f"![score histogram]({png.name})", "",
              "| score | submissions | |", "|---|---:|---|"]
    hist = histogram(percents)
    top = max([c for _, c in hist] + [1])
    lines += [f"| {label} | {c} | {'#' * round(30 * c / top)} |" for label, c in hist]

    lines += ["", "## Per-test pass rates (from the gradebook)", "",
              "Full: earned all the test's points; zero: earned none (a failed, skipped or not-run test).",
              "", "| notebook | test | points | full | partial | zero | pass rate |",
              "|---|---|---:|---:|---:|---:|---:|"]
    for t in sorted(data.tests, key=lambda t: (t.notebook, t.full / max(t.graded, 1))):
        rate = f"{100 * t.full / t.graded:.0f} %" if t.graded else "-"
        manual = f" ({t.manual} not autograded)" if t.manual else ""
        lines.append(f"| {_md(t.notebook)} | {_md(t.name)} | {t.max_score:g} | {t.full} | {t.partial} | "
                     f"{t.zero} | {rate}{manual} |")

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
