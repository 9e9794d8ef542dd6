"""dlcv: the helper library of the DLCV course, one room per topic over a small shared kernel.

The kernel (any room may import it; it imports no room):
    dlcv.data        embedded data sets, the CIFAR-10 loader, splits, 2-D toy data
    dlcv.shapes      procedural shapes scenes: boxes, labels, instance masks
    dlcv.augment     image augmentation in numpy
    dlcv.checks      test helpers whose failures speak to students
    dlcv.gradcheck   numeric gradients and relative errors
    dlcv.plots       plotting helpers
    dlcv.timing      thread caps and fastest-of-N timing
    dlcv.validate    argument checks: integer, positive, number_in, choice (who, name, value, ...)
    dlcv.loop        the one training loop of every torch model (train) and its minibatches
    dlcv.solver      the numpy training loop of the assignments (Solver), given to students
    dlcv.widget      the base of every widget (FigureView, slider, dropdown)

The rooms, in the order of the lectures (each holds its computation, its drawings and its
widgets side by side; a room's `widgets` module is the only one that imports ipywidgets):
    dlcv.classification   lectures 01-02, a1: kNN pictures, linear classifiers
    dlcv.optimization     lecture 03: loss surfaces, optimizer paths, minibatch runs
    dlcv.networks         lectures 04-05, a2: graphs, activations, MLPs, initialisation,
                          normalisation, torch training runs
    dlcv.convolution      lectures 06-07, a3: convolution arithmetic, architectures, transfer
    dlcv.evaluation       lecture 08: confusion counts, PR curves, AP, calibration
    dlcv.detection        lectures 09-10, a4: teaching IoU / NMS / anchors / focal loss,
                          localisation, sliding windows, proposals, PASCAL VOC
    dlcv.segmentation     lecture 11: encoder-decoders, unpooling, transposed convolution, masks
    dlcv.recurrent        lecture 12: gradients through time, LSTM gates, a character model
    dlcv.captioning       lecture 13, a5, a6: captions of the shapes scenes, the image encoder, the
                          lecture's captioners
    dlcv.transformers     lecture 14: attention, heads, masks, positional encodings,
                          transformer blocks, a Vision Transformer, DETR's set matching
    dlcv.selfsupervised   lecture 15, a6: rotation pretext, SimCLR (augmentations, InfoNCE),
                          linear probes, masked image modelling, CLIP and zero-shot prompts
    dlcv.understanding    lecture 16, a7: looking inside a CNN (features, attribution,
                          synthesis) and attacking it (FGSM, PGD, adversarial training)
    dlcv.generative       lecture 17, a7: autoencoders, VAE, GANs, diffusion, style transfer, a
                          reference classifier that scores generated digits
    dlcv.beyond           lecture 18: metric learning, tracking, noisy labels, EM, distillation,
                          any-time prediction, neural fabrics

ARCHITECTURE.md (at the top of the repository) says what each room may import and where a new
lecture's code goes.

dlcv never contains an assignment's solution: students write those themselves. What an
assignment may call while it is graded is listed in its hidden tests (`HiddenTests(dlcv=[...])`:
kernel modules, captioning.captions / captioning.encoders for a5 and a6, selfsupervised's digits,
views and encoder for a6, understanding.model / generative.reference (the classifier and the judge
of samples) for a7); everything else (the lectures' teaching versions of IoU, NMS, the LSTM step,
AP, attention, InfoNCE...) is not even present in the grading sandbox.
"""

__version__ = "0.1.0"
