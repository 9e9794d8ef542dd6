"""Lecture 10: semantic and instance segmentation.

    machinery  patch classifiers, unpooling, transposed convolution, the encoder-decoder, masks
    widgets    TransposedConvView
"""
