"""Lecture 13 and assignment a5: image captioning and attention.

    captions        the grammar captions of the shapes scenes, the vocabulary, padded tokens
    encoders        a small CNN encoder of the shapes scenes (features for a5's captioner)
    captioners      the lecture's Show-and-Tell and attention captioners, their training,
                    scheduled sampling
    decoding        greedy decoding, the lecture's beam search and BLEU
    attention_maps  attention maps on the image, the objects a caption's words name
    widgets         AttentionView

This file stays free of imports: a5's grading sandbox holds captions and encoders, never the
lecture's captioners, decoding or attention_maps.
"""
