"""dlcv: the helper library of the DLCV course.

    dlcv.data       embedded data sets, CIFAR-10 loader, splits, 2-D toy data
    dlcv.shapes     procedural shapes scenes: boxes, labels, instance masks (detection, segmentation)
    dlcv.voc        PASCAL VOC annotations, to run the same code on real VOC-format data
    dlcv.captions   grammar captions of the shapes scenes, vocabulary, padded tokens and masks
    dlcv.gradcheck  numeric gradients and relative errors
    dlcv.checks     test helpers whose failures speak to students
    dlcv.plots      plotting helpers
    dlcv.timing     fastest-of-N timing of a call
    dlcv.solver     the training loop of the assignments (Solver), given to students
    dlcv.neighbors, dlcv.linear           lectures 01-02: kNN and linear classifiers (sklearn/torch)
    dlcv.landscapes, dlcv.minibatch       lecture 03: 2-D surfaces, optimizer runs, SGD on digits
    dlcv.activations, dlcv.mlp, dlcv.compgraph
                                          lecture 04: activations, small MLPs, graph drawings
    dlcv.initialization, dlcv.normalization, dlcv.augment, dlcv.training
                                          lecture 05: activation statistics, norm layers,
                                          augmentation, torch training runs
    dlcv.convolution                      lecture 06: kernels, output sizes, windows, receptive fields
    dlcv.architectures, dlcv.transfer     lecture 07: counted blocks of classic CNNs, transfer learning
    dlcv.evaluation                       lecture 08: confusion counts, PR curves, AP
    dlcv.detection, dlcv.localization     lecture 09: teaching versions of IoU, NMS, anchors and
                                          focal loss for the widgets (a4 asks for the real ones);
                                          localisation, sliding windows, OverFeat, RoI pooling
    dlcv.segmentation                     lecture 10: encoder-decoder, per-class IoU, unpooling,
                                          transposed convolution as a matrix
    dlcv.recurrent                        lecture 11: gradient flow through time, a teaching LSTM
                                          step with gate clamps, the marker task, a char model
    dlcv.encoders, dlcv.captioning        lectures 12, a5: a CNN encoder of the shapes scenes; the
                                          lecture's Show-and-Tell and attention captioners
    dlcv.metric, dlcv.tracking, dlcv.noisy, dlcv.gum, dlcv.distillation, dlcv.anytime,
    dlcv.fabrics                          lecture 13: metric learning, template and siamese
                                          tracking, noisy labels, robust regression by EM,
                                          distillation, any-time prediction, neural fabrics
    dlcv.widgets    the interactive figures of the lectures

dlcv never contains an assignment's solution: students write those themselves.

Two sides. What an assignment may call while it is graded: data, checks, gradcheck, plots,
timing, solver, augment, shapes, captions and encoders (each assignment lists the ones it uses
in its hidden tests, `HiddenTests(dlcv=[...])`). Everything else is the lectures': teaching
versions of what the assignments ask for (detection's IoU and NMS, recurrent's LSTM step,
evaluation's AP...) live there, and none of it is even present in the grading sandbox.
"""

__version__ = "0.1.0"
