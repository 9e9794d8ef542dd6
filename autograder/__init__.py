"""DLCV's autograder: nbgrader underneath, with an instructor command line on top.

See autograder/cli.py for the commands and autograder/nbgrader_config.py for the course setup.
"""
