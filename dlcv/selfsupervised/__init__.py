"""Lecture 15: learning without labels.

    datasets     the digits at 16x16, one-object shapes scenes with captions, few-label subsets
    augment      SimCLR's augmentations in torch on whole batches: crops, flips, colour jitter,
                 channel shuffle, grey, blur, two views
    encoder      the small CNN every method trains, features, the supervised baseline
    infonce      the teaching InfoNCE (SimCLR's NT-Xent) and CLIP's symmetric loss (a later
                 assignment asks students to write them; its sandbox leaves this module out)
    contrastive  SimCLR: projection head, training, the cached encoder, view similarities
    probe        the linear probe: logistic regression on frozen features (L-BFGS), and
                 nearest neighbours by cosine similarity
    pretext      rotation prediction
    masked       masked image modelling in brief: patch masks, a small painter network
    clip         image-text contrastive training on the shapes scenes, zero-shot prompts
    widgets      NeighboursView
"""
