"""The autograder's own exceptions (a module of its own, so that every other module can raise
them without importing the command line)."""


class UsageError(Exception):
    """A mistake in what the instructor asked for; printed without a traceback."""
