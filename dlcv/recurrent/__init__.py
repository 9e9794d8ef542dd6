"""Lecture 11 (and the RNN half of a5): recurrent networks.

    networks  gradient flow through time, clipping, the LSTM step with gate clamps, the marker
              task, a row reader, a character-level language model
    widgets   GradientFlowView, LSTMGatesView, SamplingView
"""
