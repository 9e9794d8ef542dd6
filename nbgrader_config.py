# JupyterLab's nbgrader extensions (formgrader, Validate) read nbgrader_config.py from the folder
# JupyterLab starts in. The course's configuration lives in autograder/nbgrader_config.py.
c = get_config()  # noqa: F821
load_subconfig("autograder/nbgrader_config.py")  # noqa: F821
