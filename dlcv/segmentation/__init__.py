"""Lecture 11: semantic and instance segmentation.

    models      label-map colours, the patch classifier, the encoder-decoder, its training
    upsampling  unpooling, transposed-convolution arithmetic, convolution matrices, stamps
    scoring     pixel confusion matrix, per-class IoU, pixel accuracy
    masks       Mask R-CNN's mask and keypoint geometry: targets and pasting
    widgets     TransposedConvView
"""
