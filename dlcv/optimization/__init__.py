"""Lecture 03: optimisation.

    landscapes  2-D loss surfaces and the paths optimizers take on them
    minibatch   minibatch softmax-regression runs on real data
    widgets     OptimizerTrajectoryView
"""
