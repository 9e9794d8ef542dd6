"""dlcv: the helper library of the DLCV course.

    dlcv.data       embedded data sets, CIFAR-10 loader, splits, 2-D toy data
    dlcv.gradcheck  numeric gradients and relative errors
    dlcv.checks     test helpers whose failures speak to students
    dlcv.plots      plotting helpers
    dlcv.widgets    the interactive figures of the lectures

dlcv never contains an assignment's solution: students write those themselves.
"""

__version__ = "0.1.0"
