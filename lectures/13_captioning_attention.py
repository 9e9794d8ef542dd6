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
# # Lecture 13 — Image captioning and attention
#
# A classifier answers with one label out of a fixed list. A caption is a sentence: its length
# is not fixed, its words depend on each other, and many different sentences describe the same
# picture equally well. Captioning joins the two halves of this course: a **convolutional
# network** turns the pixels into features, and a **recurrent network** (lecture 12) turns the
# features into words, one at a time. The first systems (2014–2015) squeezed the whole image
# into one vector; the next step let the decoder take a **new look at the image for every word**.
# That idea, attention, began in machine translation a few months earlier and now sits at the
# heart of almost every model that reads or writes sequences.
#
# We build all of it on the shapes scenes, whose captions ("a large red circle left of a small
# blue square") are made by a grammar, so that training takes seconds on a laptop and we can
# check every word against the truth.
#
# **After this lecture you can**
#
# 1. write down how a CNN encoder and an RNN decoder generate a caption, and say where the image
#    enters in Karpathy and Fei-Fei's multimodal RNN and in Vinyals et al.'s Show and Tell;
# 2. explain the roles of `<START>`, `<END>` and `<NULL>`, train a captioner with **teacher
#    forcing**, and say why the model then meets situations at test time that it never saw during
#    training (**exposure bias**);
# 3. describe **scheduled sampling** and its three schedules (linear, exponential, inverse
#    sigmoid);
# 4. decode greedily and with **beam search**, and carry out a beam search with $k = 3$ by hand;
# 5. compute **BLEU** (clipped n-gram precision, brevity penalty) by hand, and say what METEOR,
#    CIDEr and SPICE do differently;
# 6. test whether a captioner uses the image at all, with a language-only baseline;
# 7. write the equations of **soft attention** (Show, Attend and Tell), read an attention map,
#    and explain why **hard attention** needs REINFORCE;
# 8. place captioning in its family: encoder-decoder translation (Sutskever et al.), the origin
#    of attention (Bahdanau et al.), and visual question answering with its language-prior trap.
#
# **Plan.** The task and the data → an image encoder with a grid of features → decoders that
# read the image once (Karpathy & Fei-Fei, Show and Tell) → writing a caption at test time,
# exposure bias, scheduled sampling → beam search, worked by hand → BLEU, worked by hand → does
# the image matter? → soft attention, trained here → a widget to watch where the model looks →
# hard attention → translation and visual question answering → questions, summary, papers.
#
# Assignment a5 asks you to write the RNN and LSTM layers, the captioning model, beam search and
# BLEU yourself in numpy. Here torch does the layers and autograd the gradients, and the lecture's
# own versions (`dlcv.captioning.decoding`: `lecture_beam_search`, `lecture_bleu`, ...) are there to
# watch, not to copy: a5's tests refuse them.

# %%
# %matplotlib inline
import textwrap
import time
from collections import Counter

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

from dlcv.captioning import attention_maps, decoding, encoders
from dlcv.captioning import captioners as cap
from dlcv.captioning.captions import make_caption_data
from dlcv.captioning.widgets import AttentionView, heat_overlay
from dlcv.plots import CLASS_COLORS
from dlcv.shapes import COLOR_NAMES, show_scene
from dlcv.timing import cap_threads

plt.rcParams.update({"figure.figsize": (9, 3.2), "figure.dpi": 90, "font.size": 10})
np.set_printoptions(precision=3, suppress=True, linewidth=110)
cap_threads()  # one BLAS and torch thread: as fast here, far faster on a busy machine
_ = torch.manual_seed(0)
t_start = time.perf_counter()

# %% [markdown]
# ## 1. The task: from pixels to a sentence
#
# A caption is a sequence of words $S = (S_1, \dots, S_N)$. A captioning model defines the
# probability of a sentence given an image $I$ and, like every language model of lecture 12,
# factorises it word by word with the chain rule:
#
# $$ p(S \mid I) = \prod_{t=1}^{N} p(S_t \mid I, S_1, \dots, S_{t-1}). $$
#
# So the model needs one ability only: given the image and the words so far, give a probability
# to every possible next word. Training maximises $\log p(S \mid I)$ of the human captions
# (maximum likelihood); testing searches for a sentence with high probability.
#
# Real data sets pair images with several human captions each: Flickr8k and Flickr30k (8 000 and
# 31 000 images), and MS COCO (about 120 000 images with five captions each), the benchmark of the
# papers in this chapter. Our stand-in is `dlcv.captioning.captions`: shapes scenes with up to five
# captions each,
# written by a small grammar that names colours, sizes, classes, counts and places. The grammar
# chooses *which* objects to talk about at random, so, as with human captions, the five
# references of an image disagree with each other.

# %%
train = make_caption_data(2000, seed=1)                   # 2000 scenes x ~5 captions
test = make_caption_data(250, seed=2, vocab=train.vocab)  # held-out scenes, the same vocabulary
vocab = train.vocab
print(f"training: {len(train)} images, {len(train.tokens)} captions; test: {len(test)} images")
print(f"vocabulary: {len(vocab)} words: {' '.join(vocab.idx_to_word)}")
lengths = train.mask.sum(1) - 2                           # words, without <START> and <END>
print(f"caption length: {lengths.min()} to {lengths.max()} words, mean {lengths.mean():.1f}")

fig, axes = plt.subplots(1, 4, figsize=(12, 4.2))
for ax, i in zip(axes, [0, 3, 7, 9], strict=True):
    show_scene(ax, train.scenes.images[i])
    ax.set_xlabel("\n".join(train.captions[i]), fontsize=7.5, loc="left")
fig.suptitle("four training scenes and their reference captions", fontsize=10)
fig.tight_layout()
plt.show()

# %% [markdown]
# ### Words become ids; three special tokens
#
# The vocabulary maps each word to an integer. Three special tokens make sequences work:
#
# * `<START>` is the first input of every caption. The model has to predict the first word from
#   *something*, and this fixed token (plus the image) is that something.
# * `<END>` is the last target. Predicting it is how the model says "the sentence is finished",
#   so caption lengths are learned, not fixed.
# * `<NULL>` pads short captions to the length of the longest one, so a minibatch is one array;
#   padded positions are masked out of the loss. (A fourth, `<UNK>`, stands for words outside the
#   vocabulary; real data sets map rare words to it.)
#
# Training uses the caption twice, shifted by one position: the **inputs** are `<START>` and the
# words, the **targets** are the words and `<END>`. At every position the model sees the true
# words so far and is scored on the next one: this is **teacher forcing**.

# %%
row = 0
ids = train.tokens[row]                                   # (T,) = (16,)
n = int(train.mask[row].sum())
inputs, targets = ids[:n - 1], ids[1:n]
print("caption :", train.captions[train.image_index[row]][0])
print("ids     :", ids.tolist())
print(f"{'t':>3}  {'input':>8}  {'target':>8}")
for t, (a, b) in enumerate(zip(inputs, targets, strict=True)):
    print(f"{t:>3}  {vocab.idx_to_word[a]:>8}  {vocab.idx_to_word[b]:>8}")

# %% [markdown]
# ## 2. The encoder: a CNN that turns pixels into a grid of features
#
# Every captioner in this chapter starts with a convolutional network. The papers take one
# trained on ImageNet (GoogLeNet, VGG) and cut it before its classifier. Two cuts are common:
#
# * after the last pooling layer: **one vector** $v \in \mathbb{R}^D$ for the whole image
#   (Karpathy & Fei-Fei, Vinyals et al.; $D = 4096$ or $1024$);
# * at a convolutional layer: a **grid** of $L = h \times w$ vectors $a_1, \dots, a_L \in
#   \mathbb{R}^C$, each describing one region of the image (Xu et al. use VGG's
#   $14 \times 14 \times 512$ grid). Section 8 needs the grid.
#
# We have no ImageNet network, and our images are simple, so a small one is trained for us here
# (the time it takes is printed below): `dlcv.captioning.encoders` maps a $64 \times 64$ image to an $8 \times 8$ grid of
# 48-dimensional vectors, one per $8 \times 8$ pixel cell. It learned, on 1500 scenes of its own,
# to say for every cell which object covers it (size, colour and class: 24 kinds, plus
# background). This plays the role of ImageNet pre-training: the captioners only *read* these
# features, they do not change the encoder. We standardise each channel (zero mean, unit
# variance over the training images), which makes the decoders easier to train.
#
# One more detail: convolutions do not know where they are, and a caption talks about places
# ("at the top left"). We append two channels with each cell's $x$ and $y$ coordinates in
# $[-1, 1]$, so a weighted average of grid vectors also tells *where* its weight was.

# %%
enc = encoders.shapes_encoder(seed=0)  # trained on first use (its own scenes), then cached
print(f"encoder trained in {enc.seconds:.1f} s; on held-out scenes it labels "
      f"{enc.cell_accuracy:.1%} of all cells and {enc.object_cell_accuracy:.1%} of the cells "
      f"on objects right")
f_train = encoders.encode_scenes(train.scenes)  # ImageFeatures: .maps, .cell_probs, .vectors
f_test = encoders.encode_scenes(test.scenes)
maps_train = torch.from_numpy(f_train.maps)     # (2000, 48, 8, 8): the last conv layer
maps_test = torch.from_numpy(f_test.maps)       # (250, 48, 8, 8)
C = maps_train.shape[1]                         # 48 channels
mean = maps_train.mean(dim=(0, 2, 3), keepdim=True)        # (1, 48, 1, 1)
std = maps_train.std(dim=(0, 2, 3), keepdim=True) + 1e-3   # (1, 48, 1, 1)
feats_train = cap.add_coordinates((maps_train - mean) / std)  # (2000, 50, 8, 8)
feats_test = cap.add_coordinates((maps_test - mean) / std)    # (250, 50, 8, 8)
print(f"grid of features: {tuple(feats_test.shape)}  (N, C + 2, h, w)")

cell_test = encoders.grid_labels(test.scenes)   # (250, 8, 8) what each cell holds
pred_cells = f_test.cell_probs.argmax(1)        # (250, 8, 8) what the encoder says
fig, axes = plt.subplots(2, 3, figsize=(9, 6.2))
for row, i in enumerate([1, 5]):
    show_scene(axes[row, 0], test.scenes.images[i], title=f"test image {i}")
    encoders.show_cell_labels(axes[row, 1], test.scenes.images[i], cell_test[i],
                              title="what each cell holds")
    encoders.show_cell_labels(axes[row, 2], test.scenes.images[i], pred_cells[i],
                              title="what the encoder sees")
fig.tight_layout()
plt.show()

pix = np.zeros(test.scenes.images.shape[:3], dtype=np.int64)  # (250, 64, 64) label of each pixel
for k in range(len(test)):
    for m, kind, colour, size in zip(test.scenes.masks[k], test.scenes.labels[k],
                                     test.scenes.colors[k], test.scenes.sizes[k], strict=True):
        pix[k][m] = encoders.cell_label(colour, kind, size)
cover = (pix.reshape(-1, 8, 8, 8, 8).transpose(0, 1, 3, 2, 4)
         == cell_test[..., None, None]).mean(axis=(3, 4))   # (250, 8, 8) share of the cell
obj = cell_test > 0                                         # cells that an object covers
miss = obj & (pred_cells != cell_test)
kind_of = lambda label: (label - 1) // 2 % 3                # the class of an object label
wrong_class = (pred_cells[miss] > 0) & (kind_of(pred_cells[miss]) != kind_of(cell_test[miss]))
print(f"of the {miss.sum()} object cells the encoder gets wrong, {wrong_class.mean():.0%} get the "
      f"wrong class and {np.mean(pred_cells[miss] == 0):.0%} are called background")
print(f"it gets {miss[obj & (cover == 1)].mean():.0%} of the cells that an object fills wrong, "
      f"and {miss[obj & (cover < 1)].mean():.0%} of those it covers in part")

# %% [markdown]
# Each cell that an object covers shows a letter: c, s or t for a small circle, square or
# triangle, C, S or T for a large one, in the object's colour; empty cells are background. The
# encoder gets most cells right (the first line printed in this section); its mistakes are mostly
# about the class, and they are more frequent on cells that hold only an edge or a corner of a
# shape than on cells a shape fills (the two lines below the figure): the class is hard to judge
# from a small part of an outline. The captioners will read the 48 numbers behind each letter, not
# the letter itself, so they can still combine evidence from several cells.

# %% [markdown]
# ## 3. Decoders that read the image once
#
# Both classic designs are a recurrent language model (lecture 12) that also sees the image
# vector $v$ (here: the average of the 48 feature channels over the grid, **global average
# pooling**). They differ in *where* $v$ enters.
#
# **Karpathy & Fei-Fei (2015), the multimodal RNN.** A vanilla RNN whose first step also receives
# the image, as an extra bias:
#
# $$ b_v = W_{hi} v, \qquad
#    h_t = f\big(W_{hx} x_t + W_{hh} h_{t-1} + b_h + \mathbb{1}[t = 1]\, b_v\big), \qquad
#    y_t = \mathrm{softmax}(W_{oh} h_t + b_o), $$
#
# with $x_1$ the embedding of `<START>` and $x_t$ the embedding of the previous word. The image is
# given only at the first step.
#
# **Vinyals et al. (2015), Show and Tell.** An LSTM that *reads* the image as if it were a word,
# in an extra step before `<START>`:
#
# $$ x_{-1} = W_I\, v, \qquad x_t = W_e S_t \;(t = 0, \dots, N - 1), \qquad
#    p_{t+1} = \mathrm{LSTM}(x_t), \qquad
#    L(I, S) = -\sum_{t=1}^{N} \log p_t(S_t), $$
#
# with $S_0$ = `<START>`, $S_N$ = `<END>`, and $W_e$ a learned **word embedding** that puts words
# into the same space as the projected image. The image again enters once: both papers found that
# giving it at every step works worse, and Vinyals et al. explain that the network can then
# more easily exploit noise in the image and overfit. (CS231n's assignment captioner uses a third
# common choice: the projected image becomes the initial hidden state $h_0$.)

# %%
fig, axes = plt.subplots(3, 1, figsize=(9, 8.4))
for ax, kind in zip(axes, cap.DECODERS, strict=True):
    cap.draw_captioner(ax, kind)
fig.tight_layout()
plt.show()

# %% [markdown]
# The dotted arrows are the words fed back: at test time the input at step $t + 1$ is the word
# the model has just chosen. During training it is the *true* word (teacher forcing). The third
# drawing is section 8.
#
# We train `ShowTellCaptioner` (embedding 48, LSTM with 128 units, image vector $v \in
# \mathbb{R}^{48}$) with teacher forcing: minibatches of 64 captions, the loss above averaged over
# the real (non-`<NULL>`) target words, Adam. And, to see what the image is worth, the **same
# network with the image zeroed**: $v = 0$ turns it into a pure language model of captions, which
# can only learn what captions usually say (it learns that quickly, so it gets half the steps).

# %%
v_train = feats_train[:, :C].mean(dim=(2, 3))             # (2000, 48): global average pooling
v_test = feats_test[:, :C].mean(dim=(2, 3))               # (250, 48)
V = len(vocab)

torch.manual_seed(0)
show_tell = cap.ShowTellCaptioner(V, C)
hist_st = cap.train_captioner(show_tell, v_train, train.tokens, train.image_index, steps=800,
                              lr=5e-3)
torch.manual_seed(0)
blind = cap.ShowTellCaptioner(V, C, use_image=False)       # the language-only baseline
hist_lm = cap.train_captioner(blind, v_train, train.tokens, train.image_index, steps=400)
print(f"trained in {hist_st.seconds:.1f} s and {hist_lm.seconds:.1f} s")
print(f"parameters: {sum(p.numel() for p in show_tell.parameters()):,}")

held_out = {}
for name, model in (("Show and Tell", show_tell), ("language only", blind)):
    loss = held_out[name] = cap.caption_loss(model, v_test, test.tokens, test.image_index)
    print(f"{name:14s} held-out loss {loss:.3f} per word, perplexity {np.exp(loss):.2f}")
print(f"uniform guessing over the {V - 2} words that can come next (not <NULL>, <START>): "
      f"loss {np.log(V - 2):.3f}, perplexity {V - 2}")
lowers = held_out["Show and Tell"] < held_out["language only"]
print(f"seeing the image {'lowers' if lowers else 'does not lower'} the held-out perplexity")

fig, ax = plt.subplots(figsize=(7, 3))
ax.plot(np.convolve(hist_st.loss, np.ones(20) / 20, "valid"), label="Show and Tell",
        color=CLASS_COLORS[0])
ax.plot(np.convolve(hist_lm.loss, np.ones(20) / 20, "valid"), label="language only",
        color=CLASS_COLORS[1])
ax.set_xlabel("step")
ax.set_ylabel("loss per word (moving average)")
ax.set_ylim(0.5, 2.5)
ax.legend()
ax.set_title("teacher forcing: the cross-entropy of the next word")
plt.show()

# %% [markdown]
# The two curves fall together at first: the grammar itself ("a" is followed by a size or a
# colour, "left" by "of") is learned from the words alone. Then they part: only the model that
# sees the image can learn *which* colour and *which* shape. The held-out **perplexity**
# ($e^{\text{loss}}$, the effective number of equally likely choices per word) shows the same (the
# lines above the figure). Neither reaches perplexity 1, and no model could: the references of one
# image talk about different objects, so even a perfect model must spread its probability over
# them.

# %% [markdown]
# ## 4. Writing a caption at test time
#
# At test time there is no true caption to feed. The model writes its own: start with `<START>`,
# compute the distribution of the first word, choose a word, feed it back, and repeat until the
# model chooses `<END>` (or a maximum length). How to choose:
#
# * **sampling** draws each word from $p(\cdot \mid I, S_{<t})$, possibly sharpened or flattened
#   by a temperature (lecture 12): varied sentences, sometimes odd ones;
# * **greedy decoding** takes the most probable word every time: one deterministic sentence, the
#   usual default;
# * **beam search** (section 5) keeps several candidate sentences in parallel.

# %%
tok_st, _ = decoding.greedy_decode(show_tell, v_test, vocab)   # (250, 16) ids, <END>, <NULL>...
tok_lm, _ = decoding.greedy_decode(blind, v_test, vocab)
greedy_st = [vocab.decode(t) for t in tok_st]
greedy_lm = [vocab.decode(t) for t in tok_lm]

fig, axes = plt.subplots(1, 5, figsize=(13, 3.9))
for ax, i in zip(axes, range(5), strict=True):
    show_scene(ax, test.scenes.images[i], title=f"test image {i}")
    ax.set_xlabel(textwrap.fill(f"model: {greedy_st[i]}", 34) + "\n\n"
                  + textwrap.fill(f"reference: {test.captions[i][0]}", 34), fontsize=8,
                  loc="left")
fig.tight_layout()
plt.show()
print("the language-only model writes, for every image:", Counter(greedy_lm).most_common(2))


def named_in_scene(captions):
    """The share of the captions' colour words, and of their class words, that name a colour
    (a class) of some object in their test scene."""
    found = {"colour": [], "class": []}
    for k, caption in enumerate(captions):
        colours = {COLOR_NAMES[c] for c in test.scenes.colors[k]}
        classes = {test.scenes.class_names[c] for c in test.scenes.labels[k]}
        for w in caption.split():
            if w in COLOR_NAMES:
                found["colour"].append(w in colours)
            elif w.rstrip("s") in test.scenes.class_names:          # "circles" -> "circle"
                found["class"].append(w.rstrip("s") in classes)
    return {key: float(np.mean(v)) for key, v in found.items()}


for name, caps in (("Show and Tell", greedy_st), ("language only", greedy_lm)):
    hits = named_in_scene(caps)
    print(f"{name:14s}: {hits['colour']:.0%} of its colour words and {hits['class']:.0%} of its "
          "class words name something in the scene")

# %% [markdown]
# Nearly every colour word and class word that Show and Tell writes names a colour and a class
# that the scene holds, far more often than the language-only model's (the last two lines). Yet
# the captions above still pair colours with the wrong shapes, and section 7 counts how many of
# its noun phrases fit no object at all: one 48-number summary of a scene with four objects says
# which colours and shapes are there, but not much about which goes with which. The language-only
# model has no choice but to write the same sentence for every image: its favourite caption, built
# from the most probable word at every step.

# %% [markdown]
# ### Exposure bias
#
# Look again at how the model is trained and how it is used. In training, the prefix
# $S_1, \dots, S_{t-1}$ is always *true*. At test time it is the model's *own* output, mistakes
# included. After its first wrong word the model is in a situation it never met in training: a
# prefix that does not describe the image. Nothing taught it to recover, and errors can compound
# word after word. Ranzato et al. (2016) called this train/test mismatch **exposure bias**.
#
# We can provoke it: plant a wrong colour in the caption of an image and let the model continue.

# %%
def all_true(caption, i):
    """Every noun phrase of the caption fits an object of test scene i."""
    return attention_maps.phrase_accuracy([caption], test.scenes.subset([i]))[0] == 1.0


def first_colour(caption):
    """Position of the first colour word of a caption (99 if there is none)."""
    return next((t for t, w in enumerate(caption.split()) if w in COLOR_NAMES), 99)


relations = ("left", "right", "above", "below")
i = next(k for k in range(len(test)) if all_true(greedy_st[k], k)   # a true caption about
         and any(w in greedy_st[k].split() for w in relations)       # two objects, whose first
         and first_colour(greedy_st[k]) <= 2                         # phrase has a colour, in
         and len({COLOR_NAMES[c] for c in test.scenes.colors[k]}) < 4)  # a scene missing one
wrong = sorted(set(COLOR_NAMES) - {COLOR_NAMES[c] for c in test.scenes.colors[i]})[0]
pos = first_colour(greedy_st[i])
forced, _ = decoding.greedy_decode(show_tell, v_test[i:i + 1], vocab, force={pos: wrong})
forced_caption = vocab.decode(forced[0])
print(f"test image {i} holds: {', '.join(test.scenes.describe(i))}")
print(f"greedy caption          : {greedy_st[i]}")
print(f"with '{wrong}' planted   : {forced_caption}")

with torch.no_grad():  # the probabilities the model gave to the words of the planted caption
    seq = torch.tensor([[vocab.start, *[vocab.word_to_idx[w] for w in forced_caption.split()],
                         vocab.end]])
    logp = F.log_softmax(show_tell(v_test[i:i + 1], seq[:, :-1])[0], -1)[0]  # (T, V)
for t in range(pos, seq.shape[1] - 1):
    w = int(seq[0, t + 1])
    note = "  <- planted" if t == pos else ""
    print(f"  word {t}: p({vocab.idx_to_word[w]!r}) = {logp[t, w].exp():.3f}{note}")
own_word = greedy_st[i].split()[pos]
differ = forced_caption.split()[pos + 1:] != greedy_st[i].split()[pos + 1:]
print(f"at the planted position the model gave {own_word!r} p = "
      f"{logp[pos, vocab.word_to_idx[own_word]].exp():.3f}; the words after it "
      f"{'differ from' if differ else 'are'} those of the greedy caption")

# %% [markdown]
# The model found the planted colour unlikely (compare its probability with that of the model's
# own word, in the last line), but once it is there it simply carries on: it completes the phrase
# about an object of that colour, which is not in the picture, and writes the rest of the
# sentence. Nothing in training taught it to notice the contradiction, let alone to go back: in
# training, the prefix was always true. Compare the rest of the sentence with the greedy caption
# (the last line says whether they differ): a wrong prefix steers the words that follow, because
# the relation and the second object are chosen relative to the first one, which now does not
# exist. Real captioners make such early mistakes by themselves, and a long sentence gives them
# more chances.

# %% [markdown]
# ### Scheduled sampling
#
# Bengio et al. (2015) proposed a curriculum that moves from teacher forcing towards the test
# situation. At every position of every training caption, flip a coin:
#
# * with probability $\epsilon_i$, feed the **true** previous word (teacher forcing);
# * with probability $1 - \epsilon_i$, feed a word **sampled from the model's own** prediction at
#   the previous step.
#
# $\epsilon_i$ starts at 1 (pure teacher forcing, while the model is still poor and its samples
# are nonsense) and decreases with the training step $i$, so that by the end the model often
# continues from its own words. Three decays are proposed:
#
# $$ \text{linear: } \epsilon_i = \max(\epsilon, k - c\,i), \qquad
#    \text{exponential: } \epsilon_i = k^i \;(k < 1), \qquad
#    \text{inverse sigmoid: } \epsilon_i = \frac{k}{k + \exp(i / k)} \;(k \ge 1). $$
#
# The targets stay the true words. Gradients do not flow through the sampling choice; the
# sampled word is just an input. The method improved captioning, constituency parsing and speech
# recognition in the paper, and was part of the Show and Tell entry that shared first place in
# the 2015 COCO captioning challenge. It is not a cure-all: Huszár (2015) showed that the
# objective it optimises is not a proper one (its optimum is not, in general, the true
# distribution), and later work trains on whole sampled sentences instead (section 6 mentions
# self-critical training).

# %%
steps = np.arange(0, 3001)
fig, ax = plt.subplots(figsize=(7.5, 3.2))
for kind, kw, color in (("linear", dict(k=1.0, c=1 / 2500, eps_min=0.05), CLASS_COLORS[0]),
                        ("exponential", dict(k=0.999), CLASS_COLORS[1]),
                        ("inverse sigmoid", dict(k=200.0), CLASS_COLORS[2])):
    eps = cap.teacher_forcing_probability(steps, kind, **kw)
    label = f"{kind}: " + ", ".join(f"{a} = {b:g}" for a, b in kw.items())
    ax.plot(steps, eps, color=color, label=label)
ax.set_xlabel("training step i")
ax.set_ylabel(r"$\epsilon_i$ = P(feed the true word)")
ax.set_ylim(0, 1.02)
ax.legend(fontsize=8)
ax.set_title("scheduled sampling: from teacher forcing towards the model's own words")
plt.show()

# %% [markdown]
# The inverse sigmoid stays near 1 for a while, then falls fast; the exponential falls fastest
# at the start; the linear decay is steady until its floor. One scheduled-sampling step is only
# a few lines with the `step` interface of our captioners: run the model word by word, and at
# each position let a coin decide between the true word and a sample of the model's last
# prediction. Below, four captions at $\epsilon = 0.75$: the words in brackets are the model's
# own samples where they differ from the true word (where the sample happens to be the true
# word, nothing shows). Note how a replaced word can make the rest of the true caption
# ungrammatical: the model must learn to cope with such prefixes.

# %%
def scheduled_sampling_inputs(model, feats, tokens, eps, gen):
    """One pass of scheduled sampling: returns the inputs actually fed (N, T) and the loss."""
    inputs, targets, mask = tokens[:, :-1], tokens[:, 1:], tokens[:, 1:] != vocab.null
    state = model.init_state(feats)
    fed, logits = [inputs[:, 0]], []
    for t in range(inputs.shape[1]):
        out, state, _ = model.step(state, fed[-1])                   # (N, V)
        logits.append(out)
        if t + 1 < inputs.shape[1]:
            own = torch.multinomial(F.softmax(out, -1), 1, generator=gen)[:, 0]  # (N,)
            coin = torch.rand(len(own), generator=gen) < eps         # True: the true word
            fed.append(torch.where(coin, inputs[:, t + 1], own.detach()))
    loss = cap.sequence_loss(torch.stack(logits, 1), targets, mask)
    return torch.stack(fed, 1), loss


gen = torch.Generator().manual_seed(3)
batch = torch.as_tensor(train.tokens[:4, :12])
with torch.no_grad():
    fed, loss = scheduled_sampling_inputs(show_tell, v_train[train.image_index[:4]], batch,
                                          eps=0.75, gen=gen)
for true_row, fed_row, m in zip(batch[:, :-1], fed, batch[:, 1:] != vocab.null, strict=True):
    shown = [vocab.idx_to_word[f] if f == t else f"[{vocab.idx_to_word[f]}]"
             for t, f, keep in zip(true_row.tolist(), fed_row.tolist(), m.tolist(), strict=True)
             if keep]
    print(" ".join(shown))
print(f"loss of this pass (targets are always the true words): {loss:.3f}")

# %% [markdown]
# ## 5. Beam search
#
# Greedy decoding picks the best *word* at every step, which is not the same as the best
# *sentence*: a slightly less likely first word can open the way to a much more likely
# continuation. Finding $\arg\max_S p(S \mid I)$ exactly would mean scoring every sentence,
# $|V|^N$ of them. **Beam search** is the standard compromise:
#
# 1. keep the $k$ best partial sentences (the *beam*), each with its score, the summed
#    log-probability $\log p(S_1 \dots S_t \mid I) = \sum_{\tau \le t} \log p(S_\tau \mid I,
#    S_{<\tau})$;
# 2. extend each of them by every word of the vocabulary: $k \cdot |V|$ candidates;
# 3. keep the $k$ candidates with the highest scores; a candidate that ends with `<END>` is a
#    finished sentence and leaves the beam;
# 4. stop when $k$ sentences are finished (or at the maximum length); answer with the best.
#
# With $k = 1$ this is greedy decoding. Show and Tell used $k = 20$; values from 3 to 10 are
# common. Log-probabilities are added, so every extra word lowers a score:
# beam search prefers short sentences, and many systems divide the score by a power of the
# length to compensate.
#
# A worked example with $k = 3$, with the Show and Tell model, on the first test image where
# beam search and greedy decoding disagree (and beam search's caption names only objects that
# are there). At every step
# the table lists the six best extensions of the current beams; the ones marked `kept` form the
# next beam.

# %%
def beam_differs(k):
    """The beam search result on test image k, if its best caption differs from greedy's."""
    res = decoding.lecture_beam_search(show_tell, v_test[k], vocab, beam_size=3)
    best = vocab.decode(res.captions[0][0])
    return res if best != greedy_st[k] and all_true(best, k) else None


i_beam, beam = next((k, r) for k in range(len(test)) if (r := beam_differs(k)) is not None)
print(f"test image {i_beam}: {', '.join(test.scenes.describe(i_beam))}\n")
for t, cands in enumerate(beam.steps[:4], start=1):
    print(f"step {t}:")
    for ids, score, keep in cands:
        words = " ".join(vocab.idx_to_word[w] for w in ids)
        print(f"   {score:7.3f}  {'kept   ' if keep else 'dropped'}  {words}")
print("...\nfinished captions, best first:")
for ids, score in beam.captions:
    print(f"   {score:7.3f}  {vocab.decode(ids)}")
def caption_logprob(model, feats, captions):
    """The summed log-probability of each caption, its words and <END>, under the model."""
    scores = []
    with torch.no_grad():
        for f, caption in zip(feats, captions, strict=True):
            seq = torch.tensor([[vocab.start, *[vocab.word_to_idx[w] for w in caption.split()],
                                 vocab.end]])                                    # (1, T + 1)
            lp = F.log_softmax(model(f[None], seq[:, :-1])[0], -1)[0]            # (T, V)
            scores.append(float(lp[torch.arange(seq.shape[1] - 1), seq[0, 1:]].sum()))
    return np.array(scores)


greedy_score = caption_logprob(show_tell, v_test[i_beam:i_beam + 1], [greedy_st[i_beam]])[0]
print(f"greedy: {greedy_score:7.3f}  {greedy_st[i_beam]}")
more = beam.captions[0][1] > greedy_score
print(f"beam search's best caption is {'more' if more else 'not more'} probable than greedy's")

# %% [markdown]
# The same search as a tree, for its first six steps: each column is a step, each entry a
# candidate with its summed log-probability; bold and boxed candidates were kept, grey ones
# dropped, and orange ones are finished sentences.

# %%
fig, ax = plt.subplots(figsize=(12, 3.6))
decoding.draw_beam_search(ax, beam, vocab, steps=6)
ax.set_title(f"beam search with k = 3 on test image {i_beam} (summed log-probabilities)",
             fontsize=10)
plt.show()

# %% [markdown]
# Read the first column: the three most likely first words survive. From then on, all
# $3 \times |V|$ extensions compete for three places, so a beam can have several children or
# none, and a beam that was far behind can take over. The final score of a sentence is the sum
# of its words' log-probabilities, `<END>` included. Compare the best finished beam with the
# greedy sentence printed above: greedy decoding committed to the locally best word at some
# step and paid for it later, while beam search kept an alternative alive long enough to find a
# sentence with a higher total probability (the last line). Section 7 counts on how many images
# the two disagree, and measures what beam search changes on average.

# %% [markdown]
# ## 6. Scoring a caption: BLEU
#
# How good is "a large red circle left of a blue square" as a caption of an image whose human
# captions say something else? Human judgement is the gold standard, but slow. The automatic
# metrics compare the candidate with the references. The oldest, **BLEU** (Papineni et al.,
# 2002, from machine translation), counts shared n-grams.
#
# **Modified n-gram precision.** Of the candidate's n-grams, which fraction also appears in a
# reference? Each n-gram is **clipped**: it counts at most as often as it appears in the single
# reference that has it most often. Without clipping, "the the the the the the the" would have
# perfect unigram precision against "the cat is on the mat"; with clipping it gets $2/7$.
# Over a corpus of candidates $\mathcal{C}$:
#
# $$ p_n = \frac{\sum_{c \in \mathcal{C}} \sum_{g \in \text{n-grams}(c)}
#    \min\big(\mathrm{count}_c(g),\ \max_{r \in \mathrm{refs}(c)} \mathrm{count}_r(g)\big)}
#    {\sum_{c \in \mathcal{C}} \sum_{g \in \text{n-grams}(c)} \mathrm{count}_c(g)}. $$
#
# **Brevity penalty.** Precision alone rewards saying little: "a circle" is all correct.
# With $c$ the total candidate length and $r$ the sum over candidates of the reference length
# closest to each candidate's,
#
# $$ \mathrm{BP} = \begin{cases} 1 & c > r \\ e^{\,1 - r/c} & c \le r \end{cases}, \qquad
#    \mathrm{BLEU} = \mathrm{BP} \cdot \exp\Big(\frac{1}{N} \sum_{n=1}^{N} \log p_n\Big), $$
#
# the geometric mean of $p_1, \dots, p_4$ (BLEU-4, $N = 4$) times the penalty. BLEU is a corpus
# score: counts are summed over all sentences before dividing, so a sentence without any 4-gram
# match does not send the whole score to 0 (for single sentences, smoothed variants add 1 to the
# counts).
#
# A hand-worked example with one candidate and two references:

# %%
cand = "a red circle left of a red square"
refs = ["a large red circle left of a small blue square", "there is a large red circle on the left"]
print(f"candidate : {cand}\nreferences: {refs[0]}\n            {refs[1]}\n")
c_words = cand.split()
for n in (1, 2, 3, 4):
    grams = Counter(tuple(c_words[k:k + n]) for k in range(len(c_words) - n + 1))
    best = Counter()
    for r in refs:
        r_words = r.split()
        best |= Counter(tuple(r_words[k:k + n]) for k in range(len(r_words) - n + 1))
    clipped = {g: min(cnt, best[g]) for g, cnt in grams.items()}
    shown = ", ".join(f"'{' '.join(g)}' {cnt}->{clipped[g]}" for g, cnt in grams.items()
                      if n <= 2 or clipped[g])
    print(f"p_{n} = {sum(clipped.values())}/{sum(grams.values())}   ({shown})")
r_len = min((len(r.split()) for r in refs), key=lambda L: (abs(L - len(c_words)), L))
print(f"\nc = {len(c_words)}, closest reference length r = {r_len}")
bleu = decoding.lecture_bleu([cand], [refs])
print(f"precisions {bleu.precisions.round(3)}, BP = {bleu.brevity_penalty:.3f}, "
      f"BLEU-4 = {bleu.bleu:.3f}")

# %% [markdown]
# Each line lists the candidate's n-grams with their count and their clipped count
# (`count -> clipped`); for $n \ge 3$ only the matching ones are shown. The candidate says "red"
# twice, but no reference says it more than once, so the second "red" is clipped away. "a red"
# and "red square" appear in neither reference. So $p_1 = 7/8$, $p_2 = 4/7$, $p_3 = 3/6$,
# $p_4 = 2/5$, and their geometric mean is $(7/8 \cdot 4/7 \cdot 3/6 \cdot 2/5)^{1/4} =
# 0.1^{1/4} \approx 0.56$. The candidate has 8 words, the closest reference 9, so the brevity
# penalty is $e^{1 - 9/8} \approx 0.88$, and BLEU-4 $\approx 0.50$.
#
# BLEU is cheap and reproducible, and at corpus level it correlates with human judgement in
# translation, but it knows nothing about meaning: "a red circle" and "a crimson disc" share
# nothing. Captioning papers report it next to metrics designed for the task:
#
# * **METEOR** (Banerjee & Lavie, 2005) aligns unigrams, also through stems and synonyms,
#   weights recall above precision, and penalises fragmented word order;
# * **CIDEr** (Vedantam et al., 2015) weights n-grams by TF-IDF, so words that every caption uses
#   ("a", "of") count little and the informative ones count much, and measures agreement with the
#   *consensus* of many references;
# * **SPICE** (Anderson et al., 2016) parses captions into scene graphs (objects, attributes,
#   relations) and compares those tuples.
#
# All of them can be gamed, and models tuned for one can read worse to humans. Once a score is
# fixed, it can also be optimised directly: **self-critical sequence training** (Rennie et al.,
# 2017) samples whole sentences and rewards their CIDEr with REINFORCE (section 10), using the
# score of the model's own greedy caption as the baseline; this also removes the exposure bias
# of section 4, since the model is trained on its own sentences.

# %% [markdown]
# ## 7. Does the image matter?
#
# A captioner can get a respectable BLEU without looking at the image: captions share a lot of
# structure ("a large", "left of a"), and the most common sentence matches many references in
# part. So every captioning result needs a **language-only baseline**. We score on the 250
# held-out images:
#
# * the language-only model (same network, image zeroed);
# * Show and Tell given the **wrong** image (the features of another test image, shuffled);
# * Show and Tell, greedy and with beam search ($k = 3$);
# * as a reference point, a **human** score: each image's first reference caption scored
#   against its other references.
#
# Next to BLEU we report what real data sets cannot give cheaply and our scenes can: the share
# of the generated noun phrases ("a large red circle") that are **true**, i.e. that fit some
# object of the scene (`attention_maps.phrase_accuracy`).

# %%
def corpus_bleu(captions, references=test.captions):
    return decoding.lecture_bleu(captions, references).bleu


def beam_captions(model, feats, k=3):
    return [vocab.decode(decoding.lecture_beam_search(model, f, vocab, beam_size=k).captions[0][0])
            for f in feats]


def evaluate(captions):
    """(BLEU-4, share of true noun phrases) on the test images."""
    return corpus_bleu(captions), attention_maps.phrase_accuracy(captions, test.scenes)[0]


shuffle = np.random.default_rng(1).permutation(len(test))
tok_shuf, _ = decoding.greedy_decode(show_tell, v_test[shuffle], vocab)   # caption i: wrong image
beam_st = beam_captions(show_tell, v_test)
results = {
    "language only": evaluate(greedy_lm),
    "Show and Tell, wrong image": evaluate([vocab.decode(t) for t in tok_shuf]),
    "Show and Tell": evaluate(greedy_st),
    "Show and Tell, beam k = 3": evaluate(beam_st),
}
human_bleu = decoding.lecture_bleu([r[0] for r in test.captions],      # 1st reference against
                                   [r[1:] for r in test.captions]).bleu  # the others
print(f"{'':28s} BLEU-4   true noun phrases")
for name, (b, p) in results.items():
    print(f"{name:28s} {b:6.3f}   {p:6.1%}")
print(f"{'human (1 vs the others)':28s} {human_bleu:6.3f}   {1:6.1%}")

print()
for name, than in (("Show and Tell, wrong image", "language only"),
                   ("Show and Tell", "language only"),
                   ("Show and Tell, beam k = 3", "Show and Tell")):
    print(f"{name} against {than}: BLEU-4 {results[name][0] - results[than][0]:+.3f}, "
          f"true noun phrases {results[name][1] - results[than][1]:+.1%}")
agree = np.array([b == g for b, g in zip(beam_st, greedy_st, strict=True)])
more = caption_logprob(show_tell, v_test, beam_st) > caption_logprob(show_tell, v_test, greedy_st)
two_objects = lambda caps: np.mean([any(w in c.split() for w in relations) for c in caps])
print(f"beam search and greedy decoding agree on {agree.mean():.0%} of the images; where they "
      f"differ, beam's caption is the more probable one on {more[~agree].mean():.0%}")
print(f"captions that relate two objects (left, right, above, below): greedy "
      f"{two_objects(greedy_st):.0%}, beam {two_objects(beam_st):.0%}")
print("above the human BLEU:", ", ".join(k for k, (b, _) in results.items() if b > human_bleu)
      or "none")

# %% [markdown]
# The language-only model already scores well above zero from sentence structure alone; this
# is the floor any captioner must clear. Its noun phrases are true only when its one sentence
# happens to fit the scene. Given the wrong image, Show and Tell falls to about the same level
# (the differences are printed below the table): it describes, fluently, a scene that is not
# there. Given the right image it does clearly better on both scores.
#
# Beam search makes the captions more *probable* (the printed agreement line: where it changes
# the caption at all, its caption is nearly always the more probable one), and here more often
# true, but not better in BLEU: the most probable sentences are the safe, common ones ("there is
# a large ... in the middle"), which match fewer of the references' n-grams than a bolder
# sentence about two objects (the next line counts the captions that relate two objects).
# Vinyals et al. (2017) report a related observation on COCO: reducing their beam from 20 to 3
# improved their scores. The "human" BLEU is not a ceiling either (the last line): a single true
# caption often talks about other objects than the remaining references, and BLEU punishes
# that. This is why captioning benchmarks use five or more references per image, and why BLEU
# differences of a few hundredths between systems mean little.

# %% [markdown]
# ## 8. Attention: a new look at the image for every word
#
# Show and Tell compresses the scene into 48 numbers before writing a single word, and has to
# keep in its LSTM state everything it will say. The same bottleneck appeared in machine
# translation: an encoder RNN read the source sentence into one vector, and translations of
# long sentences got worse with their length. **Bahdanau et al. (2015)** let the decoder, before
# each output word, compute a weighting over *all* the encoder's states and read their weighted
# average: the decoder learns to *align* each output word with the source words it translates.
# **Xu et al. (2015)**, in *Show, Attend and Tell*, did the same with the CNN's grid instead of
# the source words.
#
# **Soft attention.** The image is the grid $a_1, \dots, a_L \in \mathbb{R}^C$ ($L = 64$ cells,
# $C = 50$ here). At word $t$, with decoder state $h$:
#
# $$ e_{t,i} = w^\top \tanh(W_a a_i + W_h h), \qquad
#    \alpha_{t,i} = \frac{\exp(e_{t,i})}{\sum_{j=1}^{L} \exp(e_{t,j})}, \qquad
#    z_t = \sum_{i=1}^{L} \alpha_{t,i}\, a_i . $$
#
# The scores $e_{t,i}$ say how relevant cell $i$ is for what the decoder is about to say; the
# softmax turns them into an **attention distribution** $\alpha_t$ over the grid (non-negative,
# summing to 1); the **context vector** $z_t$ is the expected feature under it. Everything is
# differentiable, so $W_a$, $W_h$ and $w$ are learned by backpropagation with the rest, from the
# captions alone: nobody tells the model where the objects are.
#
# Our `AttentionCaptioner` uses these scores with the LSTM's current state and predicts the next
# word from both the state and the context:
#
# $$ h_t, c_t = \mathrm{LSTM}\big(W_e S_t,\ h_{t-1}, c_{t-1}\big), \qquad
#    \alpha_t, z_t = \mathrm{attend}(a, h_t), \qquad
#    p(S_{t+1} \mid I, S_{\le t}) = \mathrm{softmax}\big(W_o [h_t, z_t] + b_o\big), $$
#
# with $h_0, c_0$ computed from the mean of the grid. Xu et al. differ in two details: they
# compute $\alpha_t$ from the *previous* state $h_{t-1}$ and feed $z_t$ into the LSTM as an extra
# input. Computing it from $h_t$, as Lu et al. (2017) do, means the map that chooses "circle"
# already knows that "red" came before it; and since the LSTM then reads only words, teacher
# forcing runs it over a whole caption in one call instead of a Python loop over the words,
# which makes training faster on a CPU. Xu et al. also add a "doubly stochastic" penalty
# $\lambda \sum_i (1 - \sum_t \alpha_{t,i})^2$ that asks every cell to be looked at about once
# over a caption (`train_captioner(attention_penalty=...)`; we leave it off).
#
# The decoder is smaller than Show and Tell's (embedding 32, LSTM with 64 units) and trains for
# 1200 steps of 32 captions.

# %%
torch.manual_seed(0)
attention = cap.AttentionCaptioner(V, feats_train.shape[1])   # C + 2 = 50 channels
hist_att = cap.train_captioner(attention, feats_train, train.tokens, train.image_index,
                               steps=1200, batch_size=32, lr=5e-3)
print(f"trained in {hist_att.seconds:.1f} s; "
      f"{sum(p.numel() for p in attention.parameters()):,} parameters")
loss_att = cap.caption_loss(attention, feats_test, test.tokens, test.image_index)
print(f"held-out loss {loss_att:.3f} per word, perplexity {np.exp(loss_att):.2f}")

tok_att, alphas = decoding.greedy_decode(attention, feats_test, vocab)  # alphas: (250, 16, 64)
greedy_att = [vocab.decode(t) for t in tok_att]
results["attention"] = evaluate(greedy_att)
results["attention, beam k = 3"] = evaluate(beam_captions(attention, feats_test))
for name in ("attention", "attention, beam k = 3"):
    print(f"{name:28s} BLEU-4 {results[name][0]:.3f}, true noun phrases {results[name][1]:.1%}")
att, st = results["attention"], results["Show and Tell"]
n_params = {name: sum(p.numel() for p in m.parameters())
            for name, m in (("attention", attention), ("Show and Tell", show_tell))}
print("attention against Show and Tell: held-out loss "
      f"{loss_att - held_out['Show and Tell']:+.3f}, BLEU-4 {att[0] - st[0]:+.3f}, "
      f"true noun phrases {att[1] - st[1]:+.1%}, "
      f"parameters {n_params['attention'] - n_params['Show and Tell']:+,}")

fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(12.5, 3.6), gridspec_kw={"width_ratios": [1, 1.7]})
for h, name, color in ((hist_lm, "language only", CLASS_COLORS[1]),
                       (hist_st, "Show and Tell", CLASS_COLORS[0]),
                       (hist_att, "attention", CLASS_COLORS[2])):
    ax0.plot(np.convolve(h.loss, np.ones(25) / 25, "valid"), label=name, color=color)
ax0.set_ylim(0.5, 2.0)
ax0.set_xlabel("step")
ax0.set_ylabel("training loss per word")
ax0.legend(fontsize=8)
names = list(results)
x = np.arange(len(names))
ax1.bar(x - 0.2, [results[k][0] for k in names], 0.4, color=CLASS_COLORS[0], label="BLEU-4")
ax1.bar(x + 0.2, [results[k][1] for k in names], 0.4, color=CLASS_COLORS[2],
        label="true noun phrases")
ax1.axhline(human_bleu, color="0.4", ls="--", lw=1)
ax1.text(-0.45, human_bleu + 0.015, "human BLEU (1 reference vs the others)", ha="left",
         fontsize=7.5, color="0.3")
ax1.set_xticks(x, [textwrap.fill(k, 14) for k in names], fontsize=7.5)
ax1.set_ylim(0, 1.05)
ax1.legend(fontsize=8, loc="upper left")
ax1.set_title("250 held-out images: the image matters, and so does where the model looks",
              fontsize=10)
fig.tight_layout()
plt.show()

# %% [markdown]
# The attention model reaches a lower loss and writes better captions than Show and Tell (the last
# line printed above), with the same encoder features and a smaller LSTM: the difference is that
# it may look at a different part of the grid for every word, instead of at one average of it.
# (The attention model also sees the coordinate channels; in Show and Tell's average they are
# constant. Question 8 below asks what that means for the words it can get right.)

# %% [markdown]
# ### Where does it look?
#
# For every generated word we have its attention distribution $\alpha_t$ over the $8 \times 8$
# grid. Upsampled to the image (bilinear interpolation, as Xu et al. did with their
# $14 \times 14$ maps) and drawn as heat over the image, it shows what the model looked at when
# it chose that word.

# %%
def show_attention_strip(i, max_words=11):
    words = greedy_att[i].split()[:max_words]
    maps = attention_maps.upsample_attention(alphas[i, :len(words)], (8, 8), 64)  # (T, 64, 64)
    fig, axes = plt.subplots(1, max_words + 1, figsize=(13, 1.75))
    show_scene(axes[0], test.scenes.images[i])
    axes[0].set_title(f"image {i}", fontsize=8)
    for k, ax in enumerate(axes[1:]):
        ax.axis("off")
        if k < len(words):
            ax.imshow(heat_overlay(test.scenes.images[i], maps[k]))
            ax.set_title(words[k], fontsize=9)
    fig.subplots_adjust(wspace=0.05, left=0.01, right=0.99, top=0.8, bottom=0.02)
    plt.show()


for i in (68, 140, 241):
    show_attention_strip(i)

# %% [markdown]
# The heat follows the sentence. While the model writes the words of an object phrase, the
# attention sits on an object with those properties: the colour word is chosen while looking at
# something of that colour, and after "left of", "above" or "below" the attention moves to the
# *second* object. For place words ("at the top") the maps are a little broader on average (the
# entropies printed after the next figure measure the spread): the answer is in the coordinate
# channels of whatever was attended, not in a new place to look. Not every word needs the image
# ("of", "the"); for those the attention is free to drift, and no training signal pins it down.
#
# We can check this on all held-out images. For every generated word that belongs to a noun
# phrase ("a large red circle") that fits some object of the scene, we measure the share of its
# attention that falls on the pixels of the fitting objects, and compare with the share of the
# image those objects cover (what attention spread uniformly would give).

# %%
on_objects, area, kinds = [], [], []
word_kind = {**{w: "colour" for w in ("red", "green", "blue", "yellow")},
             **{w: "size" for w in ("small", "large")},
             **{w: "class" for w in ("circle", "square", "triangle", "circles", "squares",
                                     "triangles")}}
for i, caption in enumerate(greedy_att):
    words = caption.split()
    named = attention_maps.word_objects(words, test.scenes, i)    # objects each word names
    maps = attention_maps.upsample_attention(alphas[i, :len(words)], (8, 8), 64)
    for t, objs in enumerate(named):
        if objs and words[t] in word_kind:
            masks = test.scenes.masks[i][objs]
            on_objects.append(attention_maps.attention_on_objects(maps[t], masks))
            area.append(masks.any(0).mean())
            kinds.append(word_kind[words[t]])
on_objects, area, kinds = np.array(on_objects), np.array(area), np.array(kinds)
fig, ax = plt.subplots(figsize=(6.5, 3))
groups = ["colour", "size", "class"]
x = np.arange(len(groups))
ax.bar(x - 0.2, [on_objects[kinds == g].mean() for g in groups], 0.4, color=CLASS_COLORS[2],
       label="attention on the named objects")
ax.bar(x + 0.2, [area[kinds == g].mean() for g in groups], 0.4, color="0.7",
       label="their share of the image")
ax.set_xticks(x, [f"{g} words\n(n = {np.sum(kinds == g)})" for g in groups])
ax.set_ylabel("share")
ax.legend(fontsize=8)
ax.set_title("where the attention goes when the model names an object", fontsize=10)
plt.show()
print(f"overall: {on_objects.mean():.0%} of the attention lands on objects covering "
      f"{area.mean():.0%} of the image")
for g in groups:
    print(f"{g:6s} words: {on_objects[kinds == g].mean() / area[kinds == g].mean():.1f} times the "
          "share their objects cover")

spread = {"colour, size and class words": set(word_kind),
          "top, bottom, middle": {"top", "bottom", "middle"},
          "a, the, of, is, at, in, on": {"a", "the", "of", "is", "at", "in", "on"}}
bits = {g: [] for g in spread}
for i, caption in enumerate(greedy_att):
    for t, w in enumerate(caption.split()):
        a = np.asarray(alphas[i, t], dtype=np.float64)                  # (64,) sums to 1
        for g, ws in spread.items():
            if w in ws:
                bits[g].append(-(a * np.log2(np.maximum(a, 1e-12))).sum())
print("entropy of the attention, in bits (6 = spread evenly over the 64 cells): "
      + "; ".join(f"{g} {np.mean(v):.2f}" for g, v in bits.items()))

# %% [markdown]
# Attention on the named objects is several times what their area would give, for colour and
# class words most clearly (the ratios printed above). Size words come first in a phrase ("a
# *small* red circle"), before the model has fully settled on an object, and "small" or "large"
# can also be judged by comparison with the other objects. The share is far from 100%: the maps
# are smooth (the grid is coarse and the upsampling blurs it), each cell's feature also describes
# its neighbourhood (the encoder's receptive field is $4 + 2 \cdot 4 + 2 \cdot 8 + 2 \cdot 8 = 44$
# pixels wide: a $4 \times 4$ convolution with stride 4, then three $3 \times 3$ ones whose taps
# lie 4, 8 and 8 pixels apart), so looking next to an object is often as informative as looking at
# it, and the model is free to spread its attention wherever that helps its prediction. Attention
# maps are a window into the model, not a segmentation, and a map can look convincing while the
# decision rests on other cues.

# %% [markdown]
# ## 9. Play with it: watch the model look
#
# The widget below runs the attention captioner on the held-out images. Pick an image with
# **test image**, and a word of the generated caption with **word**. Top left: the image, with
# dashed boxes on the objects that the word's noun phrase names (when it names one). Top middle:
# the attention map of that word, upsampled, as heat. Top right: the raw $8 \times 8$ weights
# $\alpha_t$ (they sum to 1), the largest one outlined. Bottom: the maps of all words, the chosen
# one framed. Below the figure: the caption, the share of attention on the named objects, and
# the five reference captions.
#
# Things to try:
#
# 1. On image 68 (the first strip above), step through the words. At which word does the
#    attention jump from the first object to the second? Then try images 79, 108 and 132. Find
#    an image whose caption names two objects of the same colour: can the attention still tell
#    them apart?
# 2. Find an image where the caption is wrong (a colour or class that the scene does not hold;
#    the boxes then disappear). Where was the model looking when it made the mistake?
# 3. Compare the maps of "a", "of" and "the" with those of colour and class words. Which are
#    sharper, and why might the model not care where it looks for some words?
# 4. For captions that say "at the top" or "on the left", look at the maps of those words. Do
#    they point to the place, or to the object that the place describes?

# %%
view = AttentionView(attention, feats_test, test.scenes, test.captions, vocab, scene=68, word=2)
view

# %% [markdown]
# ## 10. Hard attention
#
# Soft attention reads a weighted average of *all* cells. **Hard attention** reads *one*: at
# each word it samples a location $s_t \sim \mathrm{Categorical}(\alpha_t)$ and uses
# $z_t = a_{s_t}$. This is closer to how eyes work (one fixation at a time), and, for large
# inputs, cheaper: only the chosen location has to be processed, possibly at high resolution.
#
# The price is that sampling is **not differentiable**: a small change of the scores $e_{t,i}$
# changes which location is drawn by a jump, or not at all, so there is no gradient to follow
# through the choice. Hard attention is trained with the **REINFORCE** estimator (Williams,
# 1992) of reinforcement learning, or the equivalent variational bound in Xu et al.: the gradient
# of the expected log-likelihood is estimated from sampled locations,
#
# $$ \nabla_\theta\, \mathbb{E}_{s \sim p_\theta}[R(s)] =
#    \mathbb{E}_{s \sim p_\theta}\big[R(s)\, \nabla_\theta \log p_\theta(s)\big], $$
#
# which makes locations that led to a good prediction (high reward $R$) more likely. The
# estimate is noisy; Xu et al. subtract a moving-average baseline from the reward and add an
# entropy bonus to keep it usable. In their experiments the two were close: hard attention
# reached slightly higher BLEU scores, while soft attention is simpler and more stable to train,
# which is why it became the standard. The idea
# goes back to **Mnih et al. (2014)**, whose recurrent attention model classified images by
# taking a few small glimpses and learning where to look next with REINFORCE.
#
# | | soft attention | hard attention |
# |---|---|---|
# | reads | the weighted average $\sum_i \alpha_i a_i$ | one sampled cell $a_{s}$ |
# | trained with | backpropagation | REINFORCE / a variational bound |
# | gradient | exact, low variance | sampled, high variance |
# | cost per step | all $L$ cells | one cell (can be a high-resolution glimpse) |

# %% [markdown]
# ## 11. The wider family: translation and visual question answering
#
# **Encoder-decoder translation.** Sutskever et al. (2014) translated English to French with two
# LSTMs: an encoder read the source sentence into its final state, a decoder wrote the
# translation from it, word by word, with the same `<END>` token, teacher forcing and beam search
# as above. Two tricks mattered: deep LSTMs (4 layers), and feeding the source sentence
# *reversed*, which puts the first source words close to the first target words and eases
# learning. A captioner is this architecture with a CNN as the encoder. The fixed-size vector
# between them is the bottleneck that Bahdanau et al. (2015) removed with attention, computing
# an alignment $\alpha_{t,j}$ between each target word $t$ and each source word $j$ (drawn as a
# matrix, it shows the word order of the two languages). Attention later replaced recurrence
# altogether: the Transformer (Vaswani et al., 2017) is built from attention layers only.

# %% [markdown]
# **Visual question answering (VQA).** The input is an image and a question ("What colour is the
# bus?", "How many people are there?"), the output an answer, usually a word or two. The VQA data
# set of Antol et al. (2015) has about 250 000 images (COCO photographs and clip-art scenes), some
# 760 000 questions and ten human answers per question; an answer counts as fully correct if at
# least three of the ten humans gave it. A basic model encodes the image with a CNN and the
# question with an LSTM, combines the two vectors, and classifies over the most frequent answers;
# better ones use the question to attend over the image grid (stacked attention, Yang et al.,
# 2016; Zhu et al., 2016), or over detected object regions: the **bottom-up and top-down
# attention** of Anderson et al. (2018) attends over Faster R-CNN boxes (lecture 09) and works for
# captioning and VQA alike.
#
# VQA has the same trap as section 7, in a stronger form: the **language prior**. Many questions
# can be answered well without the image. "Is there a ...?" is answered "yes" most of the time;
# "What colour is the banana?" is "yellow"; "What sport is ...?" is often "tennis". A blind model
# that reads only the question scores surprisingly high, and models with images were shown to
# lean on such priors (Agrawal et al., 2016). VQA v2 (Goyal et al., 2017) answered by pairing
# each question with two similar images that have different answers, so that only a model that
# looks can get both right.

# %% [markdown]
# ## Check yourself
#
# **1.** A caption has 9 words. How many inputs and targets does it give for teacher forcing, and
# what are the first input and the last target?
#
# <details><summary>Answer</summary>
#
# Ten of each: the inputs are `<START>` and the 9 words, the targets the 9 words and `<END>`.
# The first input is `<START>`, the last target `<END>`. (`<NULL>` padding after them is masked
# out of the loss.)
# </details>
#
# **2.** Why can a captioner trained only with teacher forcing be surprised at test time? Name
# two remedies.
#
# <details><summary>Answer</summary>
#
# In training every prefix is a true caption; at test time the prefix is the model's own output,
# which may contain errors, so the model conditions on prefixes it never saw (exposure bias), and
# one error can lead to more. Remedies: scheduled sampling (feed the model's own samples with a
# probability that grows during training), or training on whole sampled sentences with a
# sentence-level reward (REINFORCE, self-critical training).
# </details>
#
# **3.** In scheduled sampling with the inverse sigmoid schedule and $k = 200$, what is the
# probability of feeding the true word at step 0 and at step 2000?
#
# <details><summary>Answer</summary>
#
# $\epsilon_0 = 200 / (200 + e^0) = 200/201 \approx 0.995$, and $\epsilon_{2000} = 200 / (200 +
# e^{10}) \approx 200 / 22\,226 \approx 0.009$: almost pure teacher forcing at the start, almost
# always the model's own words by step 2000.
# </details>
#
# **4.** A beam search with $k = 3$ over a vocabulary of 36 words: how many candidates are scored
# at each step (while no beam has finished), and how many survive? Is the result guaranteed to
# be the most probable sentence?
#
# <details><summary>Answer</summary>
#
# $3 \times 36 = 108$ candidates, 3 survive. No: a sentence whose prefix falls out of the beam
# early can never come back, even if its continuation would have made it the most probable.
# Only an exhaustive search (or $k$ as large as the number of prefixes) guarantees the
# maximum.
# </details>
#
# **5.** Candidate "a red red red square", one reference "a red square left of a circle". Compute
# $p_1$, $p_2$ and the brevity penalty.
#
# <details><summary>Answer</summary>
#
# Unigrams: "a" 1 (clipped 1), "red" 3 (clipped to 1: the reference has one), "square" 1
# (clipped 1): $p_1 = 3/5$. Bigrams: "a red" matches, "red red" twice and no match, "red square"
# matches: $p_2 = 2/4$. $c = 5$, $r = 7$, so $\mathrm{BP} = e^{1 - 7/5} = e^{-0.4} \approx 0.67$.
# </details>
#
# **6.** Why is a language-only baseline necessary before celebrating a captioning BLEU score?
#
# <details><summary>Answer</summary>
#
# Captions share much structure, so a model that writes the most typical sentence for every image
# already matches many n-grams. Only the improvement over that baseline (and the drop when the
# image is replaced by a wrong one) shows that the model uses the image.
# </details>
#
# **7.** In soft attention over an $8 \times 8$ grid of 50-dimensional features, what are the
# shapes of $e_t$, $\alpha_t$ and $z_t$ for one image? What constraint does $\alpha_t$ satisfy?
#
# <details><summary>Answer</summary>
#
# $e_t$ and $\alpha_t$ have 64 entries (one per cell), $z_t$ has 50. $\alpha_t$ is a probability
# distribution: $\alpha_{t,i} \ge 0$ and $\sum_i \alpha_{t,i} = 1$, so $z_t$ is a convex
# combination (a weighted average) of the cell features.
# </details>
#
# **8.** Show and Tell sees the average of the 48 feature channels, the attention model the full
# grid with two coordinate channels. Which caption words can the attention model get right that
# Show and Tell can hardly get right, and why?
#
# <details><summary>Answer</summary>
#
# Place words ("at the top left") and relations ("left of", "below"): the global average
# throws away where things are (and averages the coordinate channels to a constant), while the
# context vector of the attention model carries the coordinates of the attended cells. Also the
# attributes of one object in a crowded scene: an average mixes the colours and shapes of all
# objects; attention can read one object at a time.
# </details>
#
# **9.** Why can't hard attention be trained by backpropagation alone, and what does REINFORCE do
# instead?
#
# <details><summary>Answer</summary>
#
# The sampled location is a discrete choice: the output does not change smoothly with the
# attention scores, so the gradient through the sample is zero almost everywhere. REINFORCE uses
# $\nabla \mathbb{E}[R] = \mathbb{E}[R\, \nabla \log p(s)]$: it samples locations and makes
# those that gave a high reward more probable. The estimate is unbiased but noisy, so a baseline
# is subtracted from the reward.
# </details>
#
# **10.** A VQA model reaches 60% accuracy. Name a check that tells you how much of it comes from
# the image.
#
# <details><summary>Answer</summary>
#
# Train and test a question-only model (no image) and compare; or evaluate on complementary
# pairs (VQA v2): the same question on two images with different answers, where a model that
# ignores the image must get one of the two wrong.
# </details>

# %% [markdown]
# ## Summary
#
# * A captioner is a conditional language model $p(S \mid I) = \prod_t p(S_t \mid I, S_{<t})$:
#   a CNN encodes the image, an RNN or LSTM writes one word at a time. `<START>` begins every
#   caption, `<END>` lets the model decide its length, `<NULL>` pads minibatches and is masked out
#   of the loss.
# * Karpathy & Fei-Fei add the image to the first RNN step; Show and Tell feeds it as the LSTM's
#   input at $t = -1$. Both read it once.
# * Training uses **teacher forcing** (true prefixes); testing feeds back the model's own words.
#   The mismatch is **exposure bias**; **scheduled sampling** moves gradually from true to
#   sampled inputs, with a linear, exponential or inverse-sigmoid schedule for $\epsilon_i$.
# * **Greedy decoding** takes the best word each time; **beam search** keeps the $k$ best
#   prefixes by summed log-probability and usually finds more probable sentences (with a bias
#   towards short ones).
# * **BLEU** = brevity penalty $\times$ geometric mean of clipped n-gram precisions, computed over
#   a corpus; METEOR, CIDEr and SPICE target captioning better. Always compare with a
#   language-only baseline: much of a caption is predictable without the image.
# * **Soft attention** computes, for every word, a distribution $\alpha_t$ over the CNN's grid and
#   reads the context $z_t = \sum_i \alpha_{t,i} a_i$; it is differentiable and learned from
#   captions alone, and its maps show where the model looked. **Hard attention** samples one
#   location and needs REINFORCE.
# * The same encoder-decoder with attention translates text (Sutskever et al., Bahdanau et al.)
#   and answers questions about images (VQA), where the language prior is an even bigger trap.

# %% [markdown]
# ## Papers and further reading
#
# * A. Karpathy, L. Fei-Fei (2015). Deep visual-semantic alignments for generating image
#   descriptions. *CVPR 2015*. The multimodal RNN, image given at the first step.
# * O. Vinyals, A. Toshev, S. Bengio, D. Erhan (2015). Show and tell: a neural image caption
#   generator. *CVPR 2015*. The LSTM captioner with the image at $t = -1$, beam search.
# * O. Vinyals, A. Toshev, S. Bengio, D. Erhan (2017). Show and tell: lessons learned from the
#   2015 MSCOCO image captioning challenge. *IEEE TPAMI* 39(4), 652–663.
# * J. Mao, W. Xu, Y. Yang, J. Wang, Z. Huang, A. Yuille (2015). Deep captioning with multimodal
#   recurrent neural networks (m-RNN). *ICLR 2015*.
# * K. Xu, J. Ba, R. Kiros, K. Cho, A. Courville, R. Salakhutdinov, R. Zemel, Y. Bengio (2015).
#   Show, attend and tell: neural image caption generation with visual attention. *ICML 2015*.
#   Soft and hard attention over a CNN grid.
# * J. Lu, C. Xiong, D. Parikh, R. Socher (2017). Knowing when to look: adaptive attention via a
#   visual sentinel for image captioning. *CVPR 2017*. Attention computed from the current state.
# * P. Anderson, X. He, C. Buehler, D. Teney, M. Johnson, S. Gould, L. Zhang (2018). Bottom-up
#   and top-down attention for image captioning and visual question answering. *CVPR 2018*.
# * S. Bengio, O. Vinyals, N. Jaitly, N. Shazeer (2015). Scheduled sampling for sequence
#   prediction with recurrent neural networks. *NeurIPS 2015*.
# * F. Huszár (2015). How (not) to train your generative model: scheduled sampling, likelihood,
#   adversary? arXiv:1511.05101.
# * M. Ranzato, S. Chopra, M. Auli, W. Zaremba (2016). Sequence level training with recurrent
#   neural networks. *ICLR 2016*. Exposure bias, training on sampled sequences.
# * S. J. Rennie, E. Marcheret, Y. Mroueh, J. Ross, V. Goel (2017). Self-critical sequence
#   training for image captioning. *CVPR 2017*.
# * K. Papineni, S. Roukos, T. Ward, W.-J. Zhu (2002). BLEU: a method for automatic evaluation of
#   machine translation. *ACL 2002*.
# * S. Banerjee, A. Lavie (2005). METEOR: an automatic metric for MT evaluation with improved
#   correlation with human judgments. *ACL Workshop on Evaluation Measures for MT*.
# * R. Vedantam, C. L. Zitnick, D. Parikh (2015). CIDEr: consensus-based image description
#   evaluation. *CVPR 2015*.
# * P. Anderson, B. Fernando, M. Johnson, S. Gould (2016). SPICE: semantic propositional image
#   caption evaluation. *ECCV 2016*.
# * T.-Y. Lin et al. (2014). Microsoft COCO: common objects in context. *ECCV 2014*; X. Chen et
#   al. (2015). Microsoft COCO captions: data collection and evaluation server. arXiv:1504.00325.
# * I. Sutskever, O. Vinyals, Q. V. Le (2014). Sequence to sequence learning with neural
#   networks. *NeurIPS 2014*.
# * D. Bahdanau, K. Cho, Y. Bengio (2015). Neural machine translation by jointly learning to align
#   and translate. *ICLR 2015*. The origin of attention.
# * A. Vaswani et al. (2017). Attention is all you need. *NeurIPS 2017*.
# * V. Mnih, N. Heess, A. Graves, K. Kavukcuoglu (2014). Recurrent models of visual attention.
#   *NeurIPS 2014*. Hard attention trained with REINFORCE.
# * R. J. Williams (1992). Simple statistical gradient-following algorithms for connectionist
#   reinforcement learning. *Machine Learning* 8, 229–256. REINFORCE.
# * S. Antol, A. Agrawal, J. Lu, M. Mitchell, D. Batra, C. L. Zitnick, D. Parikh (2015). VQA:
#   visual question answering. *ICCV 2015*.
# * A. Agrawal, D. Batra, D. Parikh (2016). Analyzing the behavior of visual question answering
#   models. *EMNLP 2016*.
# * Y. Goyal, T. Khot, D. Summers-Stay, D. Batra, D. Parikh (2017). Making the V in VQA matter:
#   elevating the role of image understanding in visual question answering. *CVPR 2017*.
# * Z. Yang, X. He, J. Gao, L. Deng, A. Smola (2016). Stacked attention networks for image
#   question answering. *CVPR 2016*.
# * Y. Zhu, O. Groth, M. Bernstein, L. Fei-Fei (2016). Visual7W: grounded question answering in
#   images. *CVPR 2016*.
# * Stanford CS231n course notes and lectures on recurrent networks, image captioning and
#   attention, https://cs231n.github.io/ .

# %%
print(f"this notebook ran in {time.perf_counter() - t_start:.0f} s")
