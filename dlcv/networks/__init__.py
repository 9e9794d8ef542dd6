"""Lectures 04-05 and assignment a2: back-propagation, neural networks and training them.

    compgraph       drawings of small computational graphs with values and gradients
    activations     activation functions, derivatives, saturation
    mlp             small MLPs on 2-D toy data (torch)
    initialization  what initialisation does to a deep network's activations
    normalization   which activations batch / layer / instance / group norm average over
    training        torch training runs of small fully connected networks
    widgets         ActivationView, MLPCapacityView, InitializationView
"""
