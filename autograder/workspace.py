"""The student's work is sacred: no command of the course overwrites or deletes an edited notebook.

- `release A` records what it wrote (release/A/.released.json: each file's SHA-256). A later
  release replaces only files that are still as recorded; a file that changed since, or that no
  release recorded, stops it with a message, and `--force` first moves such files to
  mywork/backups/A-<time>/.
- `start A` gives a self-learner a working copy in mywork/A/ (a fresh student edition of A):
  `make clean` never touches mywork/, and start never replaces a file that is already there.
- `clean` removes what the course can make again (unchanged released files, autograded/,
  feedback/, exports/, the bench's results) and keeps edited notebooks, students' submissions
  (submitted/) and the gradebook, saying what it kept.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
from pathlib import Path

from autograder.errors import UsageError

MANIFEST = ".released.json"
WORK = "mywork"  # the self-learner's working copies: make clean never touches it
SKIP_DIRS = {".ipynb_checkpoints", "__pycache__"}


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _files(folder: Path) -> list[Path]:
    """The files under folder, as relative paths (Jupyter's checkpoints and the manifest aside)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p.relative_to(folder) for p in folder.rglob("*")
                  if p.is_file() and p.name != MANIFEST
                  and not SKIP_DIRS & set(p.relative_to(folder).parts[:-1]))


def record(folder: Path) -> None:
    """Write the manifest of a freshly released folder."""
    folder = Path(folder)
    hashes = {str(rel): _sha256(folder / rel) for rel in _files(folder)}
    (folder / MANIFEST).write_text(json.dumps(hashes, indent=1, sort_keys=True) + "\n")


def edited(folder: Path) -> list[Path]:
    """The files of a released folder that changed since their release, or that no release wrote
    (all of them when the folder has no manifest)."""
    folder = Path(folder)
    try:
        recorded = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        recorded = {}
    return [rel for rel in _files(folder) if recorded.get(str(rel)) != _sha256(folder / rel)]


def backup(root: Path, folder: Path, files: list[Path], label: str) -> Path:
    """Move files (relative to folder) to root/mywork/backups/<label>-<time>/; return that folder."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    dest = Path(root) / WORK / "backups" / f"{label}-{stamp}"
    n = 1
    while dest.exists():
        n += 1
        dest = dest.with_name(f"{label}-{stamp}-{n}")
    for rel in files:
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(Path(folder) / rel), str(dest / rel))
    return dest


def guard_release(root: Path, folder: Path, a: str, force: bool) -> None:
    """Before a release replaces folder (release/A/): refuse when it holds edited files, or with
    force move them to a backup first."""
    changed = edited(folder)
    if not changed:
        return
    names = ", ".join(str(Path(folder, rel).relative_to(root)) for rel in changed[:4])
    names += f" and {len(changed) - 4} more" if len(changed) > 4 else ""
    if not force:
        raise UsageError(
            f"not releasing {a}: {names} changed since the last release (someone's work?) and a "
            f"release would replace it. Nothing was touched. A self-learner works in "
            f"{WORK}/{a}/ (`make start A={a}`): move the notebook there. To release anyway, run "
            f"`python -m autograder release {a} --force` (or `make release A={a} FORCE=1`), which "
            f"first moves the changed files to {WORK}/backups/.")
    dest = backup(root, folder, changed, a)
    print(f"kept the changed files of release/{a}/ in {dest.relative_to(root)}/: {names}")


def start(root: Path, released: Path, a: str) -> Path:
    """Copy the student edition in `released` (release/A/) to root/mywork/A/, file by file, never
    replacing a file that is there already; return the working copy's folder."""
    dest = Path(root) / WORK / a
    copied, kept = [], []
    for rel in _files(released):
        target = dest / rel
        if target.exists():
            kept.append(rel)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(Path(released) / rel, target)
        copied.append(rel)
    notebook = dest / f"{a}.ipynb"
    shown = notebook.relative_to(root) if notebook.is_relative_to(root) else notebook
    if kept:
        print(f"{WORK}/{a}/ is there already: your work in it is kept as it is"
              + (f" (added the missing {', '.join(map(str, copied))})" if copied else "") + ".")
    else:
        print(f"your working copy of {a}: {shown}")
    print(f"Open {shown} in JupyterLab. Self-check at any time: python -m autograder.selfcheck "
          f"{notebook.name}")
    return dest


# What `clean` may remove: made again by release, autograde, feedback, export, make bench.
REMADE = ("autograded", "feedback", "exports", "benchmarks/results")
KEPT = ("submitted", "gradebook.db", WORK)  # students' submissions, grades, self-learners' work


def clean(root: Path, release_dir: str = "release") -> list[str]:
    """Remove what the course can make again; keep every edited notebook. Returns what was kept
    (relative paths), for the message."""
    root = Path(root)
    kept: list[str] = []
    rel_root = root / release_dir
    if rel_root.is_dir():
        for folder in sorted(p for p in rel_root.iterdir() if p.is_dir()):
            changed = edited(folder)
            if changed:
                kept += [str((folder / rel).relative_to(root)) for rel in changed]
                for rel in _files(folder):  # the unchanged files go
                    if rel not in changed:
                        (folder / rel).unlink()
                (folder / MANIFEST).unlink(missing_ok=True)
            else:
                shutil.rmtree(folder)
        for p in rel_root.iterdir():
            if p.is_file():
                p.unlink()  # the zips: made again by release
        if not any(rel_root.iterdir()):
            rel_root.rmdir()
    for name in REMADE:
        shutil.rmtree(root / name, ignore_errors=True)
    kept += [name for name in KEPT if (root / name).exists()]
    return kept


def report_clean(root: Path, release_dir: str = "release") -> None:
    """clean, with its message (`python -m autograder clean`, `make clean`)."""
    kept = clean(root, release_dir)
    print("removed what release, autograde, feedback, export and make bench make again.")
    if kept:
        print("kept (your work, students' submissions or grades; delete by hand if you mean it): "
              + ", ".join(kept))


if __name__ == "__main__":  # `make clean`: standard library only, so it works without the venv
    import sys

    if sys.argv[1:] != ["clean"]:
        sys.exit("usage: python -m autograder.workspace clean   (from the course's top folder)")
    report_clean(Path.cwd())
