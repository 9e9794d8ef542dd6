"""The student's work is sacred: release, start and clean never overwrite or delete an edited
notebook; the self-check finds a notebook from the course's top folder."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile

import nbformat
import pytest
from conftest import REPO
from test_autograder_cli import A, course  # noqa: F401 - the tiny course fixture

from autograder import cli, workspace
from autograder.selfcheck import find_notebook


def _work(path) -> None:
    """A student's edit: an answer written into the notebook."""
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell("my own notes: MY WORK"))
    nbformat.write(nb, path)


def test_a_second_release_replaces_an_unchanged_edition(course):  # noqa: F811 - `course` is the fixture imported above
    out = cli.release(course, A)
    assert (out / workspace.MANIFEST).is_file() and workspace.edited(out) == []
    cli.release(course, A)  # nothing edited: simply made again
    with zipfile.ZipFile(course.root / "release" / f"{A}.zip") as z:
        assert workspace.MANIFEST not in " ".join(z.namelist())


def test_release_refuses_to_replace_an_edited_notebook(course):  # noqa: F811 - `course` is the fixture imported above
    out = cli.release(course, A)
    _work(out / f"{A}.ipynb")
    before = (out / f"{A}.ipynb").read_bytes()
    with pytest.raises(cli.UsageError) as e:
        cli.release(course, A)
    msg = str(e.value)
    assert f"release/{A}/{A}.ipynb changed since the last release" in msg
    assert "Nothing was touched" in msg and "--force" in msg and f"make start A={A}" in msg
    assert (out / f"{A}.ipynb").read_bytes() == before


def test_release_with_force_keeps_the_edited_notebook_in_a_backup(course, capsys):  # noqa: F811 - `course` is the fixture imported above
    out = cli.release(course, A)
    _work(out / f"{A}.ipynb")
    edited = (out / f"{A}.ipynb").read_bytes()
    cli.release(course, A, force=True)
    backups = list((course.root / "mywork" / "backups").glob(f"{A}-*/{A}.ipynb"))
    assert len(backups) == 1 and backups[0].read_bytes() == edited
    assert "MY WORK" not in (out / f"{A}.ipynb").read_text()  # the fresh edition
    assert "kept the changed files" in capsys.readouterr().out


def test_a_release_folder_without_a_manifest_counts_as_edited(course):  # noqa: F811 - `course` is the fixture imported above
    out = cli.release(course, A)
    (out / workspace.MANIFEST).unlink()  # e.g. released by an older version of the course
    with pytest.raises(cli.UsageError, match="changed since the last release"):
        cli.release(course, A)


def test_start_makes_a_working_copy_and_never_replaces_it(course, capsys):  # noqa: F811 - `course` is the fixture imported above
    work = cli.start(course, A)
    nb = work / f"{A}.ipynb"
    assert work == course.root / "mywork" / A and nb.is_file()
    assert "### BEGIN SOLUTION" not in nb.read_text()  # the student edition
    _work(nb)
    edited = nb.read_bytes()
    cli.start(course, A)
    assert nb.read_bytes() == edited
    assert "your work in it is kept" in capsys.readouterr().out
    cli.release(course, A)  # the release folder is not the working copy
    assert nb.read_bytes() == edited


def test_clean_removes_what_is_made_again_and_keeps_work(course, capsys):  # noqa: F811 - `course` is the fixture imported above
    root = course.root
    out = cli.release(course, A)
    work = cli.start(course, A) / f"{A}.ipynb"
    _work(out / f"{A}.ipynb")
    for made in ("autograded/s1/x.ipynb", "feedback/s1/x.html", "exports/t/grades.csv"):
        (root / made).parent.mkdir(parents=True, exist_ok=True)
        (root / made).write_text("made again by the grader")
    (root / "submitted" / "s1" / A).mkdir(parents=True)
    (root / "submitted" / "s1" / A / f"{A}.ipynb").write_text("a student's submission")
    assert (root / "gradebook.db").is_file()  # nbgrader's, made by release
    cli.clean(course)
    assert "MY WORK" in (out / f"{A}.ipynb").read_text()  # the edited release notebook
    assert work.is_file()  # the self-learner's copy
    assert (root / "submitted" / "s1" / A / f"{A}.ipynb").is_file() and (root / "gradebook.db").is_file()
    for made in ("autograded", "feedback", "exports"):
        assert not (root / made).exists()
    assert not (root / "release" / f"{A}.zip").exists()
    said = capsys.readouterr().out
    assert f"release/{A}/{A}.ipynb" in said and "submitted" in said and "gradebook.db" in said
    # a clean release folder goes entirely
    out.joinpath(f"{A}.ipynb").unlink()
    cli.release(course, A)
    cli.clean(course)
    assert not (root / "release").exists()


def test_make_clean_runs_without_the_venv(tmp_path):
    """`make clean` uses the system's python (the standard library only)."""
    (tmp_path / "exports" / "a").mkdir(parents=True)
    (tmp_path / "release" / "a").mkdir(parents=True)
    (tmp_path / "release" / "a" / "a.ipynb").write_text("{}")  # no manifest: kept
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    r = subprocess.run([sys.executable, "-S", "-m", "autograder.workspace", "clean"], cwd=tmp_path,
                       env={**env, "PYTHONPATH": str(REPO)}, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert not (tmp_path / "exports").exists() and (tmp_path / "release" / "a" / "a.ipynb").is_file()
    assert "kept" in r.stdout and "release/a/a.ipynb" in r.stdout


def test_selfcheck_finds_the_notebook_from_the_top_folder(tmp_path, capsys):
    name = "a9_x.ipynb"
    with pytest.raises(FileNotFoundError, match="no notebook 'a9_x.ipynb'.*give its path"):
        find_notebook(name, tmp_path)
    released = tmp_path / "release" / "a9_x" / name
    released.parent.mkdir(parents=True)
    released.write_text("{}")
    assert find_notebook(name, tmp_path) == released
    mine = tmp_path / "mywork" / "a9_x" / name
    mine.parent.mkdir(parents=True)
    mine.write_text("{}")
    assert find_notebook(name, tmp_path) == mine  # the working copy first
    assert find_notebook("a9_x", tmp_path) == mine  # without .ipynb too
    assert find_notebook(name, mine.parent) == mine  # from the notebook's own folder
    assert find_notebook(f"mywork/a9_x/{name}", tmp_path) == mine
    # unzipped somewhere else (a hub's home folder): the one file of that name below
    hub = tmp_path / "hub"
    (hub / "course" / "a9_x").mkdir(parents=True)
    (hub / "course" / "a9_x" / name).write_text("{}")
    src = hub / "assignments" / "a9_x"  # the instructor's source is never taken
    src.mkdir(parents=True)
    (src / name).write_text("{}")
    assert find_notebook(name, hub) == hub / "course" / "a9_x" / name
    (hub / "other").mkdir()
    (hub / "other" / name).write_text("{}")
    with pytest.raises(FileNotFoundError, match="2 notebooks named a9_x.ipynb"):
        find_notebook(name, hub)


def test_selfcheck_command_from_the_top_folder_says_what_it_checks(tmp_path):
    r = subprocess.run([sys.executable, "-m", "autograder.selfcheck", "nowhere.ipynb"], cwd=tmp_path,
                       env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True)
    assert r.returncode == 2 and "no notebook 'nowhere.ipynb'" in r.stderr and "Traceback" not in r.stderr
