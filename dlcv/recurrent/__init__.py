"""Lecture 12 (and the RNN half of a5): recurrent networks.

    gradients  gradient flow through time (vanilla RNN and LSTM cell), clipping, the cliff
    gates      the LSTM step with gate clamps, its trace over a sequence, the marker task
    language   a character-level language model: truncated BPTT, temperature, sampling
    networks   a row reader, parameter counts, the lecture's drawings of RNNs
    widgets    GradientFlowView, LSTMGatesView, SamplingView
"""
