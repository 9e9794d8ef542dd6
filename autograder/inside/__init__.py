"""The sandbox's side of grading: the only autograder code that runs where a student's code runs.

Nothing here decides a grade. `serve` calls what the trusted grader names (a student's function,
a method of an object it made, a public probe from `probes/`) on the inputs the grader sent, and
hands back plain data (`wire`). Hidden inputs' answers, comparisons and scores stay in the
grader's own process (autograder/hidden.py). This folder is mounted read-only into the sandbox
as the package `dlcv_inside`, so its modules import each other relatively.
"""
