"""Lectures 06-07 and assignment a3: convolutional networks and their architectures.

    arithmetic     kernels, output sizes, windows, receptive fields (single-channel, torch)
    costs          what a CNN costs: parameters and MACs per layer, receptive fields, block costs
    architectures  the classic CNNs as small torch definitions, LeNet-5 to ResNet
    variants       after ResNet: NiN, DenseNet, SqueezeNet, FractalNet, stochastic depth
    diagrams       block diagrams read off a network: boxes, arrows, shortcut arcs
    transfer       transfer learning with small CNNs
    widgets        ConvolutionExplorer, BlockCostView
"""
