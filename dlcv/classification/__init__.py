"""Lectures 01-02 and assignment a1: image classification by nearest neighbours and linear classifiers.

    neighbors   k-NN pictures and curves on top of scikit-learn (a1 asks students to write kNN)
    linear      scores, SVM and softmax losses in torch, decision regions, a small fit
    widgets     KNNRegionsView, LinearClassifierView
"""
