"""Lecture 16: understanding and attacking CNNs.

    model        the lecture's classifier and its data: digits upsampled to 16x16 (CIFAR-10
                 when asked for and on disk), a small CNN trained and cached per seed,
                 adversarial training (reusable: an assignment can attack it)
    features     activations by forward hooks, nearest neighbours, t-SNE of features
    attribution  occlusion, vanilla gradients, SmoothGrad, integrated gradients, Grad-CAM
    synthesis    class model visualisation by gradient ascent, feature inversion
    attacks      FGSM, PGD (untargeted and targeted), fooling images, success rates
    widgets      InspectView
"""
