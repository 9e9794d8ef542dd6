"""Lecture 18: beyond classification.

    metric        siamese embeddings, contrastive and triplet losses, mining, retrieval
    tracking      template matching, NCC, SiamFC on a synthetic video
    noisy         label-noise models, robust losses, early stopping
    gum           robust regression with a Gaussian-uniform mixture fitted by EM
    distillation  knowledge distillation
    anytime       any-time prediction with early exits
    fabrics       convolutional neural fabrics
    widgets       GUMEMView, TrackerView
"""
