"""Lecture 08: evaluating classifiers and detectors from their scores.

    metrics       confusion counts, PR curves, interpolated precision, AP
    calibration   reliability diagrams, expected calibration error, temperature scaling
    widgets       PRThresholdView
"""
