"""Interactive figures for the lectures (ipywidgets + matplotlib).

Each widget is a small class around pure functions elsewhere in dlcv; see base.FigureView.

    knn.KNNRegionsView                      lecture 01
    linear.LinearClassifierView             lecture 02
    optimizer.OptimizerTrajectoryView       lecture 03
    activations.ActivationView              lecture 04
    mlp.MLPCapacityView                     lecture 04
    initialization.InitializationView      lecture 05
    convolution.ConvolutionExplorer         lecture 06
    architectures.BlockCostView             lecture 07
    evaluation.PRThresholdView              lecture 08
    detection.IoUNMSPlayground              lecture 09
    detection.AnchorView                    lecture 09
    detection.FocalLossView                 lecture 09
    segmentation.TransposedConvView         lecture 10
    recurrent.GradientFlowView              lecture 11
    recurrent.LSTMGatesView                 lecture 11
    recurrent.SamplingView                  lecture 11
    captioning.AttentionView                lecture 12
    beyond.GUMEMView                        lecture 13
    beyond.TrackerView                      lecture 13
"""

from dlcv.widgets.base import FigureView, dropdown, slider

__all__ = ["FigureView", "dropdown", "slider"]
