"""The instructor command line on a tiny assignment made here (fast): release, collect from a
folder and from an LMS zip, autograde, export, and the mistakes an instructor can make."""

from __future__ import annotations

import csv
import subprocess
import sys
import zipfile

import nbformat
import pytest
from conftest import REPO

from autograder import cli
from autograder import notebooks as nbs
from autograder.course import Course

A = "t0_tiny"


def tiny_source() -> nbformat.NotebookNode:
    def meta(**kw):
        base = dict(schema_version=3, locked=False, solution=False, grade=False, task=False)
        base.update(kw)
        return {"nbgrader": base}

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Tiny assignment"),
        nbformat.v4.new_code_cell("from dlcv.checks import checking, expect_close"),
        nbformat.v4.new_code_cell(
            "def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION",
            metadata=meta(solution=True, grade_id="double")),
        nbformat.v4.new_code_cell(
            'with checking("double"):\n    expect_close(double(2), 4, "double(2)")',
            metadata={**meta(grade=True, locked=True, points=3, grade_id="test_double"),
                      "dlcv": {"requires": ["double"]}}),
    ]
    return nb


HIDDEN = """from autograder.hidden import HiddenTests, case
from dlcv.checks import expect_close

tests = HiddenTests()


@tests.test("test_double")
def _(st, ref):
    with case("double", "double(2)"):
        expect_close(st.double(2), 4, "double(2)")
    with case("double", "negative"):
        expect_close(st.double(-3), ref.double(-3), "double(-3)")
"""


@pytest.fixture
def course(tmp_path, monkeypatch):
    src = tmp_path / "assignments" / A
    src.mkdir(parents=True)
    nbformat.write(tiny_source(), src / f"{A}.ipynb")
    (src / f"{A}.py").write_text("# the jupytext twin holds solutions\n")
    (src / "hidden_tests.py").write_text(HIDDEN)
    monkeypatch.setenv("DLCV_COURSE_ROOT", str(tmp_path))
    monkeypatch.delenv("DLCV_GRADEBOOK", raising=False)
    return Course()


def test_release_skips_the_jupytext_twin_and_zips(course):
    out = cli.release(course, A)
    assert (out / f"{A}.ipynb").is_file() and not (out / f"{A}.py").exists()
    with zipfile.ZipFile(course.root / "release" / f"{A}.zip") as z:
        assert z.namelist() == [f"{A}/{A}.ipynb"]


def test_unknown_assignment_is_a_usage_error(course):
    with pytest.raises(cli.UsageError, match="no assignment 'a9'.*t0_tiny"):
        cli.release(course, "a9")


def test_lms_zip_with_pattern_and_bad_entries(course, tmp_path):
    cli.release(course, A)
    student = nbs.read(course.root / "release" / A / f"{A}.ipynb")
    good = nbformat.writes(nbs.with_solutions(student, nbs.read(course.dir("source", A, f"{A}.ipynb"))))
    zpath = tmp_path / "lms.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        z.writestr("Jane Doe_1001_assignsubmission_file_tiny.ipynb", good)
        # John re-submitted: the newer file counts, whatever its name
        z.writestr(zipfile.ZipInfo("John Roe_1002_assignsubmission_file_later.ipynb",
                                   (2026, 3, 2, 9, 0, 0)), nbformat.writes(student))
        z.writestr(zipfile.ZipInfo("John Roe_1002_assignsubmission_file_first.ipynb",
                                   (2026, 3, 1, 9, 0, 0)), good)
        z.writestr("README_no_id.ipynb", good)
        z.writestr("../../escape_1003_x.ipynb", good)  # path traversal: never extracted
    res = cli.collect(course, A, zpath, pattern=r"^[^_]+_(?P<student>\d+)_")
    by = {r.source: r.status for r in res}
    assert by["Jane Doe_1001_assignsubmission_file_tiny.ipynb"] == "collected"
    assert by["John Roe_1002_assignsubmission_file_later.ipynb"] == "collected"
    assert by["John Roe_1002_assignsubmission_file_first.ipynb"].startswith("skipped: older")
    assert by["README_no_id.ipynb"].startswith("skipped: cannot read a student id")
    assert not (tmp_path.parent / "escape_1003_x.ipynb").exists()
    assert course.submitted_students(A) == ["1001", "1002"]
    # the file is renamed to the assignment's notebook name, as nbgrader needs
    assert (course.dir("submitted", "1001", A, f"{A}.ipynb")).is_file()

    status = cli.autograde(course, A)
    assert status == {"1001": "graded", "1002": "graded"}
    rows = {r["student_id"]: r for r in cli.scores(course, A)}
    assert rows["1001"]["score"] == 3 and rows["1002"]["score"] == 0
    out = cli.export(course, A)
    with open(out, newline="") as f:
        got = {r["student_id"]: r for r in csv.DictReader(f)}
    assert got["1001"]["percent"] == "100.0" and got["1002"]["status"] == "graded"


def test_collect_from_folder_of_student_folders(course, tmp_path):
    incoming = tmp_path / "incoming"
    (incoming / "s_01").mkdir(parents=True)
    (incoming / "s_01" / "whatever.ipynb").write_text("{}")
    (incoming / "bad id!.ipynb").write_text("{}")
    res = cli.collect(course, A, incoming)
    assert [(r.student, r.status[:9]) for r in res] == [("bad id!", "skipped: "), ("s_01", "collected")]


def test_collect_looks_into_a_wrapping_folder_and_says_what_it_did(course, tmp_path, capsys):
    """An LMS zip with everything in one folder: the students are its sub-folders. Every notebook
    and folder ends collected (with a note when renamed or with extra files) or skipped with its
    reason, printed and written to exports/A/collect_log.csv."""
    cli.release(course, A)
    good = nbformat.writes(nbs.read(course.root / "release" / A / f"{A}.ipynb"))
    zpath = tmp_path / "all.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        z.writestr(f"all-submissions/s_01/{A}.ipynb", good)
        z.writestr("all-submissions/s_02/homework.ipynb", good)
        z.writestr("all-submissions/s_02/data.csv", "1,2")
        z.writestr("all-submissions/s_02/.ipynb_checkpoints/homework-checkpoint.ipynb", good)
        z.writestr("all-submissions/s_03/notes.txt", "no notebook here")
        z.writestr("__MACOSX/all-submissions/._s_01", "")
    res = cli.collect(course, A, zpath)
    got = [(r.student, r.source, r.status, r.note) for r in res]
    assert got == [
        ("s_03", "all-submissions/s_03/", "skipped: no notebook in s_03/ (it holds notes.txt)", ""),
        ("s_01", f"all-submissions/s_01/{A}.ipynb", "collected", ""),
        ("s_02", "all-submissions/s_02/homework.ipynb", "collected",
         f"renamed: homework.ipynb was graded as {A}.ipynb; extra files not graded: data.csv")]
    assert course.submitted_students(A) == ["s_01", "s_02"]
    out = capsys.readouterr().out
    assert (f"collected 2 submission(s) of {A}, skipped 1 (1 folder(s) without a notebook), "
            "1 with a note") in out
    assert "all-submissions/s_03/: skipped: no notebook in s_03/ (it holds notes.txt)" in out
    with open(course.root / "exports" / A / "collect_log.csv", newline="") as f:
        assert [list(r.values()) for r in csv.DictReader(f)] == [list(g) for g in got]
    with course.gradebook() as gb:  # a folder may be no student's: the class list is left alone
        assert [s.id for s in gb.students] == []


def test_collect_rejects_bad_inputs(course, tmp_path):
    with pytest.raises(cli.UsageError, match="no submissions at"):
        cli.collect(course, A, tmp_path / "nope")
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(cli.UsageError, match="neither a folder nor a zip"):
        cli.collect(course, A, tmp_path / "f.txt")
    with pytest.raises(cli.UsageError, match="named group"):
        cli.collect(course, A, tmp_path, pattern=r"(\d+)")
    with pytest.raises(cli.UsageError, match="run collect first"):
        cli.autograde(course, A)


def test_command_line_exit_codes(course):
    env_root = str(course.root)
    run = lambda *a: subprocess.run(
        [sys.executable, "-m", "autograder", *a], cwd=REPO, capture_output=True, text=True,
        env={**__import__("os").environ, "DLCV_COURSE_ROOT": env_root})
    ok = run("list")
    assert ok.returncode == 0 and ok.stdout.split() == [A]
    bad = run("release", "nope")
    assert bad.returncode == 2 and "error: no assignment 'nope'" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_root_config_is_the_course_config(monkeypatch):
    """JupyterLab's formgrader and Validate read ./nbgrader_config.py: it must load ours."""
    from traitlets.config.loader import PyFileConfigLoader

    monkeypatch.delenv("DLCV_COURSE_ROOT", raising=False)
    c = PyFileConfigLoader("nbgrader_config.py", path=str(REPO)).load_config()
    assert c.CourseDirectory.root == str(REPO)
    assert c.CourseDirectory.source_directory == "assignments"
    assert "*.py" in c.CourseDirectory.ignore
    steps = [p.__name__ for p in c.GenerateFeedback.preprocessors]
    assert steps[:3] == ["DropGraderNotes", "GetGrades", "HideHiddenTests"]
    assert [p.__name__ for p in c.Autograde.autograde_preprocessors][-1] == "GraderNotes"


def test_release_warns_when_given_code_holds_another_assignments_answers(course, capsys):
    nb = tiny_source()
    nb.cells.insert(2, nbformat.v4.new_code_cell(
        "def double(x):\n    return 2 * x", metadata={"nbgrader": dict(
            schema_version=3, locked=True, solution=False, grade=False, task=False, grade_id="given")}))
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "test_double"]
    later = course.root / "assignments" / "t9_later"
    later.mkdir()
    nbformat.write(nb, later / "t9_later.ipynb")
    (later / "hidden_tests.py").write_text("from autograder.hidden import HiddenTests\n"
                                           "tests = HiddenTests()\n")
    cli.release(course, "t9_later")
    assert ("warning: t9_later's given cell 'given' holds t0_tiny's answers (double): hand t9_later "
            "out only after t0_tiny is due") in capsys.readouterr().out
    cli.release(course, A)  # and not the other way round
    assert "warning" not in capsys.readouterr().out


def test_hidden_tests_in_the_notebook_are_refused(course):
    nb = tiny_source()
    nb.cells[-1].source += "\n### BEGIN HIDDEN TESTS\nassert double(-3) == -6\n### END HIDDEN TESTS"
    nbformat.write(nb, course.root / "assignments" / A / f"{A}.ipynb")
    with pytest.raises(cli.UsageError, match="would run in the student's kernel"):
        cli.release(course, A)
    (course.root / "assignments" / A / "hidden_tests.py").unlink()
    with pytest.raises(cli.UsageError, match="has no assignments/t0_tiny/hidden_tests.py"):
        cli.autograde(course, A)


def test_collect_refuses_a_zip_bomb_and_logs_unsafe_entries(course, tmp_path):
    cli.release(course, A)
    student = nbformat.writes(nbs.read(course.root / "release" / A / f"{A}.ipynb"))
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("alice.ipynb", student)
        z.writestr("padding.bin", bytes(64 * 2**20))  # 64 MB of zeros pack into a few kB
    with pytest.raises(cli.UsageError, match="refusing bomb.zip: it would unpack to 64 MB"):
        cli.collect(course, A, bomb)
    assert not course.dir("submitted").exists() or not any(course.dir("submitted").iterdir())

    odd = tmp_path / "odd.zip"
    with zipfile.ZipFile(odd, "w") as z:
        z.writestr("alice.ipynb", student)
        z.writestr("../../evil.ipynb", student)
        z.writestr("/abs.ipynb", student)
        link = zipfile.ZipInfo("bob.ipynb")
        link.external_attr = (0o120777 << 16)  # a symbolic link to the grader's files
        z.writestr(link, "/etc/passwd")
    results = {r.source: r.status for r in cli.collect(course, A, odd)}
    assert results["alice.ipynb"] == "collected"
    assert results["../../evil.ipynb"] == "skipped: zip entry is a path leading outside the zip's folder"
    assert results["/abs.ipynb"] == "skipped: zip entry is an absolute path"
    assert results["bob.ipynb"] == "skipped: zip entry is a link or a special file"
    assert not (tmp_path.parent / "evil.ipynb").exists() and not course.dir("submitted", "bob").exists()
    log = (course.root / "exports" / A / "collect_log.csv").read_text()
    assert "../../evil.ipynb" in log and "bob.ipynb" in log


def test_collect_notes_look_alike_ids_without_merging(course, tmp_path):
    cli.release(course, A)
    student = nbs.read(course.root / "release" / A / f"{A}.ipynb")
    subs = tmp_path / "subs"
    subs.mkdir()
    for sid in ("alice", "\u0430lice", "123", "\uff11\uff12\uff13", "bob"):  # Cyrillic а; fullwidth 123
        nbformat.write(student, subs / f"{sid}.ipynb")
    got = {r.student: r for r in cli.collect(course, A, subs)}
    assert set(got) == {"alice", "\u0430lice", "123", "\uff11\uff12\uff13", "bob"}  # none merged
    assert got["alice"].note == "looks like student '\u0430lice' (not merged: check by hand)"
    assert got["123"].note == "looks like student '\uff11\uff12\uff13' (not merged: check by hand)"
    assert got["bob"].note == ""


def test_exports_show_what_a_submission_named_as_text(course, tmp_path):
    from autograder.report import _md, csv_cell

    assert _md("x | <img src=x onerror=alert(1)> [a](javascript:b)") == \
        "x \\| &lt;img src=x onerror=alert(1)&gt; \\[a\\](javascript:b)"
    assert csv_cell("=HYPERLINK(\"http://x\")") == "'=HYPERLINK(\"http://x\")" and csv_cell("ada") == "ada"
    cli.release(course, A)
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "=cmd|x.ipynb").write_text("{}")  # not a usable id: skipped, named in the report
    cli.collect(course, A, subs)
    with course.gradebook() as gb:
        gb.update_or_create_student("carol")
    grades = cli.export(course, A)
    report = (grades.parent / "report.md").read_text()
    assert "| =cmd\\|x.ipynb |" in report
    assert "'=cmd|x.ipynb" in (course.root / "exports" / A / "collect_log.csv").read_text()
