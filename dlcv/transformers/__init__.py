"""Lecture 14: attention and transformers.

    attention   the teaching versions: scaled dot-product attention, the causal mask, multi-head
                attention as a function, and the softmax's saturation with and without 1/sqrt(d)
    positions   sinusoidal positional encodings and what their dot products depend on
    blocks      multi-head attention as a module, pre-norm encoder and decoder blocks (what the
                ViT and the DETR head are built of)
    costs       FLOPs and memory of self-attention against a convolution and a recurrent layer
    vit         the digits as patches, a small Vision Transformer, lecture 06's CNN as its
                baseline, both trained and cached per seed; class-token attention and rollout
    captioner   a transformer captioner (decoder blocks over lecture 13's image cells), the
                teaching version of a graded function, with lecture 13's captioner interface
    detr        set prediction: the matching cost, Hungarian and brute-force matching, the set
                loss, a tiny DETR-style detector on the shapes scenes
    widgets     AttentionView: a layer, a head and a query patch of the ViT, and where it looks;
                CaptionAttentionView: the same for a word of a generated caption
"""
