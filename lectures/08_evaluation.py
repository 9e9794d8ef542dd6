# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lecture 08 — Evaluating classifiers and detectors
#
# Every lecture so far ended with one number: the accuracy on held-out data. That number answers
# "how often is the classifier right?", and for a balanced problem like the ten digits it is a
# fair summary. Most problems of vision are not like that. A pedestrian detector looks at tens of
# thousands of windows per image, and nearly all of them are background; a screening test looks
# for a disease that one patient in a hundred has. A classifier that always answers "nothing
# here" is then right 99% of the time and useless. This chapter is about the numbers that replace
# accuracy in such problems: the confusion matrix and the rates read from it (precision, recall,
# F1), the curves that show every threshold at once (precision-recall and ROC), the single
# number that summarises a ranking (average precision, AP), and how the object-detection
# benchmarks (PASCAL VOC, COCO) turn boxes into AP. All of these use the scores only through
# their order; the last part asks about their values: when the classifier says 0.8, is it right
# 80% of the time (calibration)?
#
# **After this lecture you can**
#
# 1. explain why accuracy misleads when one class is rare, with a concrete example;
# 2. fill in a binary confusion matrix (TP, FP, FN, TN) and compute precision, recall,
#    specificity, F1 and F-beta from it, and say what moving the decision threshold does to them;
# 3. read a multiclass confusion matrix, compute per-class precision and recall, and tell macro
#    from micro averages;
# 4. compute a precision-recall curve by sorting scores, by hand on a short ranked list, and
#    compare it with the ROC curve, saying why PR is preferred when negatives abound;
# 5. compute average precision three ways (non-interpolated, 11-point as in VOC 2007, all-point
#    as in VOC 2010 onwards), and mAP over classes;
# 6. describe the detection protocol: matching detections to ground-truth boxes by IoU,
#    duplicates as false positives, recall over all objects, and COCO's AP over IoU thresholds;
# 7. say what it means for a classifier to be calibrated, read a reliability diagram, compute
#    the expected calibration error (ECE), and calibrate a network by temperature scaling on
#    validation data.
#
# **Plan.** Accuracy and imbalance → the binary confusion matrix and the threshold → multiclass
# confusion matrices on the digits → the precision-recall curve (and ROC) → average precision →
# the detection protocol → calibration: reliability diagrams, ECE and temperature scaling → a
# widget to move the threshold along the PR curve → questions, summary, papers.
#
# The machinery is in `dlcv.evaluation.metrics`, built on `sklearn.metrics`, and in
# `dlcv.evaluation.calibration`; the chapter shows the short formulas behind it and checks them
# by hand. Assignment a4 asks you to write the detector's side yourself (IoU, non-maximum
# suppression, detection AP with box matching): here it appears only as a protocol on a tiny
# example.

# %%
# %matplotlib inline
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle
from sklearn.metrics import (
    average_precision_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)

from dlcv.evaluation import metrics as ev
from dlcv.evaluation.widgets import PRThresholdView
from dlcv.plots import CLASS_COLORS, show_images
from dlcv.timing import cap_threads

plt.rcParams.update({"figure.figsize": (8, 3.2), "figure.dpi": 90, "font.size": 10})
np.set_printoptions(precision=3, suppress=True)
cap_threads()  # one BLAS and torch thread: as fast here, far faster on a busy machine
rng = np.random.default_rng(0)
POS, NEG = CLASS_COLORS[5], CLASS_COLORS[0]  # positives vermillion, negatives blue

# %% [markdown]
# ## 1. Accuracy, and why it is not enough
#
# The **accuracy** of a classifier is the fraction of examples it labels correctly,
# $\text{acc} = \frac{1}{N}\sum_i [\hat y_i = y_i]$. It treats every mistake alike and it depends
# on how common each class is in the test set.
#
# Our running classifier is a softmax (multinomial logistic regression) classifier on the
# embedded digits, trained on 1257 digits and evaluated on 540 held-out ones. To make the
# problem harder, and its mistakes more interesting, it sees only the first 8 principal
# components of each image instead of the 64 pixels (`dlcv.evaluation.metrics.digit_classifier_scores`
# also has the 64-pixel and a 2-component version). Turn it into a **detector of nines**: the
# positive class is "this is a 9", everything else is negative. One digit in ten is a 9.

# %%
digits = ev.digit_classifier_scores("pca8")       # the classifier's output on 540 held-out digits
y9, s9 = ev.one_vs_rest(digits.y, digits.proba, positive=9)  # (540,) labels, (540,) log-odds
print(f"{y9.sum()} nines among {len(y9)} digits ({y9.mean():.1%} positive)")

always_no = np.zeros_like(y9)                     # a "classifier" that never says 9
classifier = (s9 >= 0).astype(int)                # says 9 when P(9 | x) >= 0.5
for name, pred in [("always 'not a 9'", always_no), ("softmax, P(9) >= 0.5", classifier)]:
    print(f"{name:22s} accuracy {np.mean(pred == y9):.3f}, "
          f"finds {np.sum((pred == 1) & (y9 == 1)):2d} of the {y9.sum()} nines")
print(f"the accuracies differ by {np.mean(classifier == y9) - np.mean(always_no == y9):.3f}; the "
      f"softmax classifier finds {np.mean(classifier[y9 == 1]):.0%} of the nines, the other none")

# %% [markdown]
# The classifier that never answers "9" is right on every digit that is not a nine, so its
# accuracy is the share of the negatives. By accuracy the two classifiers are a few hundredths
# apart (the last line), yet one finds no nine at all and the other finds the share of them
# printed there. The rarer the positives, the worse it gets. With one positive in a hundred
# (synthetic scores from `ev.synthetic_scores`, positives drawn around +1 and negatives around
# −1), the lazy classifier reaches 99%:

# %%
y_rare, s_rare = ev.synthetic_scores(num_pos=20, num_neg=1980, separation=2.0, seed=0)
for t in (np.inf, 0.0, 1.5):
    pred = (s_rare >= t).astype(int)
    found = np.sum((pred == 1) & (y_rare == 1))
    print(f"threshold {t:>4}: accuracy {np.mean(pred == y_rare):.3f}, "
          f"finds {found:2d} of 20 positives, raises {np.sum((pred == 1) & (y_rare == 0)):4d} "
          "false alarms")
acc_none, acc_zero = np.mean(y_rare == 0), np.mean((s_rare >= 0) == y_rare)
found_zero = np.sum((s_rare >= 0) & (y_rare == 1))
alarms_zero = np.sum((s_rare >= 0) & (y_rare == 0))
print(f"threshold 0 pays {alarms_zero / found_zero:.0f} false alarms per positive found, and its "
      f"accuracy is {'lower' if acc_zero < acc_none else 'not lower'} than that of finding nothing")

# %% [markdown]
# Saying "positive" above score 0 finds most of the positives, but pays for each of them with many
# false alarms, and its accuracy is *lower* than that of the classifier that finds nothing (the
# last line). Accuracy hides the two things we care about: how many of the positives we find, and
# how many of our alarms are real. Those are different kinds of error with different costs (a
# missed tumour against an unnecessary biopsy; a missed pedestrian against a braking car), and we
# need to count them separately.
#
# ## 2. The binary confusion matrix
#
# For a yes/no decision every example falls into one of four cells:
#
# | | predicted positive | predicted negative |
# |---|---|---|
# | **actually positive** | true positive (TP) | false negative (FN), a miss |
# | **actually negative** | false positive (FP), a false alarm | true negative (TN) |
#
# The rates that matter are ratios within a row or a column:
#
# $$ \text{precision} = \frac{TP}{TP + FP}, \qquad
#    \text{recall} = \frac{TP}{TP + FN}, \qquad
#    \text{specificity} = \frac{TN}{TN + FP}, \qquad
#    \text{FPR} = \frac{FP}{FP + TN} = 1 - \text{specificity}. $$
#
# **Precision** is the fraction of the alarms that are real (of everything I flagged, how much
# was right?). **Recall**, also called **sensitivity** or **true-positive rate** (TPR), is the
# fraction of the positives that were found. **Specificity** is the recall of the negative class.
# Precision and recall never look at TN, which is what we want when the negatives are countless
# (how many background windows were rightly ignored is not interesting).
#
# A single number that needs both high precision and high recall is their harmonic mean, the
# **F1 score**, and its weighted version **F-beta**:
#
# $$ F_1 = \frac{2\,P\,R}{P + R} = \frac{2\,TP}{2\,TP + FP + FN}, \qquad
#    F_\beta = \frac{(1 + \beta^2)\,P\,R}{\beta^2 P + R}. $$
#
# The harmonic mean is dominated by the smaller of the two: precision 1 with recall 0.02 gives
# $F_1 \approx 0.04$, where the arithmetic mean would say $(1 + 0.02)/2 = 0.51$. $\beta > 1$
# weights recall more (screening, where a miss is expensive; $F_2$ is common), $\beta < 1$ weights
# precision more (a spam filter, where a lost e-mail is expensive). With `ev.confusion_counts` and
# `ev.binary_metrics`, and checked against scikit-learn:

# %%
counts = ev.confusion_counts(y9, s9, threshold=0.0)  # "positive if score >= 0"
m = ev.binary_metrics(counts)
print(counts)
print(f"precision {m['precision']:.3f}  recall {m['recall']:.3f}  specificity "
      f"{m['specificity']:.3f}  F1 {m['f']:.3f}  F2 {ev.binary_metrics(counts, beta=2)['f']:.3f}")
print(f"scikit-learn: precision {precision_score(y9, classifier):.3f}  recall "
      f"{recall_score(y9, classifier):.3f}  F1 {f1_score(y9, classifier):.3f}")

# %% [markdown]
# ### The threshold decides the trade-off
#
# A classifier rarely outputs a bare yes or no. It outputs a **score** $s(x)$ (here the log-odds
# $\log \frac{p}{1-p}$ of the class "9", so that score 0 is probability 0.5), and a
# **threshold** $t$ turns it into a decision: positive if $s(x) \ge t$. The threshold is a knob
# that we set *after* training. Raise it, and fewer examples are called positive: fewer false
# alarms, more misses. Lower it, and the reverse. The figure shows the score histograms of the
# two classes (on a log axis, so that 54 nines stay visible next to 486 other digits) and how
# precision, recall and F1 change along the threshold.

# %%
curve9 = ev.pr_points(y9, s9)  # precision and recall with every distinct score as threshold
ts = np.linspace(-8, 4, 241)
rates = [ev.binary_metrics(ev.confusion_counts(y9, s9, t)) for t in ts]
best = int(np.nanargmax([r["f"] for r in rates]))

fig, axes = plt.subplots(1, 2, figsize=(12, 3.6))
edges = np.linspace(-12.3, 4.5, 43)
axes[0].hist(s9[y9 == 0], edges, color=NEG, alpha=0.5, label="not a 9 (negatives)")
axes[0].hist(s9[y9 == 1], edges, color=POS, alpha=0.6, label="a 9 (positives)")
for t, ls in [(-2.0, ":"), (0.0, "-"), (2.0, "--")]:
    axes[0].axvline(t, color="k", ls=ls, lw=1.3, label=f"threshold t = {t:g}")
axes[0].set_yscale("log")
axes[0].set_ylim(0.7, 400)  # room for the legend above the bars
axes[0].set_xlabel("score: log-odds of '9'")
axes[0].set_ylabel("count (log scale)")
axes[0].legend(fontsize=8, loc="upper left", ncol=2)
axes[0].set_title("scores of the two classes")
for key, col, lab in [("precision", CLASS_COLORS[0], "precision"),
                      ("recall", CLASS_COLORS[5], "recall"), ("f", "k", "F1")]:
    axes[1].plot(ts, [r[key] for r in rates], color=col, label=lab)
axes[1].axvline(ts[best], color="0.5", lw=1, ls="--")
axes[1].set_xlabel("threshold t")
axes[1].set_ylim(0, 1.03)
axes[1].legend(fontsize=8, loc="lower left")
axes[1].set_title(f"best F1 = {rates[best]['f']:.3f} at t = {ts[best]:.2f}")
fig.tight_layout()
plt.show()
prec_t = np.array([r["precision"] for r in rates])
f_near = [r["f"] for t, r in zip(np.round(ts, 2), rates, strict=True) if -1 <= t <= 0]
print(f"as t rises over the grid, precision rises {np.sum(np.diff(prec_t) > 0)} times and falls "
      f"{np.sum(np.diff(prec_t) < 0)} times")
print(f"F1 is largest at t = {ts[best]:.2f} (probability {1 / (1 + np.exp(-ts[best])):.2f}); "
      f"from t = -1 to 0 it stays between {min(f_near):.3f} and {max(f_near):.3f}")

# %% [markdown]
# Recall can only fall as $t$ rises: the set of examples called positive shrinks, so it can
# only lose true positives. Precision tends to rise, but not monotonically: when the next
# example to drop out of the positive set is a true positive, precision falls a little (the
# jagged steps on the right, counted in the first line). F1 peaks in between, at the threshold
# of the second line, and from $t = -1$ to $0$ it moves by only a few hundredths (the range
# printed there): within that range the exact choice hardly matters.
#
# Where to set $t$ depends on the application (how much a miss costs compared with a false
# alarm), and it is a hyperparameter like any other: choose it on **validation** data, never on
# the test set whose numbers you will report. The curves in sections 4 and 5 describe the
# classifier at *all* thresholds at once, so that two classifiers can be compared before anybody
# has chosen one.
#
# ## 3. Multiclass confusion matrices
#
# With $C$ classes the confusion matrix is $C \times C$: entry $M_{ij}$ counts the examples of
# true class $i$ that were predicted as class $j$. The diagonal holds the correct answers,
# accuracy is $\operatorname{tr}(M) / N$, and every off-diagonal entry names a specific mistake.
# Dividing each **row** by its sum gives the per-class recall on the diagonal; dividing each
# **column** by its sum gives the per-class precision. Here are the matrices of the softmax
# classifier on all 64 pixels and on 8 principal components (predictions are the class of
# highest probability, `sklearn.metrics.confusion_matrix` counts):

# %%
models = {"64 pixels": ev.digit_classifier_scores("pixels"), "8 PCA features": digits}
fig, axes = plt.subplots(1, 2, figsize=(12, 5.2))
for ax, (name, d) in zip(axes, models.items(), strict=True):
    M = confusion_matrix(d.y, d.pred, labels=range(10))  # (10, 10)
    off = M - np.diag(np.diag(M))
    ax.imshow(np.where(np.eye(10, dtype=bool), 0, M), cmap="Reds", vmin=0, vmax=12)
    for (i, j), v in np.ndenumerate(M):
        if v:
            ax.text(j, i, v, ha="center", va="center", fontsize=8,
                    color="0.55" if i == j else ("w" if v > 7 else "k"))
    ax.set_xticks(range(10))
    ax.set_yticks(range(10))
    ax.set_xlabel("predicted digit")
    ax.set_ylabel("true digit")
    ax.set_title(f"softmax on {name}: accuracy {np.trace(M) / M.sum():.3f}, "
                 f"{off.sum()} errors, at most {off.max()} in a cell", fontsize=10)
fig.tight_layout()
plt.show()

# %% [markdown]
# (Diagonal counts in grey, off-diagonal cells shaded by count.) The titles count the errors of
# each classifier and the most that any one off-diagonal cell holds. The 8-feature classifier
# makes more mistakes, and it has favourites, visible as dark cells away from the diagonal. The
# matrix is not symmetric: "a 9 predicted as 3" is a different cell from "a 3 predicted as 9".
# Looking at the misclassified images themselves is the quickest way to see why:

# %%
M8 = confusion_matrix(digits.y, digits.pred, labels=range(10))
pairs = sorted(((M8[i, j], i, j) for i in range(10) for j in range(10) if i != j), reverse=True)
imgs, titles = [], []
for count, i, j in pairs[:4]:
    idx = np.flatnonzero((digits.y == i) & (digits.pred == j))[:4]
    print(f"true {i} predicted as {j}: {count} times")
    imgs += list(digits.images[idx])
    titles += [f"{i} → {j}"] * len(idx)
print(f"these four cells hold {sum(c for c, _, _ in pairs[:4])} of the "
      f"{sum(c for c, _, _ in pairs)} errors")
fig = show_images(imgs, titles, ncols=8, size=1.1)
plt.show()

# %% [markdown]
# The mistakes are digits whose coarse shape, all that 8 principal components keep, resembles
# another digit: in the two most frequent confusions printed above, nines and threes share the
# same right-hand arc, and eights and ones a vertical stroke through the middle.
#
# ### Per-class rates, macro and micro averages
#
# Each class $c$ gets its own precision, recall and F1, by treating it as positive and every
# other class as negative. To summarise them in one number there are two common averages:
#
# * **macro** average: compute the rate per class, then take the plain mean over classes. Every
#   class counts equally, however rare.
# * **micro** average: add up TP, FP and FN over all classes first, then compute the rate. Every
#   *example* counts equally, so frequent classes dominate. In single-label multiclass
#   classification each mistake is a FP for one class and a FN for another, so micro precision,
#   micro recall and micro F1 all equal the accuracy.
#
# (scikit-learn also offers a "weighted" macro average, weighting each class by its number of
# examples.)

# %%
p, r, f, support = precision_recall_fscore_support(digits.y, digits.pred, labels=range(10),
                                                   zero_division=0)
print("digit      " + "".join(f"{c:>6d}" for c in range(10)))
for name, v in [("precision", p), ("recall", r), ("F1", f)]:
    print(f"{name:10s} " + "".join(f"{x:6.2f}" for x in v))
print(f"{'support':10s} " + "".join(f"{x:6d}" for x in support))
for avg in ("macro", "micro"):
    pa, ra, fa, _ = precision_recall_fscore_support(digits.y, digits.pred, average=avg)
    print(f"{avg}: precision {pa:.3f}, recall {ra:.3f}, F1 {fa:.3f}")
print(f"accuracy: {np.mean(digits.pred == digits.y):.3f}")
c_r, (c_p1, c_p2) = int(np.argmin(r)), np.argsort(p)[:2]
lost = np.argsort(-np.where(np.arange(10) == c_r, -1, M8[c_r]))[:2]  # where its misses go
print(f"lowest recall: digit {c_r} ({r[c_r]:.2f}); of its {M8[c_r].sum() - M8[c_r, c_r]} misses, "
      f"{M8[c_r, lost[0]]} go to {lost[0]} and {M8[c_r, lost[1]]} to {lost[1]}")
print(f"lowest precision: digits {c_p1} and {c_p2} ({p[c_p1]:.2f} and {p[c_p2]:.2f})")

# %% [markdown]
# The weak classes stand out at once (the last two lines): the digit with the lowest recall loses
# its examples to the digits it resembles (the confusions of the images above), and the digits
# with the lowest precision collect the others' mistakes. Macro and micro averages are close here
# because the ten classes are about equally frequent; with imbalanced classes they can differ a
# lot, and the macro average is the one that notices a neglected rare class.
#
# ## 4. The precision-recall curve
#
# A threshold picks one point of the trade-off. The **precision-recall (PR) curve** shows all of
# them. Sort the $N$ examples by decreasing score; then every threshold corresponds to a cut
# after some position $k$ of the sorted list, and with $y_{(i)}$ the label at rank $i$ and
# $N_+$ positives in total,
#
# $$ TP(k) = \sum_{i \le k} y_{(i)}, \qquad FP(k) = k - TP(k), \qquad
#    P(k) = \frac{TP(k)}{k}, \qquad R(k) = \frac{TP(k)}{N_+}. $$
#
# Two cumulative sums give the whole curve in $O(N \log N)$ (the sort). Tied scores cannot be
# separated by any threshold, so a run of equal scores makes a single point. Here is a short
# ranked list, ten items with four positives, written out:

# %%
y_ex = np.array([1, 0, 1, 1, 0, 0, 1, 0, 0, 0])                      # labels in rank order
s_ex = np.array([0.95, 0.90, 0.85, 0.80, 0.70, 0.65, 0.60, 0.40, 0.30, 0.20])
order = np.argsort(-s_ex)                                            # already sorted here
tp = np.cumsum(y_ex[order])                                          # (10,)
fp = np.cumsum(1 - y_ex[order])
precision_ex, recall_ex = tp / (tp + fp), tp / y_ex.sum()
print("rank  score  label  TP  FP  precision  recall")
for k in range(10):
    print(f"{k + 1:4d}  {s_ex[order][k]:.2f}  {y_ex[order][k]:5d}  {tp[k]:2d}  {fp[k]:2d}  "
          f"{precision_ex[k]:9.3f}  {recall_ex[k]:6.2f}")
c_ex = ev.pr_points(y_ex, s_ex)
assert np.allclose(c_ex.precision, precision_ex) and np.allclose(c_ex.recall, recall_ex)

# %% [markdown]
# Each positive moves the curve right (recall up by $1/N_+$) and pushes precision up; each
# negative leaves recall where it is and pulls precision down. The curve is therefore a
# **sawtooth**: vertical drops at false positives, rising diagonal steps at true positives. It
# ends at recall 1 with precision $N_+/N = 0.4$, the precision of calling everything positive,
# which is also the expected precision of a random ranking at any recall.
#
# Left, the worked example with each point labelled by its rank; right, the PR curves of three
# digits for the 8-feature classifier, with their positive rate (the precision of a random
# ranking) as a dotted line.

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 4))
ax = axes[0]
ax.plot(np.r_[0, recall_ex], np.r_[1, precision_ex], "-", color="0.4")
ax.scatter(recall_ex, precision_ex, c=[POS if v else NEG for v in y_ex], s=45, zorder=3,
           edgecolors="k")
for k in range(10):
    ax.annotate(str(k + 1), (recall_ex[k], precision_ex[k]), textcoords="offset points",
                xytext=(6, 3), fontsize=8)
ax.axhline(0.4, color="0.5", ls=":", lw=1)
ax.set_title("the worked example (red: positive, blue: negative)")
for k, digit in enumerate([0, 3, 9]):
    yb, sb = ev.one_vs_rest(digits.y, digits.proba, digit)
    c = ev.pr_points(yb, sb)
    axes[1].plot(np.r_[0, c.recall], np.r_[c.precision[0], c.precision], color=CLASS_COLORS[k],
                 label=f"digit {digit}: AP {ev.average_precision(yb, sb):.3f}")
axes[1].axhline(0.1, color="0.5", ls=":", lw=1, label="random ranking")
axes[1].set_title("softmax on 8 PCA features, one digit against the rest")
axes[1].legend(fontsize=8, loc="lower left")
for ax in axes:
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(-0.02, 1.05)
    ax.set_ylim(0, 1.05)
fig.tight_layout()
plt.show()

# %% [markdown]
# A good ranking keeps precision near 1 far to the right (digit 0); a harder class bends down
# early (digits 3 and 9). The curve belongs to the *scores*, not to a threshold: any
# monotone transformation of the scores (probabilities instead of log-odds, say) gives the same
# ranking and the same curve.
#
# ### The ROC curve, and why PR is preferred when negatives abound
#
# The other classic curve is the **ROC curve** (receiver operating characteristic): the
# true-positive rate (recall) against the false-positive rate $FPR = FP / N_-$, again over all
# thresholds. Its area, the **ROC AUC**, has a neat meaning: the probability that a randomly
# chosen positive is scored higher than a randomly chosen negative (ties counting one half). A
# random ranking gives the diagonal and AUC 0.5, whatever the class ratio.
#
# That independence from the class ratio is exactly the problem when negatives abound. Both
# axes of the ROC curve are rates *within* one class, so the curve does not change when the
# number of negatives does. Precision mixes the classes:
#
# $$ P = \frac{TP}{TP + FP} = \frac{R\,N_+}{R\,N_+ + FPR\, N_-}. $$
#
# A false-positive rate of 1% looks negligible on a ROC plot, but against $N_- = 10^5$
# background windows it means 1000 false alarms. The experiment: one synthetic scorer (positives
# and negatives are Gaussians two standard deviations apart) evaluated with 100 positives and
# 900, 9 900 or 99 900 negatives.

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 4))
aucs, aps_ratio = [], []
for k, num_neg in enumerate([900, 9_900, 99_900]):
    y_s, s_s = ev.synthetic_scores(num_pos=100, num_neg=num_neg, separation=2.0, seed=1)
    fpr, tpr, _ = roc_curve(y_s, s_s)
    c = ev.pr_points(y_s, s_s)
    aucs.append(roc_auc_score(y_s, s_s))
    aps_ratio.append(ev.average_precision(y_s, s_s))
    lab = f"{100 / (100 + num_neg):.1%} positives"
    axes[0].plot(fpr, tpr, color=CLASS_COLORS[k], label=f"{lab}: AUC {aucs[-1]:.3f}")
    axes[1].plot(c.recall, c.precision, color=CLASS_COLORS[k],
                 label=f"{lab}: AP {aps_ratio[-1]:.3f}")
axes[0].plot([0, 1], [0, 1], ":", color="0.5", label="random ranking")
axes[0].set_xlabel("false-positive rate FP / N−")
axes[0].set_ylabel("true-positive rate (recall)")
axes[0].set_title("ROC: the same curve for every class ratio")
axes[1].set_xlabel("recall")
axes[1].set_ylabel("precision")
axes[1].set_title("PR: precision collapses as negatives grow")
for ax in axes:
    ax.legend(fontsize=8, loc="lower right" if ax is axes[0] else "upper right")
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(0, 1.02)
fig.tight_layout()
plt.show()
print(f"ROC AUC: {', '.join(f'{a:.3f}' for a in aucs)} (largest difference "
      f"{max(aucs) - min(aucs):.3f}); AP: {', '.join(f'{a:.3f}' for a in aps_ratio)}, "
      f"{aps_ratio[0] / aps_ratio[-1]:.0f} times smaller with a hundred times the negatives")

# %% [markdown]
# The three ROC curves lie on top of each other (their AUCs, printed above, differ only by
# sampling noise: the scores of both classes come from the same two distributions), while the AP
# falls with every tenfold increase of the negatives. Both pictures are correct, they answer
# different questions. ROC asks "how well are positives ranked above negatives?"; PR asks "if I
# act on the top of this ranking, how many of my actions are right?". For detection and retrieval,
# where negatives are innumerable and only the top of the ranking is ever looked at, the second
# question is the one that matters, and that is why detection benchmarks report precision and
# recall. Davis and Goadrich (2006) showed that one curve dominates another in ROC space exactly
# when it does in PR space, so the curves agree on *which* classifier is better when one is better
# everywhere; Saito and Rehmsmeier (2015) show how much more the PR plot reveals when the classes
# are imbalanced.
#
# ## 5. Average precision
#
# To compare rankings by one number, summarise the PR curve by the area under it, the
# **average precision**: $\text{AP} = \int_0^1 p(r)\, dr$. There are three ways to turn the
# finite set of curve points $(R_k, P_k)$ into this area, and published numbers use all three.
#
# **Non-interpolated AP** (scikit-learn's `average_precision_score`, and the classic definition
# of information retrieval) adds rectangles of width $R_k - R_{k-1}$ and height $P_k$:
#
# $$ \text{AP} = \sum_k (R_k - R_{k-1})\, P_k. $$
#
# Recall only grows at the positives, so this is simply the mean, over the positives, of the
# precision at the rank where each positive appears.
#
# **Interpolated precision.** The sawtooth makes precision a noisy function of recall. PASCAL
# VOC replaces it by its upper envelope,
#
# $$ p_{\text{interp}}(r) = \max_{r' \ge r} p(r'), $$
#
# the best precision achievable at recall $r$ *or more*: a user who wants recall $r$ can always
# read further down the list if that gives better precision. The envelope is non-increasing and
# never below the curve.
#
# **11-point AP** (PASCAL VOC 2007) averages the envelope at eleven recall levels,
#
# $$ \text{AP}_{11} = \frac{1}{11} \sum_{r \in \{0, 0.1, \dots, 1\}} p_{\text{interp}}(r). $$
#
# **All-point AP** (PASCAL VOC 2010 onwards) is the exact area under the envelope, using every
# point:
#
# $$ \text{AP}_{\text{all}} = \sum_k (R_k - R_{k-1})\, p_{\text{interp}}(R_k). $$
#
# On the worked example of section 4, the positives sit at ranks 1, 3, 4 and 7, with precisions
# $1, \tfrac23, \tfrac34, \tfrac47$ at recalls $\tfrac14, \tfrac12, \tfrac34, 1$. By hand:
#
# * non-interpolated: $\tfrac14 (1 + \tfrac23 + \tfrac34 + \tfrac47) = \tfrac{251}{336}
#   \approx 0.7470$;
# * the envelope is 1 on $(0, \tfrac14]$, $\tfrac34$ on $(\tfrac14, \tfrac34]$ (the $\tfrac23$ at
#   recall $\tfrac12$ is lifted to the $\tfrac34$ to its right) and $\tfrac47$ on
#   $(\tfrac34, 1]$; all-point: $\tfrac14 (1 + \tfrac34 + \tfrac34 + \tfrac47) = \tfrac{43}{56}
#   \approx 0.7679$;
# * 11-point: levels 0, 0.1, 0.2 read 1; levels 0.3 to 0.7 read $\tfrac34$; levels 0.8, 0.9, 1
#   read $\tfrac47$: $\tfrac{1}{11}(3 + 5 \cdot \tfrac34 + 3 \cdot \tfrac47) = \tfrac{237}{308}
#   \approx 0.7695$.
#
# The same with `dlcv.evaluation.metrics` and scikit-learn:

# %%
for method, by_hand in [("non-interpolated", 251 / 336), ("all-point", 43 / 56),
                        ("11-point", 237 / 308)]:
    print(f"{method:17s} AP = {ev.average_precision(y_ex, s_ex, method):.4f}   "
          f"(by hand {by_hand:.4f})")
print(f"sklearn.metrics.average_precision_score = {average_precision_score(y_ex, s_ex):.4f}")

env_ex = ev.interpolated_precision(c_ex.precision, c_ex.recall)           # (10,)
levels = ev.ELEVEN_RECALLS                                                # 0, 0.1, ..., 1
fig, axes = plt.subplots(1, 2, figsize=(12, 3.8), sharey=True)
for ax, title in zip(axes, ["all-point: area under the envelope",
                            "11-point: mean of the envelope at 11 recall levels"], strict=True):
    ax.plot(np.r_[0, c_ex.recall], np.r_[1, c_ex.precision], "o-", color="0.6", ms=4,
            label="PR curve")
    ax.plot(np.r_[0, c_ex.recall], np.r_[env_ex[0], env_ex], drawstyle="steps-pre",
            color=CLASS_COLORS[2], lw=2, label="interpolated precision")
    ax.set_xlabel("recall")
    ax.set_title(title, fontsize=10)
axes[0].fill_between(np.r_[0, c_ex.recall], np.r_[env_ex[0], env_ex], step="pre",
                     color=CLASS_COLORS[2], alpha=0.2, label=f"area = {43 / 56:.4f}")
p11 = ev.interpolated_precision(c_ex.precision, c_ex.recall, at=levels)
axes[1].vlines(levels, 0, p11, color=CLASS_COLORS[2], alpha=0.5)
axes[1].plot(levels, p11, "s", color=CLASS_COLORS[2], mec="k",
             label=f"mean of the 11 = {p11.mean():.4f}")
axes[0].set_ylabel("precision")
for ax in axes:
    ax.legend(fontsize=8, loc="lower left")
    ax.set_ylim(0, 1.05)
fig.tight_layout()
plt.show()

# %% [markdown]
# Since the envelope is never below the curve, all-point AP is never smaller than the
# non-interpolated AP; the two agree when precision at each positive is already the best
# precision to its right (a perfect ranking gives AP = 1 by all three). The 11-point version is
# a coarse sample of the envelope: it can land above or below the all-point area, and its
# coarseness made it unable to tell apart methods that differ at low AP, one reason VOC
# switched to all points in 2010.
#
# ### mAP: the mean over classes
#
# A multiclass model gets one AP per class (each class against the rest), and the **mean
# average precision** (mAP) is their plain mean, a macro average in the sense of section 3. Our
# three digit classifiers:

# %%
print("classifier           mAP: all-point  11-point  non-interp.  accuracy")
per_class, map_all, acc_all, spread = {}, [], [], 0.0
for feats, name in [("pixels", "64 pixels"), ("pca8", "8 PCA features"), ("pca2", "2 PCA features")]:
    d = ev.digit_classifier_scores(feats)
    maps = [ev.mean_average_precision(d.y, d.proba, method) for method in ev.AP_METHODS]
    per_class[name] = maps[0][1]
    map_all.append(maps[0][0])
    acc_all.append(np.mean(d.pred == d.y))
    spread = max(spread, np.ptp([m[0] for m in maps]))
    print(f"{name:20s}     {maps[0][0]:10.3f} {maps[1][0]:9.3f} {maps[2][0]:12.3f} "
          f"{acc_all[-1]:9.3f}")
print("\nall-point AP per digit:")
print("digit              " + "".join(f"{c:>6d}" for c in range(10)))
for name, aps in per_class.items():
    print(f"{name:18s} " + "".join(f"{a:6.3f}" for a in aps))
ap2 = per_class["2 PCA features"]
print(f"\nmAP orders the classifiers as accuracy does: "
      f"{np.array_equal(np.argsort(map_all), np.argsort(acc_all))}")
print(f"2 PCA features: digit {np.argmax(ap2)} is ranked best (AP {ap2.max():.3f}), digit "
      f"{np.argmin(ap2)} worst (AP {ap2.min():.3f}; a random ranking has AP about 0.1)")
print(f"the three AP methods differ by at most {spread:.3f} in mAP")

# %% [markdown]
# AP ranks the three classifiers like accuracy does (the first of the last three lines), but it
# says more: on 2 PCA features the classifier still ranks one digit nearly perfectly while it
# ranks another hardly better than chance (the next line). The three methods differ in the
# second or third decimal (the last line), which is the size of the differences papers argue
# about: when you compare with a published number, make sure it was computed the same way.
#
# ## 6. Evaluating object detectors
#
# A detector outputs, per image, a list of detections: a box, a class and a confidence score.
# The ground truth is a list of boxes with classes. To evaluate, we have to decide which
# detections are *correct*, and that is where boxes come in. The overlap of two boxes is
# measured by their **intersection over union**,
#
# $$ \text{IoU}(A, B) = \frac{|A \cap B|}{|A \cup B|} \in [0, 1]. $$
#
# **The PASCAL VOC protocol**, for one class at a time:
#
# 1. Collect the detections of that class from *all* test images and sort them by decreasing
#    score: one ranked list for the whole data set.
# 2. Go down the list. A detection is a **true positive** if its IoU with a ground-truth box of
#    that class in the same image is at least 0.5 and that box has not already been claimed by a
#    higher-scored detection. Otherwise it is a **false positive**: it overlaps nothing well
#    enough, or it is a **duplicate** of an object that is already found.
# 3. Precision and recall follow as in section 4, with one difference: recall is divided by the
#    number of **ground-truth objects**, including those that no detection ever found, so the
#    curve may never reach recall 1.
# 4. AP is the area under the interpolated curve; mAP is the mean over the classes (20 in VOC).
#
# (VOC also marks some objects "difficult": they count neither as found nor as missed.)
# Here is the protocol on a tiny example: one class ("cat"), two images, three ground-truth cats
# and six detections. The IoU is the three-line formula below; writing IoU, the matching and
# detection AP as general, vectorised functions is part of assignment a4.

# %%
def box_iou(a, b):
    """IoU of two boxes (x1, y1, x2, y2)."""
    w = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    return w * h / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h)


ground_truth = {"A": [(20, 30, 90, 110), (120, 40, 180, 100)], "B": [(50, 20, 150, 120)]}
detections = [("A", 0.95, (25, 35, 92, 112)), ("A", 0.90, (30, 22, 98, 104)),   # image, score,
              ("B", 0.80, (68, 36, 162, 132)), ("A", 0.60, (100, 104, 150, 138)),  # box
              ("A", 0.40, (116, 46, 178, 112)), ("B", 0.30, (10, 80, 70, 135))]

fig, axes = plt.subplots(1, 2, figsize=(11, 3.9))
for ax, img in zip(axes, ["A", "B"], strict=True):
    ax.add_patch(Rectangle((0, 0), 200, 145, color="0.95"))
    for g, (x1, y1, x2, y2) in enumerate(ground_truth[img]):
        ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, ec=CLASS_COLORS[2], lw=3))
        ax.text(x1 + 2, y2 - 3, f"cat {img}{g + 1}", color=CLASS_COLORS[2], fontsize=9,
                fontweight="bold")
    for rank, (im, score, (x1, y1, x2, y2)) in enumerate(detections, start=1):
        if im == img:
            ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, ec=CLASS_COLORS[1],
                                   lw=1.8, ls="--"))
            ax.text(x2 - 2, y1 + 2, f"#{rank}: {score:.2f}", color="k", fontsize=8,
                    ha="right", va="top", bbox=dict(fc=CLASS_COLORS[1], alpha=0.6, lw=0,
                                                    pad=1))
    ax.set_xlim(0, 200)
    ax.set_ylim(145, 0)  # image coordinates: y grows downwards
    ax.set_aspect("equal")
    ax.set_title(f"image {img}: ground truth (green), detections (dashed, rank: score)",
                 fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
fig.tight_layout()
plt.show()

# %% [markdown]
# The matching, going down the ranked list with the VOC rule: each detection is compared with
# every ground-truth cat of its image; if the best IoU reaches the threshold and that cat is still
# unclaimed, it is a TP and claims the cat.

# %%
def match(iou_threshold):
    """TP (1) / FP (0) for each detection, in rank order, with the VOC rule."""
    claimed, is_tp, rows = set(), [], []
    for img, score, box in detections:  # already sorted by decreasing score
        ious = [box_iou(box, g) for g in ground_truth[img]]
        best = int(np.argmax(ious))
        ok = ious[best] >= iou_threshold and (img, best) not in claimed
        if ok:
            claimed.add((img, best))
        is_tp.append(int(ok))
        why = ("TP" if ok else "FP, duplicate" if ious[best] >= iou_threshold
               else "FP, IoU too low")
        rows.append((img, score, f"{img}{best + 1}" if ious[best] > 0 else "none", ious[best],
                     why))
    return np.array(is_tp), rows


num_objects = sum(len(g) for g in ground_truth.values())  # 3 cats to find


def detection_ap(is_tp):
    """All-point AP of a ranked TP/FP list, recall over all ground-truth objects."""
    tp = np.cumsum(is_tp)
    precision, recall = tp / np.arange(1, len(is_tp) + 1), tp / num_objects
    env = ev.interpolated_precision(precision, recall)
    return float(np.sum(np.diff(recall, prepend=0.0) * env)), precision, recall


is_tp, rows = match(0.5)
ap50, prec_d, rec_d = detection_ap(is_tp)
print("rank image score  best match  IoU   decision          precision  recall")
for k, (img, score, gt, iou, why) in enumerate(rows):
    print(f"{k + 1:4d}   {img}   {score:.2f}     {gt:6s}  {iou:.3f}  {why:16s}  {prec_d[k]:9.3f} "
          f"{rec_d[k]:7.3f}")
print(f"AP at IoU 0.5 = {ap50:.4f}")

# %% [markdown]
# Detection #2 overlaps cat A1 well (its IoU is in the table) but #1 has already claimed it: a
# duplicate, hence a false positive. This is why detectors remove near-duplicate boxes with
# non-maximum suppression (lecture 09) before they are evaluated. Detection #4 hits background, #6
# overlaps a cat far too little. All three cats are found, at ranks 1, 3 and 5: precision at those
# ranks is $1, \tfrac23, \tfrac35$, and the AP is $\tfrac13 (1 + \tfrac23 + \tfrac35) \approx
# 0.756$.
#
# ### COCO: AP over many IoU thresholds
#
# An IoU of 0.5 is a lenient notion of "found": a box can be off by a third of its width and
# still count. The COCO benchmark (Lin et al., 2014) therefore reports:
#
# * **AP** (the headline number, often also called mAP): the AP averaged over the 80 classes
#   *and* over ten IoU thresholds $0.50, 0.55, \dots, 0.95$, which rewards precise boxes;
# * **AP$_{50}$** and **AP$_{75}$**: AP at a single threshold of 0.5 (the VOC criterion) and of
#   0.75 (strict);
# * **AP$_S$**, **AP$_M$**, **AP$_L$**: AP over small (area below $32^2$ pixels), medium (up to
#   $96^2$) and large objects; small objects are much harder;
# * recall-based numbers (AR) with at most 1, 10 or 100 detections per image.
#
# COCO interpolates precision at 101 recall levels $0, 0.01, \dots, 1$, and its matching lets a
# detection take the best *unclaimed* box when the best one is taken; on our example that makes
# no difference. Raising the IoU threshold on the tiny example shows what the average rewards:

# %%
thresholds = np.round(np.arange(0.50, 0.96, 0.05), 2)
aps = np.array([detection_ap(match(t)[0])[0] for t in thresholds])
fig, ax = plt.subplots(figsize=(7, 3))
ax.plot(thresholds, aps, "o-", drawstyle="steps-post", color=CLASS_COLORS[0])
ax.axhline(aps.mean(), color=CLASS_COLORS[5], ls="--",
           label=f"COCO-style AP = mean over the 10 thresholds = {aps.mean():.3f}")
ax.set_xlabel("IoU threshold for a true positive")
ax.set_ylabel("AP")
ax.set_title(f"AP50 = {aps[0]:.3f}, AP75 = {aps[5]:.3f}", fontsize=10)
ax.legend(fontsize=8)
plt.show()
for t, a in zip(thresholds, aps, strict=True):
    print(f"IoU {t:.2f}: decisions {''.join('T' if v else 'F' for v in match(t)[0])}, AP {a:.3f}")
for k in np.flatnonzero(is_tp):  # the true positives at IoU 0.5
    last = max(t for t in thresholds if match(t)[0][k])
    print(f"detection #{k + 1} (IoU {rows[k][3]:.3f}) is a true positive up to threshold "
          f"{last:.2f}")
print(f"AP50 {aps[0]:.3f}, AP75 {aps[5]:.3f}, COCO AP {aps.mean():.3f}")

# %% [markdown]
# Each true positive stops counting at the first threshold above its IoU, even the best box, #1
# (the lines after the table). The example's AP$_{75}$ and its COCO AP are far below its AP$_{50}$
# (the last line): the boxes are in the right places but loose. Two detectors with the same
# AP$_{50}$ can differ a lot in COCO AP, and that difference is exactly the localisation quality.
#
# To summarise the protocol: scores give the ranking, IoU with a threshold turns boxes into TP
# and FP, duplicates are FPs, missed objects lower the recall, and AP summarises the ranked list
# per class.

# %% [markdown]
# ## 7. Calibration: can the scores be trusted as probabilities?
#
# Everything so far used the scores only through their **order**: the PR curve and AP do not
# change when the scores are replaced by any increasing function of them (section 4), and a
# threshold simply moves with them. Often the value itself is used. A radiologist is told
# "tumour, probability 0.8"; an any-time network (lecture 18, section 6.3) stops computing as
# soon as its confidence passes a threshold; a system hands the cases it is unsure of to a
# human; the probabilities of several models are combined, or weighed against the cost of each
# decision. All of this assumes that the numbers
# are **calibrated**: among the predictions made with confidence 0.8, 80% should be right.
#
# For a classifier with class probabilities $p(x) = (p_1(x), \dots, p_C(x))$, write its
# prediction $\hat y = \arg\max_k p_k(x)$ and its **confidence** $\hat p = \max_k p_k(x)$. It is
# perfectly calibrated when
#
# $$ P(\hat y = y \mid \hat p = q) = q \qquad \text{for every } q \in [0, 1]. $$
#
# Calibration and accuracy are different properties. A "classifier" that ignores the image and
# gives every digit probability 0.1 is perfectly calibrated on the balanced digits (whichever
# digit it names, it is right one time in ten), and useless; one that is right 97% of the time
# but always says 1.0 is accurate and miscalibrated.
# The negative log-likelihood (NLL, the cross-entropy loss on held-out data) rewards both at once:
# it is low only for probabilities that are confident *and* right.
#
# **The reliability diagram.** The condition cannot be checked at a single $q$ (no two
# confidences are exactly equal), so the predictions are grouped. Split $[0, 1]$ into $M$ bins of
# equal width, let $B_m$ be the test examples whose confidence falls in bin $m$,
# $\big(\tfrac{m-1}{M}, \tfrac{m}{M}\big]$, and compare the bin's accuracy with its mean confidence:
#
# $$ \text{acc}(B_m) = \frac{1}{|B_m|} \sum_{i \in B_m} [\hat y_i = y_i], \qquad
#    \text{conf}(B_m) = \frac{1}{|B_m|} \sum_{i \in B_m} \hat p_i. $$
#
# The reliability diagram draws $\text{acc}(B_m)$ as one bar per bin. A calibrated classifier has
# its bars on the diagonal; an **overconfident** one has them below it (it is right less often
# than it claims), an underconfident one above. The bins hold very different numbers of
# examples, so a histogram of the confidences belongs beside it.
#
# **The expected calibration error** (Naeini et al. 2015; Guo et al. 2017) summarises the diagram
# by its gaps, each weighted by the share of predictions in its bin:
#
# $$ \text{ECE} = \sum_{m=1}^{M} \frac{|B_m|}{N}\, \big|\text{acc}(B_m) - \text{conf}(B_m)\big|. $$
#
# It is 0 for perfect calibration; Guo et al. use $M = 15$. Two cautions. The number depends on
# the bins, and on a finite test set even a perfectly calibrated classifier gets a positive ECE
# from sampling noise (up to about $\sqrt{M/N}$), so compare ECEs on the same test set with the
# same bins. And the ECE says nothing about accuracy: the "probability 0.1 for every digit"
# classifier above has an ECE near 0. Report it beside the accuracy and the NLL, not instead of
# them.
#
# **Why modern networks are overconfident.** Guo et al. (2017) found that a five-layer LeNet
# (the architecture of 1998) is well calibrated on CIFAR-100 while a 110-layer ResNet, far more
# accurate, is strongly overconfident: its mean confidence lies well above its accuracy. More
# depth and width, batch normalisation and less weight decay all made calibration worse, and
# they point to a common mechanism. Once every training example is classified correctly, the
# cross-entropy can still fall, simply by making the logits larger: the network lowers its
# training loss by becoming more confident, not more accurate. On held-out data this shows as **NLL overfitting**: the error stays flat
# (or even improves) while the NLL rises, because the remaining mistakes are made with ever
# higher confidence.
#
# **Temperature scaling** (Guo et al. 2017) is the simplest remedy, and on most of their data
# sets the most effective one. Divide the logits $z(x)$ of every example by one scalar $T > 0$
# before the softmax,
#
# $$ q(x) = \operatorname{softmax}\big(z(x) / T\big), \qquad
#    T^\star = \arg\min_{T > 0}\; -\frac{1}{N_{\text{val}}} \sum_{i \in \text{val}}
#    \log q_{y_i}(x_i), $$
#
# fitting $T$ by minimising the NLL on **held-out validation data**. $T > 1$ softens the
# probabilities (lower confidences), $T < 1$ sharpens them, $T = 1$ changes nothing. Dividing by
# a positive number keeps the order of the logits, so the predicted class, and with it the
# accuracy and the confusion matrix, stays exactly the same: temperature scaling corrects the
# confidences and nothing else. It is a one-parameter, multiclass version of Platt scaling
# (Platt 1999), and since the NLL is a convex function of $1/T$ the fit is a one-dimensional
# search (`cal.fit_temperature`). Why validation data? On the training set the network is right
# almost everywhere, by large margins, so the NLL there asks for even sharper probabilities
# ($T < 1$): the opposite of what new data needs.
#
# **The demonstration.** The same 8 principal components of the digits as our running softmax
# classifier, now fed to a wide network (two hidden layers of 256 ReLU units) with no weight
# decay, no dropout and no early stopping, trained by Adam for 200 epochs: capacity and time
# enough to become overconfident. The digits are split anew, with a small training set (less to
# learn from, more to memorise) and a large test set, so that the bins of the reliability
# diagram have examples to count.

# %%
import torch
from sklearn.decomposition import PCA

from dlcv.data import load_digits, split_data
from dlcv.evaluation import calibration as cal
from dlcv.networks.training import fit, make_net

X_all, y_all = load_digits()                                       # (1797, 8, 8) in [0, 16]
parts = split_data(X_all, y_all, num_val=300, num_test=900, seed=0)  # stratified, the rest trains
flat = lambda X: X.reshape(len(X), -1) / 16.0                      # (N, 64) in [0, 1]
pca = PCA(n_components=8, random_state=0).fit(flat(parts.X_train))  # on training images only
Z_train = pca.transform(flat(parts.X_train))                       # (N_train, 8)
features = lambda X: ((pca.transform(flat(X)) - Z_train.mean(0)) / Z_train.std(0)).astype(
    np.float32)                                                    # (N, 8), standardised
X_tr, X_va, X_te = features(parts.X_train), features(parts.X_val), features(parts.X_test)

net = make_net(8, 10, hidden=256, layers=2, seed=0)                # 8 -> 256 -> 256 -> 10
hist = fit(net, X_tr, parts.y_train, X_va, parts.y_val, epochs=200, batch_size=100, lr=1e-3,
           optimizer="adam", seed=0)                               # seeded weights and batches
with torch.no_grad():                                              # fit() leaves it in eval mode
    logits_tr, logits_val, logits_test = (net(torch.from_numpy(X)).double().numpy()
                                          for X in (X_tr, X_va, X_te))  # (N, 10) each

print(f"train / validation / test: {len(parts.y_train)} / {len(parts.y_val)} / "
      f"{len(parts.y_test)} digits")
print(f"after {hist.epochs[-1]} epochs: training loss {hist.train_loss[-1]:.4f}, "
      f"training accuracy {hist.train_acc[-1]:.3f}")
low = int(np.argmin(hist.val_loss))
print(f"validation NLL: lowest {hist.val_loss[low]:.3f} at epoch {low}, {hist.val_loss[-1]:.3f} "
      f"at the end (validation accuracy {hist.val_acc[low]:.3f} then, {hist.val_acc[-1]:.3f} "
      "at the end)")
print(f"from epoch {low} to the end the validation NLL changes by "
      f"{hist.val_loss[-1] - hist.val_loss[low]:+.3f}, the validation error by "
      f"{hist.val_acc[low] - hist.val_acc[-1]:+.3f}")

fig, ax = plt.subplots(figsize=(8, 3))
ax.plot(hist.epochs[1:], hist.train_loss[1:], ":", color="0.3", label="training loss (NLL)")
ax.plot(hist.epochs[1:], hist.val_loss[1:], color=CLASS_COLORS[5], label="validation NLL")
ax.plot(hist.epochs[1:], 1 - hist.val_acc[1:], color=CLASS_COLORS[0], label="validation error")
ax.axvline(low, color="0.6", lw=1, ls="--", label="lowest validation NLL")
ax.set_ylim(0, 0.45)
ax.set_xlabel("epoch")
ax.legend(fontsize=8, loc="upper right", ncol=2)
ax.set_title("NLL overfitting: the validation NLL rises again, the error does not", fontsize=10)
plt.show()

# %% [markdown]
# The training loss heads for zero and every training digit is right (the second line). On the
# validation set the NLL passes its minimum early and rises again while the error does not (the
# changes are in the last line): the NLL overfitting of Guo et al., on a network small enough to
# train in seconds. Now fit $T$ on the validation logits and look at the **test** set, before and
# after (15 bins; the number over each bar counts its predictions):

# %%
T = cal.fit_temperature(logits_val, parts.y_val)                   # one scalar, on validation
print(f"temperature fitted on the validation set: T = {T:.3f}")
print("NLL on the training set at T = 1, 1/2, 1/4: " + ", ".join(
    f"{cal.negative_log_likelihood(logits_tr, parts.y_train, t):.2g}" for t in (1, 0.5, 0.25)))
probs_before = cal.softmax_with_temperature(logits_test)           # (900, 10), T = 1
probs_after = cal.softmax_with_temperature(logits_test, T)         # (900, 10)

fig, axes = plt.subplots(2, 2, figsize=(11, 7.6), gridspec_kw={"height_ratios": [1, 2.3]})
for col, (p, title) in enumerate([(probs_before, "before: softmax(z)"),
                                  (probs_after, f"after: softmax(z / T), T = {T:.2f}")]):
    bins = cal.reliability_bins(p, parts.y_test, n_bins=15)
    cal.draw_confidence_histogram(axes[0, col], bins, title=f"test set, {title}")
    cal.draw_reliability(axes[1, col], bins)
axes[1, 0].legend(fontsize=8, loc="upper left")
fig.tight_layout()
plt.show()

print("test set     ECE     NLL  accuracy  mean confidence")
for name, p, t in [("before", probs_before, 1.0), ("after", probs_after, T)]:
    print(f"{name:8s}  {cal.expected_calibration_error(p, parts.y_test):.4f}  "
          f"{cal.negative_log_likelihood(logits_test, parts.y_test, t):.4f}  "
          f"{np.mean(p.argmax(1) == parts.y_test):8.4f}  {p.max(1).mean():15.4f}")
same = np.array_equal(probs_before.argmax(1), probs_after.argmax(1))
print(f"same predicted class for every test digit: {same}")
for name, p in [("before", probs_before), ("after", probs_after)]:
    b = cal.reliability_bins(p, parts.y_test, n_bins=15)
    rest = b.count[:-1] > 0                                        # non-empty bins below the top
    short = np.sum(b.accuracy[:-1][rest] < b.confidence[:-1][rest])  # bars below the diagonal
    print(f"{name:6s}: {b.count[-1] / b.count.sum():.0%} of the predictions in the top bin, "
          f"{np.sum(b.count > 0)} bins in use; below the top bin {short} of {rest.sum()} bars "
          "fall short of the diagonal")
ece = [cal.expected_calibration_error(p, parts.y_test) for p in (probs_before, probs_after)]
nll = [cal.negative_log_likelihood(logits_test, parts.y_test, t) for t in (1.0, T)]
print(f"T {'>' if T > 1 else '<='} 1, so it {'softens' if T > 1 else 'sharpens'}; the ECE "
      f"{'falls' if ece[1] < ece[0] else 'does not fall'}, the NLL "
      f"{'falls' if nll[1] < nll[0] else 'does not fall'}")

# %% [markdown]
# Before scaling, most test predictions sit in the top bin and the mean confidence lies clearly
# above the accuracy (the table); below the top bin most bars fall short of the diagonal: the
# network claims more than it delivers. The fitted $T$ is above 1, so it softens: fewer
# predictions stay in the top bin, the confidences spread over more bins, the bars move towards
# the diagonal, the ECE and the NLL fall (the last lines), and the accuracy does not change,
# prediction by prediction. On the training digits, all of them right, the NLL only falls as $T$
# shrinks: a temperature fitted there would sharpen the probabilities, the wrong way, as argued
# above. The bars of bins with a handful of predictions jump about from noise in both diagrams;
# that is why the ECE weights each bin by its count, and why a large test set matters.
#
# One scalar has its limits. It can make the network as a whole more or less confident, but it
# cannot fix a classifier that is overconfident on some inputs and underconfident on others
# (question 9), and a temperature fitted on validation data says nothing about data from a
# different distribution, where calibration degrades as the shift grows (Ovadia et al. 2019).
# More flexible recalibrations exist, such as histogram binning, isotonic regression (Zadrozny
# and Elkan 2002) and vector or matrix scaling (a diagonal or a full linear map of the logits),
# with more parameters to fit on the same validation set; on most of Guo et al.'s benchmarks they
# did not beat the single temperature.

# %% [markdown]
# ## 8. Play with it: the threshold and the PR curve
#
# The widget puts sections 2, 4 and 5 side by side. **Left**: the score histograms of the
# positives and the negatives (counts on a log axis), the threshold $t$ as a black line, and the
# side called positive shaded grey. **Middle**: the PR curve (grey), its interpolated envelope
# (green; the shaded area under it is the all-point AP), the 11 recall levels of the VOC 2007 AP
# (squares), faint curves of equal F1, the precision of a random ranking (dotted), and the
# operating point of the current threshold (orange). **Right**: the four counts at $t$ and the
# precision, recall and F1 they give. The **scores** menu chooses the softmax classifier on 64
# pixels, 8 or 2 principal components (pick the **positive digit**), or synthetic scores with
# 10% or 1% positives at two levels of overlap.
#
# Things to try:
#
# 1. **Walk along the curve.** Drag the threshold from right to left. Watch the orange point
#    travel from the top left (few, sure alarms) to the bottom right (everything called
#    positive: recall 1, precision = the positive rate). Which counts change when one bar of the
#    histogram passes the line?
# 2. **Best F1.** Press *threshold of best F1*. Where does the point sit relative to the F1
#    curves? Is the best-F1 threshold near 0 (probability 0.5) for the digits?
# 3. **Quality.** For digit 9, switch between 64 pixels, 8 and 2 PCA features. How do the
#    histograms' overlap, the curve and the AP change together?
# 4. **Rare positives.** Choose *synthetic: 10% positives, d'=2* and then *1% positives, d'=2*:
#    the score distributions are the same, only the number of negatives per positive grows.
#    Find the threshold at which recall is about 0.5 in both: what happens to precision?
# 5. **Interpolation.** On the 1% set the curve is a jagged sawtooth. Compare the three AP
#    numbers in the readout: which is largest, and why can the 11-point value sit above the
#    all-point one?
# 6. **Easy and hard digits.** With 2 PCA features, compare digit 0 with digit 5. Which
#    digit's positives have the histogram that overlaps most with the negatives?

# %%
view = PRThresholdView()
view

# %% [markdown]
# ## Check yourself
#
# **1.** A detector scans 1000 windows of which 10 contain a face. It flags 20 windows, 8 of
# them faces. Give TP, FP, FN, TN, precision, recall and accuracy.
#
# <details><summary>Answer</summary>
#
# TP = 8, FP = 12, FN = 2, TN = 1000 − 20 − 2 = 978. Precision 8/20 = 0.4, recall 8/10 = 0.8,
# accuracy $(8 + 978)/1000 = 0.986$. The accuracy looks excellent, although 60% of the alarms
# are wrong; a detector that flags nothing would score $990/1000 = 0.99$.
# </details>
#
# **2.** Why is F1 the harmonic and not the arithmetic mean of precision and recall?
#
# <details><summary>Answer</summary>
#
# The harmonic mean is small whenever either value is small, so a classifier cannot buy a high
# F1 by maximising one rate and neglecting the other. Calling everything positive gives recall 1
# and, with 1% positives, precision 0.01: the arithmetic mean would be 0.505, F1 is about 0.02.
# </details>
#
# **3.** You raise the threshold. Which of precision, recall, FP and TN can go up, and which can
# go down?
#
# <details><summary>Answer</summary>
#
# Fewer examples are called positive, so TP and FP can only fall and FN and TN can only rise:
# recall (TP / number of positives) never goes up. Precision usually rises but can fall, when
# the examples that drop out of the positive set are true positives.
# </details>
#
# **4.** A ranked list has labels 1, 1, 0, 0, 1 (top first), so three positives. Compute the
# non-interpolated, the all-point and the 11-point AP.
#
# <details><summary>Answer</summary>
#
# Precision at the positives: 1, 1, 3/5 at recalls 1/3, 2/3, 1. Non-interpolated:
# (1 + 1 + 0.6)/3 = 0.867. The envelope is 1 up to recall 2/3 and 0.6 beyond, which the
# precisions already are, so all-point AP is also 0.867. 11-point: levels 0 to 0.6 (seven of
# them) read 1, levels 0.7 to 1 (four) read 0.6: (7 + 2.4)/11 = 0.855.
# </details>
#
# **5.** A classifier has ROC AUC 0.99 on a test set with one positive per 10 000 negatives, and
# its AP is 0.2. How can both be true?
#
# <details><summary>Answer</summary>
#
# AUC 0.99 means a random positive outranks 99% of the negatives, so about 1% of the negatives,
# some 100 per positive, still score above a typical positive. At the recall where it finds half
# of the positives it has raised many false alarms per true one, so precision, and with it AP,
# is low. ROC ignores the class ratio, precision does not.
# </details>
#
# **6.** A detector always outputs two nearly identical boxes, with slightly different scores,
# on every object it finds, both with IoU above 0.5. What happens to its AP at IoU 0.5, and what
# is the usual fix?
#
# <details><summary>Answer</summary>
#
# Only the higher-scored box of each pair can claim the object; the second is a duplicate and
# counts as a false positive. Every TP is followed by an FP somewhere below it, which pulls
# precision down (towards 0.5 wherever the duplicates sit just below their twins), so AP drops
# a lot although recall is unchanged. Non-maximum suppression removes such duplicates before
# evaluation.
# </details>
#
# **7.** Detector X has a higher AP$_{50}$ than detector Y, but a lower COCO AP. What does that
# tell you?
#
# <details><summary>Answer</summary>
#
# X finds and ranks objects at least as well when loose boxes are accepted, but its boxes are
# less precise: at the strict IoU thresholds (0.75 to 0.95) fewer of its detections count as
# true positives. Y localises better.
# </details>
#
# **8.** You add to the test set many more negatives drawn from the same distribution as the
# old ones. What happens, in expectation, to the ROC curve, to the PR curve and to the accuracy
# of a fixed threshold?
#
# <details><summary>Answer</summary>
#
# The ROC curve stays the same (TPR and FPR are rates within each class). Precision at every
# recall falls, since FP grows with the number of negatives and TP does not, so the PR curve and
# AP drop. Accuracy moves towards the specificity, the accuracy on negatives alone, which is
# often high: it can even rise.
# </details>
#
# **9.** A classifier's 1000 test predictions fall into two groups of 500: one made with
# confidence 0.9, of which 400 are right, and one made with confidence 0.6, of which 350 are
# right. Compute the ECE with the two bins $(0.5, 0.75]$ and $(0.75, 1]$. Can temperature
# scaling fix this classifier?
#
# <details><summary>Answer</summary>
#
# Bin $(0.75, 1]$: confidence 0.9, accuracy 400/500 = 0.8, gap 0.1 (overconfident). Bin
# $(0.5, 0.75]$: confidence 0.6, accuracy 350/500 = 0.7, gap 0.1 (underconfident).
# ECE = ½ · 0.1 + ½ · 0.1 = 0.1, although the overall accuracy (0.75) equals the overall mean
# confidence (0.75): averaging over all predictions hides the miscalibration, the bins show
# it. No temperature fixes it. The top-class probability falls as $T$ grows, for every example:
# $T > 1$ brings the first group towards 0.8 but pushes the second further from 0.7, $T < 1$
# does the reverse. A recalibration with more freedom, such as histogram binning (replace the
# confidence of each bin by the bin's accuracy on validation data), can.
# </details>
#
# **10.** A colleague fits the temperature on the training set instead of a validation set and
# gets $T < 1$. Why, and what does that $T$ do on the test set? Does the choice change the test
# accuracy?
#
# <details><summary>Answer</summary>
#
# The network was trained to be right on the training examples, and it is, with large margins:
# sharper probabilities lower the training NLL further, so the fit asks for $T < 1$ (in the
# demonstration of section 7, where every training digit is right, the training NLL keeps
# falling as $T$ shrinks and has no minimum at all). On new data it makes an already
# overconfident network more overconfident: the test ECE and NLL rise. The accuracy is the same
# for every $T > 0$, since dividing the logits by a positive number keeps their order and hence
# the predicted class. Fit $T$ on held-out data the network never trained on, and never on the
# test set whose numbers you report.
# </details>
#
# ## Summary
#
# * Accuracy counts all mistakes alike and depends on the class ratio; with rare positives a
#   classifier that never says "yes" looks excellent.
# * The binary confusion matrix (TP, FP, FN, TN) gives precision (how many alarms are right),
#   recall or sensitivity (how many positives are found), specificity and FPR. F1 is their
#   harmonic mean, $F_\beta$ weights recall $\beta$ times as much.
# * A threshold on a score decides the trade-off: raising it trades recall for (usually)
#   precision. Choose it on validation data.
# * A multiclass confusion matrix shows which classes are confused; its rows give per-class
#   recall and its columns per-class precision. Macro averages weight classes equally, micro
#   averages weight examples equally (micro F1 = accuracy for single-label problems).
# * The PR curve comes from sorting the scores and two cumulative sums; it is a sawtooth. The ROC
#   curve (TPR against FPR) ignores the class ratio, so with many negatives the PR curve is the
#   more honest picture.
# * AP summarises the PR curve: non-interpolated (scikit-learn), all-point area under the
#   interpolated envelope $p_{\text{interp}}(r) = \max_{r' \ge r} p(r')$ (VOC 2010 onwards), or
#   the mean of the envelope at 11 recall levels (VOC 2007). mAP is the mean over classes.
# * Detection AP ranks all detections of a class over the data set, counts a detection as TP
#   when it claims an unclaimed ground-truth box with IoU ≥ 0.5, duplicates as FP, and divides
#   recall by the number of objects. COCO averages AP over IoU 0.50:0.05:0.95 and reports AP$_{50}$,
#   AP$_{75}$ and AP by object size.
# * Calibration asks whether the scores' values can be read as probabilities: among the
#   predictions made with confidence $q$, a fraction $q$ should be right. The reliability
#   diagram compares accuracy with mean confidence in bins of confidence; the ECE is their gap,
#   weighted by the share of predictions per bin. Large networks trained long on cross-entropy
#   are overconfident (NLL overfitting, Guo et al. 2017). Temperature scaling divides the logits
#   by one $T$ fitted by NLL on validation data; it leaves every prediction, hence the
#   accuracy, unchanged.
#
# ## Papers and further reading
#
# * M. Everingham, L. Van Gool, C. K. I. Williams, J. Winn, A. Zisserman (2010). The PASCAL
#   Visual Object Classes (VOC) challenge. *International Journal of Computer Vision* 88(2),
#   303–338. The detection protocol, IoU ≥ 0.5 and the 11-point AP.
# * M. Everingham, S. M. A. Eslami, L. Van Gool, C. K. I. Williams, J. Winn, A. Zisserman (2015).
#   The PASCAL Visual Object Classes challenge: a retrospective. *International Journal of
#   Computer Vision* 111(1), 98–136. Includes the change to all-point AP.
# * T.-Y. Lin, M. Maire, S. Belongie, J. Hays, P. Perona, D. Ramanan, P. Dollár, C. L. Zitnick
#   (2014). Microsoft COCO: common objects in context. *ECCV 2014*. The data set whose AP
#   averages over IoU thresholds; the detection evaluation page of cocodataset.org defines the
#   metrics.
# * J. Davis, M. Goadrich (2006). The relationship between precision-recall and ROC curves.
#   *ICML 2006*.
# * T. Saito, M. Rehmsmeier (2015). The precision-recall plot is more informative than the ROC
#   plot when evaluating binary classifiers on imbalanced datasets. *PLoS ONE* 10(3), e0118432.
# * T. Fawcett (2006). An introduction to ROC analysis. *Pattern Recognition Letters* 27(8),
#   861–874.
# * C. D. Manning, P. Raghavan, H. Schütze (2008). *Introduction to Information Retrieval*.
#   Cambridge University Press. Chapter 8: precision, recall, F-measure, interpolated precision,
#   11-point average precision and MAP.
# * C. J. van Rijsbergen (1979). *Information Retrieval*, 2nd ed. Butterworths. The origin of
#   the F-measure.
# * D. Hoiem, Y. Chodpathumwan, Q. Dai (2012). Diagnosing error in object detectors. *ECCV
#   2012*. What the false positives of a detector are made of (localisation, confusion with
#   similar classes, background).
# * C. Guo, G. Pleiss, Y. Sun, K. Q. Weinberger (2017). On calibration of modern neural
#   networks. *ICML 2017*. Modern networks are overconfident; reliability diagrams, ECE, NLL
#   overfitting and temperature scaling.
# * M. P. Naeini, G. F. Cooper, M. Hauskrecht (2015). Obtaining well calibrated probabilities
#   using Bayesian binning. *AAAI 2015*. The expected and maximum calibration errors.
# * J. Platt (1999). Probabilistic outputs for support vector machines and comparisons to
#   regularized likelihood methods. In *Advances in Large Margin Classifiers*, MIT Press.
#   Platt scaling, of which temperature scaling is the one-parameter case.
# * B. Zadrozny, C. Elkan (2002). Transforming classifier scores into accurate multiclass
#   probability estimates. *KDD 2002*. Isotonic regression for calibration.
# * A. Niculescu-Mizil, R. Caruana (2005). Predicting good probabilities with supervised
#   learning. *ICML 2005*. Which classifiers are calibrated out of the box, and Platt scaling
#   against isotonic regression.
# * Y. Ovadia, E. Fertig, J. Ren, Z. Nado, D. Sculley, S. Nowozin, J. V. Dillon,
#   B. Lakshminarayanan, J. Snoek (2019). Can you trust your model's uncertainty? Evaluating
#   predictive uncertainty under dataset shift. *NeurIPS 2019*. Calibration under distribution
#   shift, where post-hoc recalibration falls short.
# * scikit-learn user guide, *Metrics and scoring: quantifying the quality of predictions*
#   (precision, recall, F-measures, average precision, ROC),
#   https://scikit-learn.org/stable/modules/model_evaluation.html .
