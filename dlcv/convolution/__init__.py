"""Lectures 06-07 and assignment a3: convolutional networks and their architectures.

    arithmetic     kernels, output sizes, windows, receptive fields (single-channel, torch)
    architectures  the classic CNNs as small torch definitions, their costs
    transfer       transfer learning with small CNNs
    widgets        ConvolutionExplorer, BlockCostView
"""
