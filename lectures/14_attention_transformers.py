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
# # Lecture 14 — Attention and transformers
#
# Lecture 13 gave a recurrent captioner a way to look back at the image: at every word it
# scored each cell of the encoder's grid, turned the scores into weights with a softmax and read
# the weighted average. The LSTM still carried everything else, one step after another. In 2017
# Vaswani et al. asked what happens if attention does *all* the work: every element of a
# sequence looks at every other one, in parallel, several times in a row, with no recurrence and
# no convolution. The result, the **transformer**, now underlies almost every large model of
# language, and since the Vision Transformer (Dosovitskiy et al., 2021) and DETR (Carion et al.,
# 2020) much of computer vision as well: classification from image patches, detection as the
# prediction of a set, and the text-image models of lecture 15 (learning without labels).
#
# Attention is simple, and most of what makes a transformer work is in its details: why the
# scores are divided by $\sqrt{d}$, why there are several heads, how a model that treats its
# input as an unordered set learns where things are, why the blocks are wrapped in residual
# connections and layer normalisation, and what all this costs as the sequence grows. This
# lecture builds each piece, measures what it is for, trains a small Vision Transformer against
# lecture 06's CNN on the same data and the same budget, and ends with the matching that lets a
# transformer detect objects without anchors or non-maximum suppression.
#
# **After this lecture you can**
#
# 1. write scaled dot-product attention and multi-head attention with masks, and explain (and
#    measure) why the scores are divided by $\sqrt{d}$;
# 2. show that self-attention without positional information is permutation-equivariant, and
#    add sinusoidal or learned positional encodings;
# 3. assemble encoder and decoder blocks from attention, an MLP, residual connections and
#    layer normalisation (pre-norm and post-norm), and count what a layer costs in the sequence
#    length against a convolution and a recurrent layer;
# 4. turn an image into a sequence of patch tokens with a class token, train a small Vision
#    Transformer, compare it fairly with a CNN, and say why it loses on small data;
# 5. read a ViT's attention maps (per head, per layer, and rolled out) without over-reading
#    them;
# 6. replace lecture 13's LSTM with transformer decoder blocks in a captioner;
# 7. match a set of predicted boxes to the ground truth with the Hungarian algorithm, and
#    compute DETR's set loss.
#
# **Plan.** Attention from lecture 13 to dot products → the scale → heads and masks →
# positions → the transformer block and its cost → the Vision Transformer (patches, training at
# equal budget, attention maps, a widget) → a transformer captioner → DETR's set prediction →
# questions, summary, papers.
#
# **The data.** The classification sections use the course's embedded digits at their own
# 8x8 pixels, standardised exactly as in lecture 06 (`dlcv.transformers.vit.load_digits`), so
# that the ViT and lecture 06's CNN see the same tensors. A ViT cuts them into 2x2 patches: a
# 4x4 grid of 16 tokens. Upsampling the digits to 16x16 and cutting 4x4 patches would give the
# same 16 tokens with four times as many (interpolated) numbers each and no more information;
# we keep the originals and draw them large. The captioning and detection sections use the shapes
# scenes of lectures 09-10 and 13, with their captions.

# %%
# %matplotlib inline
import math
import time

import matplotlib.pyplot as plt
import numpy as np
import torch

from dlcv.captioning import captioners as CP
from dlcv.captioning import decoding as DC
from dlcv.captioning.attention_maps import phrase_accuracy, upsample_attention
from dlcv.captioning.captions import make_caption_data
from dlcv.captioning.encoders import encode_scenes
from dlcv.networks.mlp import count_parameters
from dlcv.shapes import CLASSES, make_scenes, show_scene
from dlcv.timing import cap_threads, time_call
from dlcv.transformers import attention as AT
from dlcv.transformers import detr as DT
from dlcv.transformers import vit as VT
from dlcv.transformers.blocks import DecoderBlock, EncoderBlock, MultiHeadAttention
from dlcv.transformers.captioner import TransformerCaptioner
from dlcv.transformers.costs import layer_costs
from dlcv.transformers.positions import similarity, sinusoidal
from dlcv.transformers.widgets import AttentionView, CaptionAttentionView

plt.rcParams.update({"figure.figsize": (9, 3.2), "figure.dpi": 90, "font.size": 10})
np.set_printoptions(precision=3, suppress=True, linewidth=110)
cap_threads()  # one BLAS and torch thread: as fast here, far faster on a busy machine
_ = torch.manual_seed(0)
t_start = time.perf_counter()

data = VT.load_digits()
print(data)
X_test, y_test = torch.as_tensor(data.X_test), data.y_test
names = data.class_names

# %% [markdown]
# ## 1. From additive attention to scaled dot products
#
# ### 1.1 Queries, keys and values
#
# Lecture 13's captioner scored grid cell $i$ for the LSTM state $h_t$ with a small network,
# $e_{t,i} = w^\top \tanh(W_a a_i + W_h h_t)$ (Bahdanau et al.'s *additive* attention), and read
# $z_t = \sum_i \alpha_{t,i} a_i$ with $\alpha_t = \mathrm{softmax}(e_t)$. Three roles are mixed
# in there: something that asks (the state $h_t$), something that is compared with the question
# (the cells $a_i$) and something that is read out (again the cells $a_i$). The transformer
# names them and gives each its own linear map:
#
# * a **query** $q = W_Q x$ for every position that asks,
# * a **key** $k_j = W_K x_j$ for every position that can be looked at,
# * a **value** $v_j = W_V x_j$: what is read from position $j$.
#
# The score is a plain dot product (Luong et al., 2015), scaled by $\sqrt{d}$ for keys of
# dimension $d$; for all queries at once, with $Q$ of shape $(T_q, d)$, $K$ of shape $(T_k, d)$
# and $V$ of shape $(T_k, d_v)$:
#
# $$\mathrm{Attention}(Q, K, V) = \mathrm{softmax}\!\left(\frac{Q K^\top}{\sqrt{d}}\right) V .$$
#
# Each row of the $(T_q, T_k)$ weight matrix is a softmax over the keys, so each output is a
# weighted average of the values. Two matrix products and a softmax: on a GPU this is far
# faster than Bahdanau's small network applied to every (query, key) pair. In
# **self-attention** the queries, keys and values all come from the same sequence: every
# position asks every other one.
#
# A worked example by hand: one query $q = (1, 1)$ and two keys $k_1 = (1, 1)$, $k_2 = (0, 0)$
# in $d = 2$. The scaled scores are $2/\sqrt{2} = \sqrt{2}$ and $0$, so the weights are
# $\sigma(\sqrt 2) \approx 0.80$ and $0.20$, and with values $v_1 = 10$, $v_2 = 0$ the output is
# about $8.0$. The code (`dlcv.transformers.attention.scaled_dot_product_attention`, this
# lecture's teaching version) says the same:

# %%
q = torch.tensor([[1.0, 1.0]])
k = torch.tensor([[1.0, 1.0], [0.0, 0.0]])
v = torch.tensor([[10.0], [0.0]])
out, w = AT.scaled_dot_product_attention(q, k, v)
print("weights", w.numpy(), " output", out.numpy())
ref = torch.nn.functional.scaled_dot_product_attention(q, k, v)
print(f"torch's own scaled_dot_product_attention differs by {float((ref - out).abs().max()):.1e}")

# %% [markdown]
# ### 1.2 Why divide by $\sqrt{d}$
#
# Suppose the entries of a query and a key are independent with mean 0 and variance 1, as
# they roughly are in a freshly initialised network. Their dot product $q \cdot k = \sum_{m=1}^d
# q_m k_m$ is a sum of $d$ terms of variance 1, so it has variance $d$: the scores spread like
# $\sqrt d$. A softmax of widely spread scores puts nearly all its weight on the largest one,
# and a saturated softmax passes almost no gradient: its Jacobian
# $\partial p / \partial s = \mathrm{diag}(p) - p p^\top$ is zero for a one-hot $p$. Dividing by
# $\sqrt{d}$ brings the scores back to variance 1 whatever $d$ is.
#
# We measure it: random queries against 16 random keys, for $d$ from 2 to 1024, with and
# without the scale (`softmax_saturation`). "Largest weight" is the mean over queries of the
# weight of the best key ($1/16$ for a flat softmax, 1 for a one-hot one); "Jacobian" is the mean
# Frobenius norm of the softmax's Jacobian, the factor by which the softmax passes gradient on
# to the scores, and so to $W_Q$ and $W_K$.

# %%
sat = AT.softmax_saturation([2, 8, 32, 128, 512, 1024], n_keys=16, trials=500)
print(f"{'d':>5} | {'score std':>9} {'largest weight':>14} {'Jacobian':>9} | "
      f"{'unscaled: std':>13} {'largest weight':>14} {'Jacobian':>9}")
for i, d in enumerate(sat["dims"]):
    s, u = sat["scaled"], sat["unscaled"]
    print(f"{d:5d} | {s['score_std'][i]:9.2f} {s['max_weight'][i]:14.3f} {s['jacobian'][i]:9.3f} | "
          f"{u['score_std'][i]:13.2f} {u['max_weight'][i]:14.3f} {u['jacobian'][i]:9.4f}")
ratio = sat["scaled"]["jacobian"][-1] / sat["unscaled"]["jacobian"][-1]
print(f"at d = {sat['dims'][-1]}, the scaled softmax passes {ratio:.0f} times more gradient")

fig, axes = plt.subplots(1, 2, figsize=(9, 3))
for kind, style in (("scaled", "o-"), ("unscaled", "s--")):
    axes[0].semilogx(sat["dims"], sat[kind]["max_weight"], style, base=2, label=kind)
    axes[1].semilogx(sat["dims"], sat[kind]["jacobian"], style, base=2, label=kind)
axes[0].axhline(1 / 16, color="0.6", lw=0.8)
axes[0].set(xlabel="key dimension d", ylabel="largest weight", title="how peaked the softmax is")
axes[1].set(xlabel="key dimension d", ylabel="|Jacobian| (Frobenius)",
            title="how much gradient it passes")
axes[0].legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# Without the scale, the spread of the scores follows $\sqrt d$ (the fifth column), the
# softmax turns almost one-hot as $d$ grows (the left panel's dashed line climbs towards 1) and
# the gradient it passes falls steadily (right panel; the last line printed gives the ratio at
# the largest $d$). With the scale, both stay roughly where they were at $d = 2$. A transformer with
# $d = 64$ per head, the usual size, would start its training with nearly frozen attention
# without it. (Additive attention does not have the problem: its $\tanh$ bounds each score's
# inputs.)
#
# ## 2. Multi-head attention and masks
#
# ### 2.1 Several heads
#
# One softmax gives each query one weighted average: it can look mostly at one place, or
# spread out, but not do both. **Multi-head attention** runs $h$ attentions side by side, each
# on its own $d/h$-dimensional slice of learned projections, and mixes their outputs with one
# more matrix:
#
# $$\mathrm{head}_i = \mathrm{Attention}(X W_Q^{(i)}, C W_K^{(i)}, C W_V^{(i)}),\qquad
#   \mathrm{MHA}(X, C) = [\mathrm{head}_1, \dots, \mathrm{head}_h]\, W_O ,$$
#
# with $C = X$ for self-attention. With $h$ heads of $d/h$ features the cost is that of one
# head of $d$ features: the $D \times D$ projections are simply cut into $h$ groups
# (`split_heads`) and put back together afterwards (`merge_heads`). The layer has $4D^2$
# weights (plus biases), whatever $h$ is. Our function and torch's `nn.MultiheadAttention`
# with the same weights agree:

# %%
D, H = 8, 2
g = torch.Generator().manual_seed(0)
Wq, Wk, Wv, Wo = (torch.randn(D, D, generator=g) * 0.3 for _ in range(4))
x_seq = torch.randn(1, 5, D, generator=g)                       # (N, T, D): 5 tokens
out, weights = AT.multi_head_attention(x_seq, None, Wq, Wk, Wv, Wo, heads=H)
mha = torch.nn.MultiheadAttention(D, H, bias=False, batch_first=True)
with torch.no_grad():
    mha.in_proj_weight.copy_(torch.cat([Wq.T, Wk.T, Wv.T]))
    mha.out_proj.weight.copy_(Wo.T)
    ref, ref_w = mha(x_seq, x_seq, x_seq, average_attn_weights=False)
print(f"output {tuple(out.shape)}, weights {tuple(weights.shape)} (N, heads, T, T); largest "
      f"difference from torch: output {float((out - ref).abs().max()):.1e}, "
      f"weights {float((weights - ref_w).abs().max()):.1e}")

# %% [markdown]
# ### 2.2 The causal mask
#
# A model that generates a sequence left to right (a captioner, a language model) is trained
# on whole sequences at once, with every position predicting the next token. Position $t$ must
# then not look at positions after $t$, or it would read the answer. A **mask** sets the
# forbidden scores to $-\infty$ before the softmax, so their weights are exactly 0: the
# **causal mask** allows key $j$ for query $i$ only when $j \le i$, a lower-triangular matrix.
# Below, the weights of a masked self-attention, and a check: changing the last token changes no
# earlier output.

# %%
mask = AT.causal_mask(5)
xs = torch.randn(5, 4, generator=g)
out_m, w_m = AT.scaled_dot_product_attention(xs, xs, xs, mask=mask)
xs2 = xs.clone()
xs2[4] += 5.0                                                    # change the last token only
out_m2, _ = AT.scaled_dot_product_attention(xs2, xs2, xs2, mask=mask)
print(f"change of outputs 0..3: {float((out_m2[:4] - out_m[:4]).abs().max()):.1e}; "
      f"of output 4: {float((out_m2[4] - out_m[4]).abs().max()):.2f}")

fig, axes = plt.subplots(1, 2, figsize=(6.5, 3))
axes[0].imshow(mask, cmap="gray_r", vmin=0, vmax=1.6)
axes[0].set(title="causal mask (dark: allowed)", xlabel="key j", ylabel="query i")
im = axes[1].imshow(w_m, cmap="viridis", vmin=0, vmax=1)
axes[1].set(title="weights with the mask", xlabel="key j")
fig.colorbar(im, ax=axes[1], fraction=0.046)
plt.tight_layout()
plt.show()

# %% [markdown]
# The first query can only look at itself (its weight is 1); the last one may look at all
# five. (Here each token puts most of its weight on itself: with the queries equal to the keys,
# a token's score with itself is usually its largest.)
# The other masks in use are padding masks (a batch of sentences of different lengths: the
# padding is never looked at) and, in DETR's decoder, no mask at all: the object queries may
# all look at each other.
#
# ## 3. Where is each token? Positional encodings
#
# ### 3.1 Attention sees a set
#
# Nothing in $\mathrm{softmax}(QK^\top/\sqrt d)V$ depends on the *order* of the tokens: shuffle
# the rows of $X$ and the rows of the output are shuffled the same way. A transformer layer is
# **permutation-equivariant**, and a model that pools its tokens (or reads a class token that
# attends to all of them) is permutation-*invariant*: "dog bites man" and "man bites dog" are the
# same bag of words to it, and an image cut into patches is the same bag of patches however
# they are arranged. We check both on untrained modules: an encoder block (section 4) applied to
# shuffled tokens, and a ViT (section 5) without positional encodings applied to a digit whose
# patches were shuffled.

# %%
torch.manual_seed(1)
block = EncoderBlock(dim=8, heads=2, mlp_dim=16).eval()
tokens = torch.randn(1, 6, 8)
perm = torch.tensor([3, 0, 5, 1, 4, 2])
with torch.no_grad():
    diff = float((block(tokens[:, perm]) - block(tokens)[:, perm]).abs().max())
print(f"encoder block: block(shuffled tokens) - shuffled(block(tokens)) = {diff:.1e}")


def shuffle_patches(x, order, patch=2):
    """x: (N, 1, S, S) -> the same image with its patch x patch squares rearranged by order."""
    p = VT.patchify(x, patch)[:, order]                          # (N, P, patch * patch)
    n, grid = len(x), x.shape[-1] // patch
    return p.reshape(n, grid, grid, 1, patch, patch).permute(0, 3, 1, 4, 2, 5).reshape(x.shape)


digit = X_test[:1]
order = torch.randperm(16, generator=torch.Generator().manual_seed(3))
scrambled = shuffle_patches(digit, order)
for positions in ("none", "learned"):
    net = VT.ViT(positions=positions, seed=0).eval()
    if positions == "learned":
        torch.nn.init.normal_(net.pos, std=1.0)                  # stand-in for trained positions
    with torch.no_grad():
        change = float((net(scrambled) - net(digit)).abs().max())
    print(f"ViT with positions={positions!r}: scores change by {change:.1e} when the patches "
          f"are shuffled")

fig, axes = plt.subplots(1, 2, figsize=(4.5, 2.3))
for ax, img, title in zip(axes, [digit, scrambled], ["a test digit", "its patches shuffled"]):
    ax.imshow(img[0, 0], cmap="gray")
    ax.set(title=title, xticks=[], yticks=[])
plt.show()

# %% [markdown]
# Up to rounding, the shuffled tokens give the shuffled outputs, and the ViT without positions
# gives the scrambled digit exactly the scores of the real one. With positions added to the
# tokens (here random stand-ins for trained ones) the scores change. Section 5.3 measures what
# the missing positions cost a trained ViT.
#
# ### 3.2 Sinusoidal encodings
#
# Vaswani et al. add to the token at position $t$ a fixed vector
#
# $$P_{t, 2i} = \sin\!\big(t / 10000^{2i/d}\big),\qquad P_{t, 2i+1} = \cos\!\big(t / 10000^{2i/d}\big),$$
#
# one (sine, cosine) pair per frequency, the frequencies spaced geometrically from 1 down to
# $1/10000$ radians per position. Each pair is a point on a circle that turns with $t$ at its
# own speed: moving $k$ positions rotates every pair by a fixed angle that depends on $k$ only,
# so $P_{t+k}$ is a linear function of $P_t$, and the dot product $P_t \cdot P_{t+k} =
# \sum_i \cos(k\,\omega_i)$ depends on the offset $k$ and not on $t$. A model can therefore learn
# to look "three tokens back" with one linear map. The fast pairs distinguish neighbours, the
# slow ones tell far-apart positions apart: like the digits of a clock, at many speeds.

# %%
P = sinusoidal(64, 32)
S_pos = similarity(P)
fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.3))
im = axes[0].imshow(P.T, cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
axes[0].set(xlabel="position t", ylabel="feature (sin, cos pairs)",
            title="sinusoidal encodings, d = 32")
fig.colorbar(im, ax=axes[0], fraction=0.046)
im = axes[1].imshow(S_pos, cmap="viridis")
axes[1].set(xlabel="position", ylabel="position", title="cosine similarity of two positions")
fig.colorbar(im, ax=axes[1], fraction=0.046)
plt.tight_layout()
plt.show()
print(f"similarity of positions 5 apart, at t = 0, 20, 50: {np.diag(S_pos, 5)[[0, 20, 50]]}")

# %% [markdown]
# On the left, the top rows (high frequencies) alternate quickly and the bottom rows hardly
# change over 64 positions. On the right, every diagonal is constant: the similarity of two
# positions depends only on how far apart they are (the printed line checks one diagonal), and
# it falls, with ripples, as they move apart.
#
# ### 3.3 Learned encodings, and others
#
# The alternative is to learn them: one trainable vector per position, added to the tokens
# (BERT, GPT-2, the ViT). The ViT paper found learned and sinusoidal (1-D or 2-D) encodings about
# equally good, and both far better than none. Learned encodings cannot go beyond the longest
# position seen in training; for images at a new resolution the ViT interpolates them. Later
# models put the position into the attention itself instead: relative position biases (Shaw et
# al., 2018; the Swin Transformer) or rotary encodings (Su et al., 2021), which rotate queries and
# keys by the position so that $q \cdot k$ depends on the offset only.
#
# ## 4. The transformer block
#
# ### 4.1 Encoder and decoder blocks
#
# Attention mixes information *between* tokens; a small MLP, applied to every token on its own,
# transforms it *within* a token. A transformer alternates the two, each wrapped in a residual
# connection (lecture 07's ResNet idea) and a **layer normalisation** (Ba et al., 2016), which
# standardises each token's $D$ features over the features, not over the batch, so it works the
# same for any batch size and sequence length. The original transformer normalises after adding
# the residual (**post-norm**); the ViT and most recent models normalise the input of each branch
# (**pre-norm**), which leaves the residual path an untouched sum from the first block to the
# last and trains deep stacks without the careful learning-rate warm-up that post-norm needs
# (Xiong et al., 2020):
#
# | | post-norm (Vaswani et al.) | pre-norm (ViT, GPT-2 and later) |
# |---|---|---|
# | attention | $x \leftarrow \mathrm{LN}(x + \mathrm{MHA}(x))$ | $x \leftarrow x + \mathrm{MHA}(\mathrm{LN}(x))$ |
# | MLP | $x \leftarrow \mathrm{LN}(x + \mathrm{MLP}(x))$ | $x \leftarrow x + \mathrm{MLP}(\mathrm{LN}(x))$ |
#
# A **decoder block** has one more attention between the two: after a (causally masked)
# self-attention over the sequence being produced, a **cross-attention** whose queries come from
# that sequence and whose keys and values come from the encoder's output, the *memory*. This is
# lecture 13's captioner with the LSTM replaced: the words look at the image cells. The
# parameter counts of the room's blocks (`dlcv.transformers.blocks`) for $D = 64$, 4 heads and
# an MLP of $4D$:

# %%
enc, dec = EncoderBlock(64, 4, 256), DecoderBlock(64, 4, 256)
for name, blk, parts in (("encoder block", enc, ["attn", "mlp", "ln1", "ln2"]),
                         ("decoder block", dec, ["self_attn", "cross_attn", "mlp", "ln1", "ln2",
                                                 "ln3"])):
    counts = ", ".join(f"{p} {count_parameters(getattr(blk, p)):,}" for p in parts)
    print(f"{name}: {count_parameters(blk):,} parameters ({counts})")
memory = torch.randn(2, 49, 64)                                   # e.g. a 7x7 grid of cells
words = torch.randn(2, 12, 64)                                    # 12 word tokens
print(f"decoder: words {tuple(words.shape)} + memory {tuple(memory.shape)} -> "
      f"{tuple(dec(words, memory, AT.causal_mask(12)).shape)}; cross-attention weights "
      f"{tuple(dec.cross_attn.weights.shape)}")

# %% [markdown]
# Each attention layer has $4D^2 + 4D$ parameters, the MLP $2 \cdot 4D^2 + 5D$: two thirds of a
# block's weights are in its MLP. Notice what the cross-attention weights are: for every word,
# a distribution over the 49 cells, exactly the $\alpha_t$ maps of lecture 13.
#
# ### 4.2 What a layer costs as the sequence grows
#
# Self-attention connects every token with every other one in a single layer: a path of length
# 1 between any two positions, against $n$ steps for a recurrent network and $n/(k-1)$ layers of
# a convolution with kernel $k$. The price is the $n \times n$ matrix of weights, computed and
# (for the backward pass) stored in every head of every layer. The counts, for one layer mapping
# $n$ tokens of $d = 64$ features to $n$ tokens (`layer_costs`, forward pass, a multiply-add
# counted as 2 FLOPs):

# %%
d_model = 64
print(f"{'n':>6} | {'attention MFLOPs':>16} {'n x n weights':>14} | {'conv k=3 MFLOPs':>15} | "
      f"{'RNN MFLOPs':>10} {'sequential steps':>16}")
for n in (64, 256, 1024, 4096, 16384):
    c = layer_costs(n, d_model, kernel=3, heads=1)
    a, cv, r = c["self-attention"], c["convolution"], c["recurrent"]
    print(f"{n:6d} | {a['flops'] / 1e6:16.1f} {a['memory']:14,d} | {cv['flops'] / 1e6:15.1f} | "
          f"{r['flops'] / 1e6:10.1f} {r['sequential']:16,d}")
mem_gb = layer_costs(16384, d_model, heads=12)["self-attention"]["memory"] * 4 / 1e9
print(f"(12 heads at n = 16384: the weights alone take {mem_gb:.1f} GB in float32, per layer "
      f"and per sequence)")

# %% [markdown]
# The attention's FLOPs are $8nd^2 + 4n^2d$: linear in $n$ while $n < 2d$, quadratic after. Its
# memory is quadratic from the start. The convolution and the RNN stay linear, but the RNN's $n$
# steps must run one after the other. A 224x224 image cut into 16x16 patches is 196 tokens,
# cheap; the same image as pixels would be 50,176 tokens, which is why the ViT uses patches. We
# also time the three layers on this CPU (one thread, fastest of three runs; `time_call`): the
# attention of `dlcv.transformers.blocks`, a 1-D convolution and torch's RNN, for growing $n$.

# %%
torch.manual_seed(0)
att_layer = MultiHeadAttention(d_model, 4)
conv_layer = torch.nn.Conv1d(d_model, d_model, 3, padding=1)
rnn_layer = torch.nn.RNN(d_model, d_model, batch_first=True)
lengths = [256, 512, 1024, 2048]
times = {"self-attention": [], "convolution": [], "recurrent": []}
with torch.no_grad():
    for n in lengths:
        seq = torch.randn(1, n, d_model)
        times["self-attention"].append(time_call(att_layer, seq, repeats=3)[0])
        times["convolution"].append(time_call(conv_layer, seq.transpose(1, 2), repeats=3)[0])
        times["recurrent"].append(time_call(rnn_layer, seq, repeats=3)[0])
for name, ts in times.items():
    print(f"{name:>15}: " + "  ".join(f"n={n}: {t * 1e3:6.2f} ms" for n, t in zip(lengths, ts))
          + f"   | time(n={lengths[-1]}) / time(n={lengths[0]}) = {ts[-1] / ts[0]:.0f}")
print(f"n grew {lengths[-1] // lengths[0]}x: a linear cost grows as much, a quadratic one "
      f"{(lengths[-1] // lengths[0]) ** 2}x")
growth = {name: ts[-1] / ts[0] for name, ts in times.items()}
fastest_growth = max(growth, key=growth.get)
slowest = max(times, key=lambda name: times[name][-1])
print(f"fastest-growing time: {fastest_growth}; slowest at n = {lengths[-1]}: {slowest}; "
      f"the RNN takes {times['recurrent'][-1] / times['convolution'][-1]:.0f} times the "
      f"convolution's time there")

# %% [markdown]
# Read the last column: the growth factor of each layer's time when $n$ grows eightfold. On a
# CPU the measured factors depend on caches and on the other work the machine is doing, so they
# are not exactly 8 and 64, but the attention's is the largest (the last line says which grew
# fastest and which was slowest at the largest $n$). The RNN does fewer FLOPs than the
# convolution by the table above, yet the last line shows it much slower: its $n$ steps run one
# after another, each too small to keep the processor busy. Practical answers
# to the quadratic cost are local windows (Swin), fused kernels that never store the $n \times n$
# matrix (FlashAttention, Dao et al., 2022) and linear approximations of the softmax.
#
# ## 5. The Vision Transformer
#
# ### 5.1 Images as sequences of patches
#
# The ViT (Dosovitskiy et al., 2021) changes as little as possible about the transformer: it
# cuts the image into non-overlapping $p \times p$ patches, flattens each, maps it linearly to
# $D$ features (the **patch embedding**, a convolution with kernel and stride $p$), puts a
# learned **class token** in front, adds learned positional encodings, runs a stack of pre-norm
# encoder blocks and classifies from the class token's final vector. The class token has no
# content of its own: it is a query slot that gathers, by attention, what the classification
# needs (BERT's [CLS] token). Our digits give 16 patches of 2x2 pixels:

# %%
img = X_test[:1]
patches = VT.patchify(img, 2)                                     # (1, 16, 4)
vit_untrained = VT.ViT(seed=0)
print(f"image {tuple(img.shape)} -> patches {tuple(patches.shape)} -> tokens "
      f"{tuple(vit_untrained.tokens(img).shape)} (class token + 16 patches, D = 16)")
fig = plt.figure(figsize=(8, 2.4))
ax = fig.add_subplot(1, 3, 1)
ax.imshow(img[0, 0], cmap="gray")
for t in range(1, 4):
    ax.axhline(2 * t - 0.5, color="tab:orange", lw=1)
    ax.axvline(2 * t - 0.5, color="tab:orange", lw=1)
ax.set(title=f"label {names[y_test[0]]}, 4x4 grid of patches", xticks=[], yticks=[])
gs = fig.add_gridspec(2, 8, left=0.4, right=0.98, wspace=0.15, hspace=0.3)
vmin, vmax = float(img.min()), float(img.max())
for p in range(16):
    a = fig.add_subplot(gs[p // 8, p % 8])
    a.imshow(patches[0, p].reshape(2, 2), cmap="gray", vmin=vmin, vmax=vmax)
    a.set(xticks=[], yticks=[])
    a.set_title(str(p), fontsize=7)
plt.show()

# %% [markdown]
# ### 5.2 ViT against CNN at equal budget
#
# The comparison is fair when the data, the number of passes over it and the model size match.
# **Budget:** both models see the same 1,257 training digits (the same tensors), for 20 epochs
# of minibatches of 32 (the same number of steps), through the same training function
# (`dlcv.networks.training.fit`). The CNN is lecture 06's `small_cnn` with lecture 06's recipe
# (SGD with momentum, learning rate 0.05); the ViTs use Adam with learning rate $3 \cdot 10^{-3}$,
# the optimiser transformers are trained with (SGD trains them poorly). **Size:** one ViT with
# about as many parameters as the CNN ($D = 8$, 2 blocks, 2 heads, MLP of 16) and one with more
# ($D = 16$, MLP of 32). Each model is trained once per seed and cached in the room
# (`dlcv.transformers.vit.cnn`, `vit`).

# %%
models = {"CNN (lecture 06)": VT.cnn(seed=0),
          "ViT, D = 8": VT.vit(seed=0, dim=8, mlp_dim=16),
          "ViT, D = 16": VT.vit(seed=0)}
results = {}
print(f"{'model':>17} | {'parameters':>10} | {'train acc.':>10} | {'best val.':>9} | "
      f"{'test acc.':>9} | {'seconds':>7}")
for name, m in models.items():
    h = m.history
    results[name] = VT.accuracy(m, data.X_test, data.y_test)
    print(f"{name:>17} | {count_parameters(m):10,d} | {h.train_acc[-1]:10.3f} | "
          f"{h.val_acc.max():9.3f} | {results[name]:9.3f} | {m.seconds:7.1f}")
best_vit = max(r for n, r in results.items() if n.startswith("ViT"))
cnn_acc = results["CNN (lecture 06)"]
verdict = "beats" if cnn_acc > best_vit else "does not beat"
print(f"the CNN {verdict} the better ViT: {cnn_acc:.3f} against {best_vit:.3f} test accuracy, "
      f"{round((best_vit - cnn_acc) * len(y_test)):+d} test digits for the ViT")
print("training minus test accuracy: " + ", ".join(
    f"{name} {m.history.train_acc[-1] - results[name]:.3f}" for name, m in models.items()))

fig, ax = plt.subplots(figsize=(6, 3))
for name, m in models.items():
    ax.plot(m.history.epochs, m.history.val_acc, "o-", ms=3, label=name)
ax.set(xlabel="epoch", ylabel="validation accuracy", ylim=(0, 1.02),
       title="validation accuracy during training")
ax.legend()
plt.show()

# %% [markdown]
# The verdict is the second-last line printed: at this data size and budget, the small CNN
# wins against a ViT of about its size and against one with more than twice its parameters,
# and it gets there in fewer epochs (the curves). The bigger ViT does not fail for lack of
# capacity: it fits its training digits as well as the CNN (the first accuracy column) and still
# makes more errors on the test digits; the last line shows its larger gap between training and
# test accuracy. It generalises worse.
#
# The reason is **inductive bias**. A convolution assumes that what matters is local and that
# the same pattern means the same thing anywhere in the image; pooling adds some tolerance to
# small shifts. These assumptions are true of images, and they are built in: the CNN does not
# need data to learn them. A ViT assumes almost nothing: which patches are neighbours, and that
# a stroke means the same thing at any position, must be learned from the examples through the
# positional encodings and the attention weights. With 1,257 digits that costs accuracy.
# Dosovitskiy et al. saw the same on ImageNet (1.3 million images), where ViTs trained from
# scratch lost to ResNets of similar size; they won only after pre-training on 14 to 300
# million images. DeiT (Touvron et al., 2021) closed much of the gap on ImageNet alone with
# heavy augmentation, regularisation and distillation from a CNN teacher (lecture 18's
# distillation) — that is, by putting the missing bias back in through the data and the
# teacher. Hybrids put it back in the architecture: convolutional stems, local windows (Swin).
#
# ### 5.3 The same ViT without positions
#
# Section 3.1 showed that a ViT without positional encodings cannot tell a digit from its
# shuffled patches. Trained, it still classifies from the bag of its 16 patches:

# %%
vit_nopos = VT.vit(seed=0, positions="none")
acc_nopos = VT.accuracy(vit_nopos, data.X_test, data.y_test)
acc_pos = results["ViT, D = 16"]
print(f"ViT, D = 16, test accuracy with learned positions {acc_pos:.3f}, without "
      f"{acc_nopos:.3f} (chance: 0.1); trained in {vit_nopos.seconds:.1f} s")

# %% [markdown]
# Without positions the accuracy printed is far above chance, and far below the ViT with
# positions. A bag of 2x2 patches still says something (a 1 has few dark patches, an 8 many
# stroke crossings), but not where the strokes are. With positions, the model learns them: the
# positional encodings are where a ViT stores the geometry that a CNN has built in.
#
# ### 5.4 What the class token looks at
#
# The class token's attention weights over the patches, in each block and head, are the
# ViT's own answer to "where does it look?". Below, for six test digits: the digit, then the
# class token's weights over the 16 patches in block 1 (both heads) and block 2 (both heads),
# and the **attention rollout** (Abnar & Zuidema, 2020), which follows the attention through both
# blocks: average the heads, add the identity for the residual connection, renormalise, and
# multiply the layers' matrices.

# %%
vit16 = models["ViT, D = 16"]
show_idx = [0, 1, 2, 3, 4, 5]
W_att = VT.attention_maps(vit16, X_test[show_idx])                # (6, L, heads, 17, 17)
R_att = VT.rollout(W_att)                                         # (6, 17, 17)
with torch.no_grad():
    pred16 = vit16(X_test).argmax(1).numpy()
cols = ["digit", "block 1, head 1", "block 1, head 2", "block 2, head 1", "block 2, head 2",
        "rollout"]
fig, axes = plt.subplots(len(show_idx), len(cols), figsize=(8.5, 9))
for r, i in enumerate(show_idx):
    maps = [W_att[r, l, h, 0, 1:] for l in range(2) for h in range(2)] + [R_att[r, 0, 1:]]
    axes[r, 0].imshow(X_test[i, 0], cmap="gray")
    axes[r, 0].set_ylabel(f"{names[y_test[i]]} (says {names[pred16[i]]})", fontsize=8)
    for c, mp in enumerate(maps, start=1):
        axes[r, c].imshow(mp.reshape(4, 4), cmap="inferno", vmin=0)
    for c, ax in enumerate(axes[r]):
        ax.set_xticks([])
        ax.set_yticks([])
        if r == 0:
            ax.set_title(cols[c], fontsize=8)
plt.tight_layout()
plt.show()
cls_self = W_att[:, :, :, 0, 0].mean((0, 2))                      # weight on itself, per block
ent = -(W_att[:, :, :, 0] * W_att[:, :, :, 0].clamp_min(1e-12).log()).sum(-1).mean((0, 2))
print("class token's weight on itself, mean over these digits and the heads: "
      + ", ".join(f"block {l + 1}: {float(w):.2f}" for l, w in enumerate(cls_self)))
print(f"entropy of its weights (nats; uniform over 17 tokens: {math.log(17):.2f}): "
      + ", ".join(f"block {l + 1}: {float(e):.2f}" for l, e in enumerate(ent)))
W_all = VT.attention_maps(vit16, X_test)                          # (360, L, heads, 17, 17)
top = W_all[:, :, :, 0, 1:].argmax(-1)                            # (360, L, heads): top patch
for l in range(top.shape[1]):
    for hd in range(top.shape[2]):
        counts = torch.bincount(top[:, l, hd], minlength=16)
        p_top = int(counts.argmax())
        print(f"block {l + 1}, head {hd + 1}: the class token's favourite patch is patch {p_top} "
              f"(row {p_top // 4}, col {p_top % 4}) for {int(counts.max())} of {len(top)} test "
              f"digits; {int((counts > 0).sum())} different patches are someone's favourite")

# %% [markdown]
# Each row is one digit (its label, and what the ViT says); each map is scaled to its own
# largest weight. The two heads of a block differ: each has its own projections, and they do
# not look at the same patches. The last four printed lines count, over all 360 test digits,
# how often each head's largest weight falls on its most common patch: a head that picks the
# same patch for most digits reads a fixed *position* (the positional encodings let it), one
# that spreads its choice over many patches follows the *content*. Here the heads of block 1
# are closer to the first kind and those of block 2 to the second. The maps are coarse
# (16 patches) and they are not saliency maps: a weight says how much of a patch's *value
# vector* flows into the class token at that block, and the value vectors of the second block
# already mix information from every patch through the first. That is why rollout exists, and
# why it is only a heuristic: it ignores the MLPs and the values, and treats attention as the
# only mixing. Compare with lecture 16 (understanding CNNs), where attribution maps were
# *tested* (by deletion) before they were believed; attention maps deserve the same caution
# (Jain & Wallace, 2019). The first two printed lines summarise the six digits: the class
# token hardly attends to itself, and the entropy of its weights, well below the uniform value,
# says that it concentrates on a few patches, more sharply in block 1 than in block 2.
#
# ### 5.5 Explore the attention
#
# The widget shows the attention of any token, not only the class token: pick a test digit,
# a block, a head (or their mean) and a query (the class token or one of the 16 patches,
# outlined in cyan). The middle panel lays the query's weights over the patches on the digit;
# the bars show all 17 weights, the class token's in orange. Things to try: does a patch look
# mostly at itself, at its neighbours or at the whole digit, and does that change from block
# 1 to block 2? Does the class token look at the same places for two digits of the same class?

# %%
view = AttentionView(vit16, X_test[:100], y_test[:100], names, index=0, layer=0, query=0)
view

# %% [markdown]
# ## 6. A transformer captioner
#
# Lecture 13's attention captioner had an LSTM that read the words one by one and attended to
# the encoder's 8x8 grid of cells with additive attention. Section 4.1's decoder block does
# both jobs with attention: causally masked self-attention over the words so far replaces the
# LSTM, and cross-attention from the words to the cells replaces the additive attention.
# `dlcv.transformers.captioner.TransformerCaptioner` is built that way:
#
# * the **memory**: lecture 13's frozen shapes encoder gives 48 features for each of the 64
#   cells; each cell becomes a token of $D = 32$ features plus a learned positional encoding
#   (lecture 13 appended two coordinate channels for the same reason: attention alone cannot
#   tell the cells apart);
# * the **words**: an embedding of $D = 32$ plus a learned positional encoding per position;
# * two pre-norm decoder blocks with 2 heads, a layer norm, and a linear layer to the
#   vocabulary.
#
# It has the interface of lecture 13's captioners, so lecture 13's `train_captioner` (teacher
# forcing, Adam, a cosine schedule, clipping) and `greedy_decode` run it unchanged. With the
# causal mask, teacher forcing computes the loss at every position of a caption in one pass,
# without a loop over the words. It is trained for 500 steps of 32 captions on 1,000 scenes (lecture 13
# trained its attention LSTM for 1,200 steps on 2,000 scenes), and tested on 250 new scenes.

# %%
cap_train = make_caption_data(1000, seed=1)
cap_test = make_caption_data(250, seed=2, vocab=cap_train.vocab)
vocab = cap_train.vocab
f_train = torch.as_tensor(encode_scenes(cap_train.scenes).maps)      # (1000, 48, 8, 8)
f_test = torch.as_tensor(encode_scenes(cap_test.scenes).maps)
captioner = TransformerCaptioner(len(vocab), f_train.shape[1], dim=32, heads=2, layers=2)
hist_cap = CP.train_captioner(captioner, f_train, cap_train.tokens, cap_train.image_index,
                              steps=500, batch_size=32, lr=3e-3, progress=False)
print(f"{count_parameters(captioner):,} parameters, trained in {hist_cap.seconds:.1f} s")
loss_cap = CP.caption_loss(captioner, f_test, cap_test.tokens, cap_test.image_index)
print(f"held-out loss {loss_cap:.3f} per word, perplexity {np.exp(loss_cap):.2f}")
tok_cap, alpha_cap = DC.greedy_decode(captioner, f_test, vocab)      # alphas: (250, 16, 64)
greedy_cap = [vocab.decode(t) for t in tok_cap]
bleu_cap = DC.lecture_bleu(greedy_cap, cap_test.captions).bleu
phrases, n_phrases = phrase_accuracy(greedy_cap, cap_test.scenes)
print(f"greedy captions of the 250 test scenes: BLEU-4 {bleu_cap:.3f}, {phrases:.1%} of "
      f"{n_phrases} noun phrases true of the scene")
for i in range(3):
    print(f"  scene {i}: {greedy_cap[i]!r}\n     objects: {'; '.join(cap_test.scenes.describe(i))}")

# %% [markdown]
# The printed lines are the same measures as lecture 13's: the held-out cross-entropy per word,
# BLEU-4 against the five reference captions of each test scene, and the share of the noun
# phrases ("a large red circle") that are true of the scene. They are not a fair race against
# lecture 13's LSTMs, which trained on twice the scenes for more steps; what they show is that a
# captioner with no recurrence at all, only attention and per-token MLPs, writes captions whose
# noun phrases are mostly true of the scene. The three examples, printed with the scenes'
# objects, show that it is far from perfect: compare each caption's colours, sizes and shapes
# with the objects listed under it. Where does each word look? Below, one test scene with two
# objects: for each word of
# the generated caption, the cross-attention of the last block (mean of the heads) laid over the
# image, and the words' causal self-attention.

# %%
i_cap = next(i for i in range(len(greedy_cap)) if len(cap_test.scenes.boxes[i]) == 2)
words_cap = greedy_cap[i_cap].split()
with torch.no_grad():
    inputs = torch.tensor([[vocab.start] + [vocab.word_to_idx[w] for w in words_cap]])
    captioner(f_test[i_cap:i_cap + 1], inputs)
att_cap = captioner.attention()
maps_up = upsample_attention(alpha_cap[i_cap, :len(words_cap)], (8, 8), 64)   # (T, 64, 64)
n_show = min(len(words_cap), 9)
fig, axes = plt.subplots(1, n_show + 1, figsize=(1.25 * (n_show + 1) + 1.5, 1.9))
axes[0].imshow(cap_test.scenes.images[i_cap])
axes[0].set_title("scene", fontsize=8)
for t in range(n_show):
    axes[t + 1].imshow(cap_test.scenes.images[i_cap] * 0.35)
    axes[t + 1].imshow(maps_up[t], cmap="inferno", alpha=0.65)
    axes[t + 1].set_title(words_cap[t], fontsize=8)
for ax in axes:
    ax.set_xticks([])
    ax.set_yticks([])
plt.show()
S_words = att_cap["self"][0, -1].mean(0)[1:, :]                   # (T, T + 1), from each word
fig, ax = plt.subplots(figsize=(4.2, 3.6))
ax.imshow(S_words, cmap="viridis", vmin=0)
ax.set_xticks(range(len(words_cap) + 1), ["<START>"] + words_cap, rotation=70, fontsize=7)
ax.set_yticks(range(len(words_cap)), [f"{w} ->" for w in words_cap], fontsize=7)
ax.set_title("block 2 self-attention (mean of heads)", fontsize=9)
plt.show()
print(f"scene {i_cap}: " + "; ".join(cap_test.scenes.describe(i_cap)))

# %% [markdown]
# In the self-attention matrix, each row is an input word (the word chosen at the step before,
# fed back in) looking back at `<START>` and the words up to itself; everything right of the
# diagonal is exactly zero: the causal mask at work.
# Read the cross-attention maps with section 5.4's caution: they show where the last block
# reads from the memory for that word, and the cells' features already describe a neighbourhood
# of 44x44 pixels.
#
# The widget below does the same for any of the 250 test scenes: pick a scene, a block, a head
# (or their mean) and a word of the generated caption. The image shows the cross-attention of
# the query that chose the word; the bars show that query's self-attention over `<START>` and
# the words before it. Things to try: does the word after "left of" look at the second object?
# Are the two heads of a block different?

# %%
caption_view = CaptionAttentionView(captioner, f_test, cap_test.scenes, vocab, index=i_cap,
                                    layer=1, word=3)
caption_view

# %% [markdown]
# ## 7. Detection as set prediction: DETR
#
# The detectors of lectures 09-10 predict a box for every anchor or grid cell and then remove
# the duplicates with non-maximum suppression; their training assigns each ground-truth box to
# the anchors it overlaps. DETR (Carion et al., 2020) predicts a **set** instead: a CNN backbone,
# a transformer encoder over its feature cells, and a decoder whose $Q$ inputs are learned
# **object queries** (a fixed number, more than any image has objects). Each query's output is
# decoded into a class (one of the $K$ classes or "no object") and a box. There are no anchors
# and no NMS. For training, the $Q$ predictions are in no particular order, so before any loss
# can be computed, each of the $G$ objects must be paired with one prediction.
#
# ### 7.1 Bipartite matching
#
# The cost of pairing prediction $q$ with object $g$ combines how much the prediction believes
# in the object's class and how close the boxes are:
#
# $$C_{qg} = -\lambda_{\text{cls}}\, p_q(c_g) + \lambda_{L1} \lVert b_q - b_g \rVert_1
#   - \lambda_{\text{giou}}\, \mathrm{GIoU}(b_q, b_g),$$
#
# with DETR's weights $\lambda = (1, 5, 2)$ and boxes in units of the image size. The
# generalised IoU (Rezatofighi et al., 2019) subtracts from the IoU the share of the smallest
# enclosing box that neither box covers, so it still ranks boxes that do not overlap. The
# matching is the one-to-one assignment of least total cost: the **linear assignment problem**,
# solved by the Hungarian algorithm (Kuhn, 1955) in $O(Q G^2)$ time
# (`scipy.optimize.linear_sum_assignment`). Trying every assignment would take
# $Q!/(Q-G)!$ evaluations.
#
# A shapes scene, and a made-up set of $Q = 6$ predictions (`noisy_predictions`): every object
# predicted by one query with a slightly wrong box, at shuffled positions; one duplicate of the
# first object with a worse box; the other queries say "no object".

# %%
scenes = make_scenes(4, seed=11)
i_scene = int(np.argmax([len(b) for b in scenes.boxes]))
size = scenes.images.shape[1]
gt_boxes = scenes.boxes[i_scene] / size                           # (G, 4) in [0, 1]
gt_labels = scenes.labels[i_scene]
Q = 6
logits, boxes = DT.noisy_predictions(gt_labels, gt_boxes, Q, seed=4)
probs = torch.softmax(logits, -1)
cost = DT.match_cost(probs, boxes, gt_labels, gt_boxes)           # (Q, G)
pred_idx, gt_idx = DT.hungarian_match(cost)
print(f"{len(gt_labels)} objects: " + ", ".join(scenes.describe(i_scene)))
print("cost matrix (rows: the 6 predictions, columns: the objects):")
print(cost)
print("Hungarian matching: " + ", ".join(f"object {g} <- prediction {q}"
                                         for q, g in zip(pred_idx, gt_idx)))
print(f"total cost {cost[pred_idx, gt_idx].sum():.3f}")

fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.8), gridspec_kw={"width_ratios": [1, 1.1]})
show_scene(axes[0], scenes.images[i_scene], scenes.boxes[i_scene], gt_labels,
           class_names=CLASSES)
for q in range(Q):
    claims = int(probs[q].argmax()) < len(CLASSES)
    b = boxes[q].numpy() * size
    axes[0].add_patch(plt.Rectangle((b[0], b[1]), b[2] - b[0], b[3] - b[1], fill=False,
                                    ls="--" if claims else ":", lw=1.2,
                                    color="white" if claims else "0.6"))
    axes[0].text(b[0] + 1, b[3] - 2, f"q{q}", color="white", fontsize=7)
axes[0].set_title("objects (solid) and predictions q0..q5 (dashed: claims an object)",
                  fontsize=8)
im = axes[1].imshow(cost, cmap="viridis")
for q, gg in zip(pred_idx, gt_idx):
    axes[1].add_patch(plt.Rectangle((gg - 0.5, q - 0.5), 1, 1, fill=False, color="red", lw=2))
axes[1].set(xlabel="object g", ylabel="prediction q", title="matching cost (red: matched)",
            xticks=range(len(gt_labels)), yticks=range(Q))
fig.colorbar(im, ax=axes[1], fraction=0.046)
plt.tight_layout()
plt.show()

# %% [markdown]
# Each object is matched with the prediction made from it, wherever the shuffle put that
# prediction, and the duplicate is left over. We check the Hungarian algorithm against brute
# force on random cost matrices of up to 6 predictions, where trying every assignment is still
# possible, and time both on the largest size:

# %%
rng = np.random.default_rng(0)
agree, trials = 0, 300
for _ in range(trials):
    q_n = int(rng.integers(1, 7))
    g_n = int(rng.integers(1, q_n + 1))
    c = rng.normal(size=(q_n, g_n))
    h, b = DT.hungarian_match(c), DT.brute_force_match(c)
    agree += bool(np.isclose(c[h].sum(), c[b].sum()))
print(f"same total cost as brute force on {agree} of {trials} random cost matrices")
c8 = rng.normal(size=(8, 6))
t_h, _ = time_call(DT.hungarian_match, c8, repeats=3)
t_b, _ = time_call(DT.brute_force_match, c8, repeats=1)
print(f"8 predictions, 6 objects ({math.perm(8, 6):,} assignments): Hungarian {t_h * 1e3:.2f} ms, "
      f"brute force {t_b * 1e3:.0f} ms")

# %% [markdown]
# ### 7.2 The set loss
#
# Given the matching $\hat\sigma$, DETR's **Hungarian loss** is a cross-entropy over *every*
# query (matched queries toward their object's class, the others toward "no object", down-
# weighted by 0.1 because most queries are empty) plus the L1 and GIoU box losses over the
# matched pairs:
#
# $$\mathcal{L} = \frac{\sum_q w_{y_q} \big(-\log p_q(y_q)\big)}{\sum_q w_{y_q}}
#   + \frac{1}{G}\sum_{g} \Big(\lambda_{L1} \lVert b_{\hat\sigma(g)} - b_g\rVert_1
#   + \lambda_{\text{giou}} \big(1 - \mathrm{GIoU}(b_{\hat\sigma(g)}, b_g)\big)\Big).$$
#
# Three properties make it a loss for sets, each checked below on the predictions above: it does
# not change when the predictions are listed in another order; a fixed pairing (query $g$ for
# object $g$, what a loss for a list would do) costs more, since it pairs objects with the wrong
# predictions; and a duplicate is punished, since only one prediction can be matched to an
# object and the other is trained toward "no object". That last property is why DETR needs no
# NMS.

# %%
loss = DT.set_loss(logits, boxes, gt_labels, gt_boxes)
perm_q = torch.randperm(Q, generator=torch.Generator().manual_seed(1))
loss_perm = DT.set_loss(logits[perm_q], boxes[perm_q], gt_labels, gt_boxes)
G = len(gt_labels)
loss_fixed = DT.set_loss(logits, boxes, gt_labels, gt_boxes,
                         match=(np.arange(G), np.arange(G)))
print(f"Hungarian loss {float(loss['total']):.3f} (class {float(loss['class']):.3f}, "
      f"L1 {float(loss['l1']):.3f}, 1 - GIoU {float(loss['giou']):.3f})")
print(f"predictions in another order: {float(loss_perm['total']):.3f}; "
      f"fixed pairing (query g for object g): {float(loss_fixed['total']):.3f}")
dup = [q for q in range(Q) if q not in loss["match"][0] and int(probs[q].argmax()) < len(CLASSES)]
quiet = logits.clone()
quiet[dup, :] = 0.0
quiet[dup, -1] = 3.0                                              # the duplicate says "no object"
loss_quiet = DT.set_loss(quiet, boxes, gt_labels, gt_boxes)
print(f"unmatched queries that claim an object (duplicates): {dup}; if they said 'no object' "
      f"instead the loss would be {float(loss_quiet['total']):.3f} instead of "
      f"{float(loss['total']):.3f}")

# %% [markdown]
# The first two totals are equal (the order does not matter), the fixed pairing costs more,
# and silencing the duplicate lowers the loss (the last line): the gradient of the set loss
# pushes duplicates toward "no object".
#
# ### 7.3 Training a DETR: not within this lecture's budget
#
# The room has a small DETR-style detector (`dlcv.transformers.detr.TinyDETR`: lecture 13's
# frozen shapes encoder as the backbone, one learned positional encoding per cell, two decoder
# blocks, six object queries) and its training on the set loss above (`train_detr`; `detector`
# trains and caches one, `detection_summary` counts the objects found and the false alarms).
# We do not train it here: a useful DETR takes far more training than this lecture's whole
# budget of about a minute, so we showed the matching and the loss on given predictions
# instead. This is DETR's known weakness, not an accident of our scale: the original trains
# for 500 epochs on COCO, about ten times
# longer than a Faster R-CNN, because the matching changes from step to step early in training
# and each query must slowly specialise. Deformable DETR (Zhu et al., 2021) and the denoising
# queries of DN-DETR (Li et al., 2022) cut that by an order of magnitude. Training
# `detector(seed=0)` on your own machine, and measuring it with `detection_summary`, is the last
# exercise of this lecture.
#
# ## 8. Where this leads
#
# Lecture 15 (learning without labels) trains encoders without labels: contrastive learning
# matches two views of one image (InfoNCE), masked image modelling fills in hidden patches (how
# large ViTs are pre-trained, He et al.'s masked autoencoders), and CLIP matches images with
# their captions. Things this lecture left out: transformer language models
# (GPT: a stack of decoder blocks without cross-attention, trained to predict the next token),
# encoder-only models for text (BERT), hierarchical vision transformers (Swin), and the
# many-layered tricks of training large transformers (warm-up, weight decay, mixed precision).
#
# ## Check yourself
#
# **1.** Queries and keys have $d = 256$ independent entries of variance 1. What is the standard
# deviation of an unscaled score? What does this do to the softmax over 16 keys, and why does
# training suffer?
#
# <details><summary>Answer</summary>
#
# The score is a sum of 256 products of variance 1, so its variance is 256 and its standard
# deviation 16. Sixteen scores with a spread of 16 differ by tens: the softmax gives nearly all
# the weight to the largest, and its Jacobian $\mathrm{diag}(p) - pp^\top$ is nearly zero, so
# almost no gradient reaches $W_Q$ and $W_K$. Dividing by $\sqrt{256} = 16$ brings the spread
# back to 1.
# </details>
#
# **2.** A multi-head layer with $D = 512$ and 8 heads, and a single-head layer with $D = 512$:
# which has more parameters, and which computes more?
#
# <details><summary>Answer</summary>
#
# The same: both have four $512 \times 512$ projections, and the 8 heads of 64 features do
# the same matrix products cut into 8 groups. Only the score matrices multiply: 8 of them,
# each $n \times n$, against one. What the heads buy is 8 separate softmaxes: each query can
# take 8 different weighted averages, for example one looking at a neighbour and one at a
# distant token.
# </details>
#
# **3.** You remove the positional encodings from a trained ViT and shuffle the patches of a
# test image. What happens to its prediction? And for a CNN, if you shuffle the image's 2x2
# squares?
#
# <details><summary>Answer</summary>
#
# The ViT without positions gives exactly the same scores for the shuffled image as for the
# original (section 3.1): its blocks are permutation-equivariant and the class token reads all
# patches symmetrically. (A ViT *trained* with positions and then stripped of them would give
# other scores than with them, but again the same for every arrangement.) The CNN's prediction
# changes: its filters see local arrangements of pixels, which the shuffle destroys at the
# patch borders, and its fully connected layer reads positions.
# </details>
#
# **4.** Why does a decoder that generates captions need a causal mask in training but not when
# it generates?
#
# <details><summary>Answer</summary>
#
# In training the whole caption is fed at once (teacher forcing, lectures 12-13), and each position
# predicts the next word: without the mask, position $t$ could read word $t+1$, its own answer,
# and the model would learn to copy. When generating, the words after $t$ do not exist yet, so
# there is nothing to hide; the mask makes training see exactly what generation will see.
# </details>
#
# **5.** Why does pre-norm train deep stacks more easily than post-norm?
#
# <details><summary>Answer</summary>
#
# In a pre-norm block, $x \leftarrow x + f(\mathrm{LN}(x))$: the residual stream is a plain
# sum, so the gradient of the loss reaches every block through the identity without passing
# through any normalisation. In post-norm, every block's output goes through a layer norm, and
# the gradient through $L$ of them can be badly scaled at initialisation; post-norm transformers
# need a learning-rate warm-up to train at all (Xiong et al., 2020).
# </details>
#
# **6.** At what sequence length does self-attention's $4n^2d$ overtake its projections'
# $8nd^2$? What does that mean for a ViT on 224x224 images with 16x16 patches and $D = 768$?
#
# <details><summary>Answer</summary>
#
# When $4n^2d > 8nd^2$, that is $n > 2d$. With $D = 768$ the crossover is at 1,536 tokens; a
# 224x224 image gives 196 patches (plus the class token), so the projections and the MLPs
# dominate the cost, not the attention. The quadratic term matters for small patches, large
# images, long documents and video.
# </details>
#
# **7.** The CNN beat the ViT on 1,257 digits. Give two ways to help the ViT that do not add
# data, and say which assumption each puts back.
#
# <details><summary>Answer</summary>
#
# A convolutional stem (a few convolutions before the patches) builds locality and
# translation equivariance into the first layers. Augmentation with shifts and small rotations
# teaches the invariance from the data the model has. Distillation from a CNN teacher (DeiT)
# passes on the teacher's biases through its soft labels. Local attention windows (Swin)
# restrict attention to neighbours, which is the locality assumption again.
# </details>
#
# **8.** Why is the set loss unchanged when the predictions are listed in another order, and
# why is that the property a detector's loss needs?
#
# <details><summary>Answer</summary>
#
# The matching is computed from the predictions themselves: reordering them reorders the rows of
# the cost matrix, the least-cost assignment moves with them, and every matched pair and every
# unmatched query stays the same. A detector's output is a set of objects: there is no "first"
# object in an image, so a loss that depended on the order would punish correct answers given
# in another order.
# </details>
#
# **9.** A class-token attention map puts its largest weight on a patch of background. Can you
# conclude that the background matters for the decision?
#
# <details><summary>Answer</summary>
#
# No. In block 2 the value vector of a "background" patch has already mixed in information from
# other patches in block 1, so a large weight there may carry stroke information gathered
# elsewhere; the MLPs and the output head also transform what is read. An attention map shows
# where information is routed, not what caused the decision. To test it, remove or change that
# patch and see whether the score changes, as the deletion test of lecture 16 (understanding
# CNNs) does.
# </details>
#
# ## Summary
#
# * Attention reads a weighted average of values, with weights from a softmax over the
#   similarities of a query with the keys. Dot-product scores are divided by $\sqrt d$ because
#   their spread grows like $\sqrt d$ and a saturated softmax passes no gradient, as measured in
#   section 1.2.
# * Multi-head attention runs several attentions on slices of the projections at the cost of
#   one. Masks set forbidden scores to $-\infty$; the causal mask lets a decoder train on whole
#   sequences without seeing the future.
# * Self-attention is permutation-equivariant: without positional encodings (sinusoidal or
#   learned) a transformer sees a set. Sinusoidal encodings make offsets linear functions of
#   positions.
# * A transformer block is attention and a per-token MLP, each around a residual connection with
#   layer normalisation (pre-norm in current models); a decoder block adds cross-attention to an
#   encoder's memory. One layer connects all $n$ tokens, at a cost quadratic in $n$ in time and
#   memory.
# * The ViT classifies images as sequences of patch tokens with a class token and learned
#   positions. On our small data set it lost to a smaller CNN at equal budget: a ViT must learn
#   from data the locality and translation equivariance that a CNN has built in, and it wins
#   only with far more data or with those biases put back (augmentation, distillation, local
#   windows).
# * Attention maps and their rollout show where information is routed, coarsely and per head;
#   they are not explanations until tested.
# * A captioner needs no recurrence: decoder blocks with causal self-attention over the words
#   and cross-attention to the image's cells replace lecture 13's LSTM and its additive
#   attention, and teacher forcing then scores a whole caption in one pass.
# * DETR predicts a set of (class, box) pairs from object queries and trains it with a loss on
#   the Hungarian matching of predictions to objects: order-free, and punishing duplicates, so
#   no anchors and no NMS; but it trains slowly.
#
# ## Papers
#
# * D. Bahdanau, K. Cho, Y. Bengio, *Neural machine translation by jointly learning to align and
#   translate*, ICLR 2015 (additive attention).
# * M.-T. Luong, H. Pham, C. Manning, *Effective approaches to attention-based neural machine
#   translation*, EMNLP 2015 (dot-product attention).
# * A. Vaswani, N. Shazeer, N. Parmar, J. Uszkoreit, L. Jones, A. Gomez, Ł. Kaiser,
#   I. Polosukhin, *Attention is all you need*, NeurIPS 2017 (the transformer, scaled
#   dot-product and multi-head attention, sinusoidal encodings).
# * J. L. Ba, J. R. Kiros, G. Hinton, *Layer normalization*, arXiv 2016.
# * R. Xiong et al., *On layer normalization in the transformer architecture*, ICML 2020
#   (pre-norm against post-norm).
# * P. Shaw, J. Uszkoreit, A. Vaswani, *Self-attention with relative position representations*,
#   NAACL 2018; J. Su et al., *RoFormer: enhanced transformer with rotary position embedding*,
#   arXiv 2021.
# * J. Devlin, M.-W. Chang, K. Lee, K. Toutanova, *BERT: pre-training of deep bidirectional
#   transformers for language understanding*, NAACL 2019 (the [CLS] token, learned positions).
# * A. Dosovitskiy et al., *An image is worth 16x16 words: transformers for image recognition at
#   scale*, ICLR 2021 (the Vision Transformer).
# * H. Touvron, M. Cord, M. Douze, F. Massa, A. Sablayrolles, H. Jégou, *Training data-efficient
#   image transformers & distillation through attention*, ICML 2021 (DeiT).
# * Z. Liu et al., *Swin Transformer: hierarchical vision transformer using shifted windows*,
#   ICCV 2021.
# * S. Abnar, W. Zuidema, *Quantifying attention flow in transformers*, ACL 2020 (attention
#   rollout).
# * K. Xu et al., *Show, attend and tell: neural image caption generation with visual
#   attention*, ICML 2015 (lecture 13's captioner, which section 6 rebuilds with attention only).
# * K. He, X. Chen, S. Xie, Y. Li, P. Dollár, R. Girshick, *Masked autoencoders are scalable
#   vision learners*, CVPR 2022.
# * S. Jain, B. Wallace, *Attention is not explanation*, NAACL 2019.
# * T. Dao, D. Fu, S. Ermon, A. Rudra, C. Ré, *FlashAttention: fast and memory-efficient exact
#   attention with IO-awareness*, NeurIPS 2022.
# * N. Carion, F. Massa, G. Synnaeve, N. Usunier, A. Kirillov, S. Zagoruyko, *End-to-end object
#   detection with transformers*, ECCV 2020 (DETR).
# * H. Kuhn, *The Hungarian method for the assignment problem*, Naval Research Logistics
#   Quarterly 1955.
# * H. Rezatofighi, N. Tsoi, J. Gwak, A. Sadeghian, I. Reid, S. Savarese, *Generalized
#   intersection over union: a metric and a loss for bounding box regression*, CVPR 2019.
# * X. Zhu, W. Su, L. Lu, B. Li, X. Wang, J. Dai, *Deformable DETR: deformable transformers for
#   end-to-end object detection*, ICLR 2021; F. Li et al., *DN-DETR: accelerate DETR training by
#   introducing query denoising*, CVPR 2022.

# %%
print(f"whole notebook: {time.perf_counter() - t_start:.0f} s")
