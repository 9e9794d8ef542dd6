"""DLCV's autograder: nbgrader underneath, with an instructor command line on top.

One principle: nothing that decides a grade runs where the student's code runs.

    trusted (the grader's process)                 |  sandboxed (bubblewrap, unprivileged)
    ------------------------------------------------+------------------------------------------
    cli.py        release / collect / autograde /   |
                  feedback / export                 |
    sandbox.py    SandboxedExecute: starts kernels --+--> the submission's notebook runs here,
    sandbox_run.py  drives them, limits, restarts   |    its visible tests print for the student
    grading.py    the hidden stage: KernelSession --+--> inside/serve.py calls the student's
    hidden.py     hidden tests, `st`/`ref`, cases,  |    function on the inputs sent and hands
                  verdicts; reference answers run   |    back plain data (inside/wire.py);
                  here from the source notebook     |    inside/probes/ are public harnesses
    rules.py      what each part may import ------->+--> stub packages, a dlcv without the
                                                    |    lectures' teaching versions
    parallel.py   the same, in worker processes or on a Dask cluster (jobs are plain data)
    report.py, feedback.py, integrity.py, notebooks.py, nbgrader_steps.py, selfcheck.py, errors.py

An assignment's hidden tests live in assignments/A/hidden_tests.py (see autograder/hidden.py for
how to write them); `nbgrader_config.py` wires the steps into nbgrader.
"""
