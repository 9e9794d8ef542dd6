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
# # Lecture 17 — Generative models
#
# Every network so far has been a function from an image to something smaller: a class, a box,
# a mask, a caption. This chapter turns the arrow around. A **generative model** learns the
# distribution $p(x)$ of the images themselves, so that it can *draw new ones*: faces of people
# who do not exist, a photograph's missing corner, a texture that continues forever, an image
# from a sentence. Learning $p(x)$ is also learning what images are like without any labels,
# and the representations it produces (the latent codes of section 3) are useful for
# everything else. The difficulty is that $x$ is high-dimensional and its distribution is
# concentrated on a thin, curved set: almost every array of pixels is noise, and a model must
# put its probability on the tiny part that looks like images.
#
# Four answers have shaped the field, and we build each one small enough to train in seconds:
# the **variational autoencoder** (a latent variable model trained by a lower bound on the
# likelihood), the **generative adversarial network** (a generator trained against a
# classifier that tells its samples from real ones), the **diffusion model** (a network that
# learns to undo noise, one small step at a time, today's state of the art), and, in a
# different spirit, **neural style transfer**, which generates one image by matching the
# statistics of a network's features.
#
# **After this lecture you can**
#
# 1. explain why a plain autoencoder is not a generator, write the evidence lower bound (ELBO)
#    of a VAE, compute its Gaussian KL term in closed form, and say what the
#    reparameterisation trick does for the gradient;
# 2. read a VAE's 2-D latent space: decode a grid of it, place the encoded test set on it, and
#    explain why the VAE's latent space can be sampled and the autoencoder's cannot;
# 3. write the GAN minimax game and the non-saturating generator loss, show why the minimax
#    loss gives the generator no gradient when the discriminator wins, and recognise mode
#    collapse by counting the modes a generator covers;
# 4. describe the architecture guidelines of DCGAN;
# 5. derive DDPM's forward process $q(x_t \mid x_0)$ in closed form, its reverse posterior, the
#    noise-prediction loss and the ancestral sampler, and sample in fewer steps with DDIM;
# 6. judge generated samples with a reference classifier and say what that measure misses;
# 7. transfer the style of one photograph onto another by matching Gram matrices, and say what
#    random (untrained) features can and cannot do here.
#
# **Plan.** Judging samples → autoencoders → the VAE (with a latent-space widget) → GANs:
# saturation, mode collapse, DCGAN → diffusion: forward process, noise prediction, sampling
# (with a stepper widget), fewer steps → the three models side by side → style transfer →
# questions, summary, papers.
#
# **Data.** The 8x8 digits (1797 of them, 64 pixels each). They are small enough that a VAE, a
# GAN and a diffusion model each train in a few seconds on one CPU thread, and large enough that
# a sample is recognisably a digit or not. Upsampling them would not add information, only
# cost, and the shapes scenes, drawn by a program from a few parameters, are too easy to be a
# test of a generative model. Style transfer needs real photographs: it uses skimage's cat and
# a stained tissue slide. Every number here is that of a toy problem; what carries over to real
# ones is the behaviour.

# %%
# %matplotlib inline
import time

import matplotlib.pyplot as plt
import numpy as np
import torch

from dlcv.data import load_photo
from dlcv.generative import autoencoders as AE
from dlcv.generative import diffusion as DF
from dlcv.generative import gans as GN
from dlcv.generative import reference as REF
from dlcv.generative import style as ST
from dlcv.generative.widgets import DiffusionStepperView, LatentExplorerView
from dlcv.timing import cap_threads

plt.rcParams.update({"figure.figsize": (9, 3.2), "figure.dpi": 90, "font.size": 10})
np.set_printoptions(precision=3, suppress=True, linewidth=110)
cap_threads()  # one BLAS and torch thread: as fast here, far faster on a busy machine
rng = np.random.default_rng(0)
_ = torch.manual_seed(0)
t_start = time.perf_counter()

X01, y_all = REF.digit_images("unit")          # (1797, 1, 8, 8) in [0, 1], always the digits
order = REF.split_order(0)
train_idx, test_idx = order[:REF.NUM_TRAIN], order[REF.NUM_TRAIN:]
X_train, X_test, y_test = X01[train_idx], X01[test_idx], y_all[test_idx]
print(f"generative models train on {len(train_idx)} digits; {len(test_idx)} are held out")


def show_grid(ax, images, ncols, title=None, vmin=0.0, vmax=1.0):
    """Draw (n, 8, 8) or (n, 64) images as one mosaic of ncols columns."""
    imgs = (np.asarray(images).reshape(-1, 8, 8) - vmin) / (vmax - vmin)
    rows = len(imgs) // ncols
    ax.imshow(AE.mosaic(imgs[:rows * ncols].reshape(rows, ncols, 8, 8), pad=1, fill=0.35),
              cmap="gray_r", vmin=0, vmax=1)
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=10)


# %% [markdown]
# ## 1. What a generative model is, and how to judge its samples
#
# A generative model is a distribution $p_\theta(x)$ over images that we can **sample** from,
# and sometimes also **evaluate**. The families of this chapter differ in which of the two they
# give:
#
# | family | sample | evaluate $p_\theta(x)$ | trained by |
# |---|---|---|---|
# | VAE | yes, one decoder pass | a lower bound | maximising the ELBO |
# | GAN | yes, one generator pass | no (implicit model) | a game against a discriminator |
# | diffusion | yes, many denoiser passes | a lower bound | denoising (a reweighted ELBO) |
#
# (Autoregressive models such as PixelCNN and normalising flows give exact likelihoods; they
# are in the reading list.)
#
# How do we know whether samples are good? A likelihood on held-out data measures how much
# probability the model puts on real images, but a GAN has none, and a good likelihood does not
# guarantee good-looking samples (Theis, van den Oord & Bethge 2016). The field's usual answer
# is to ask a network trained on real images: the **Inception score** (Salimans et al. 2016)
# rewards samples that a classifier labels confidently *and* whose labels are spread over all
# classes; the **Fréchet Inception distance** (Heusel et al. 2017) compares the statistics of
# the features of samples and real images. We use the simplest version of the first idea: a
# **reference classifier** trained on real digits, and two numbers for a batch of samples, the
# share that it labels with confidence $\ge 0.9$, and the histogram of its labels (a generator
# that draws only ones gets a perfect first number and a histogram with one bar).
#
# A classifier trained only on digits has never seen anything else and may be confident on
# noise. So the reference classifier is also shown non-digits (uniform noise, and digits whose
# pixels are shuffled) with the uniform distribution as their target, "outlier exposure"
# (Hendrycks, Mazeika & Dietterich 2019). The cell prints how it scores real held-out digits,
# which is the best a generator can hope for, and noise, which is the worst.

# %%
t0 = time.perf_counter()
ref = REF.reference_classifier(seed=0)
print(f"reference classifier trained in {time.perf_counter() - t0:.1f} s: accuracy on the "
      f"{len(test_idx)} held-out digits {ref.test_accuracy:.3f}")
real_score = REF.score_samples(X_test, ref)
noise_score = REF.score_samples(rng.random((500, 64)), ref)
print(f"held-out real digits: {real_score}")
print(f"uniform noise:        {noise_score}")
mixed = 0.5 * (X_test[:200] + X_test[1:201])  # two digits averaged pixel by pixel
print(f"averages of two real digits: {REF.score_samples(mixed, ref)}")

# %% [markdown]
# The line for held-out real digits is the ceiling of our measure (real digits do not all reach
# 0.9 either), the line for noise its floor. The last line is a warning: the classifier is
# confident on a good share of images that are two digits on top of each other (the pairs are
# neighbours in a shuffled list, so a few are two images of the same class). The measure is a floor on quality,
# a test that a sample looks enough like one digit, not a proof that it is a good digit. We will
# look at the samples as well as count them.
#
# ## 2. Autoencoders
#
# An **autoencoder** is a pair of networks: an encoder $z = e_\phi(x)$ that maps an image to a
# short code (here $d = 2$ numbers for 64 pixels) and a decoder $\hat x = g_\theta(z)$ that maps
# the code back. Trained to reconstruct its input,
#
# $$ \min_{\phi, \theta} \; \sum_i \ell\big(x_i,\, g_\theta(e_\phi(x_i))\big), $$
#
# it must squeeze what matters about the image through the bottleneck. With a linear encoder
# and decoder and the squared error, the optimum spans the same subspace as PCA's first $d$
# components; non-linear networks can follow a curved set. Our pixels are grey levels in
# $[0, 1]$, read as the probabilities of Bernoulli pixels: the decoder outputs logits and $\ell$
# is the binary cross-entropy summed over the 64 pixels, in nats (a negative log-likelihood).
# Both networks are MLPs, 64 → 256 → 128 → 2 and back.

# %%
STEPS_AE = 1200
t0 = time.perf_counter()
ae = AE.fit_autoencoder(X_train, variational=False, latent_dim=2, steps=STEPS_AE, seed=0)
print(f"autoencoder (2-D code) trained for {STEPS_AE} steps in {time.perf_counter() - t0:.1f} s")
with torch.no_grad():
    xt = torch.as_tensor(X_test)
    ae_rec = AE.reconstruction_nll(ae.model.decode(ae.model.encode(xt)[0]), xt).mean().item()
print(f"autoencoder: reconstruction NLL on held-out digits {ae_rec:.1f} nats per image")

codes = AE.encode_mean(ae.model, X_train)                  # (1500, 2)
print(f"its codes of the training digits: mean {codes.mean(0)}, std {codes.std(0)}")
z_prior = rng.standard_normal((500, 2))                    # what a "sample" would start from
ae_samples = AE.decode(ae.model, z_prior)                  # (500, 8, 8)
ae_score = REF.score_samples(ae_samples, ref)
print(f"autoencoder decoding z ~ N(0, I): {ae_score}")

# %% [markdown]
# The reconstructions are good (we will compare their NLL with the VAE's below), but look at
# the codes: their mean and spread printed above are whatever the training made them, nothing
# ties them to any particular region. To *generate*, we need a distribution of $z$ to draw
# from; if we draw from $\mathcal N(0, I)$ we cover only the part of the code space that
# happens to lie there, and the class histogram on the last line, very uneven, shows which
# digits live elsewhere. Worse, nothing makes the decoder sensible *between* codes of training
# images: the autoencoder was never asked to decode anything else. A generative model needs a
# latent space that is filled, and a known distribution on it.
#
# ## 3. The variational autoencoder
#
# ### 3.1 A latent variable model and its lower bound
#
# The VAE (Kingma & Welling 2014; Rezende, Mohamed & Wierstra 2014) starts from a model of how
# an image is made: draw a code $z \sim p(z) = \mathcal N(0, I)$, then an image
# $x \sim p_\theta(x \mid z)$ from the decoder. The likelihood of an image, $p_\theta(x) = \int
# p_\theta(x \mid z) p(z)\, dz$, is an integral over all codes that no one can compute. The
# VAE brings in an **encoder** $q_\phi(z \mid x) = \mathcal N(\mu_\phi(x),
# \mathrm{diag}\,\sigma^2_\phi(x))$, a guess of which codes could have made $x$, and writes
#
# $$ \log p_\theta(x) = \underbrace{\mathbb E_{z \sim q_\phi(z|x)}\big[\log p_\theta(x \mid
# z)\big] - \mathrm{KL}\big(q_\phi(z \mid x)\,\|\,p(z)\big)}_{\text{ELBO}(x)} +
# \mathrm{KL}\big(q_\phi(z \mid x)\,\|\,p_\theta(z \mid x)\big). $$
#
# The last term is $\ge 0$, so the ELBO (evidence lower bound) is below the log-likelihood,
# with equality when the encoder guesses the true posterior. Maximising the ELBO over $\theta$
# and $\phi$ together pushes the likelihood up and the guess towards the truth. Its two terms
# read like an autoencoder with a regulariser: **reconstruct** $x$ from codes drawn from the
# encoder, and keep each image's code distribution **close to the prior**, so that the codes of
# all images together fill $\mathcal N(0, I)$ and a draw from the prior lands where the decoder
# was trained.
#
# For two diagonal Gaussians the KL term has a closed form, per latent dimension $j$:
#
# $$ \mathrm{KL}\big(\mathcal N(\mu, \sigma^2) \,\|\, \mathcal N(0, 1)\big) = \tfrac12 \big(
# \mu^2 + \sigma^2 - \log \sigma^2 - 1\big). $$
#
# *Worked example.* $\mu = (1, 0)$, $\sigma^2 = (1, e^{-1})$: the first dimension gives
# $\tfrac12(1 + 1 - 0 - 1) = 0.5$, the second $\tfrac12(0 + e^{-1} + 1 - 1) = e^{-1}/2 \approx
# 0.184$, in all $\approx 0.684$ nats. The code checks this against torch's own KL of the two
# distributions.

# %%
mu = torch.tensor([[1.0, 0.0]])
logvar = torch.tensor([[0.0, -1.0]])
kl_closed = AE.gaussian_kl(mu, logvar).item()
q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
kl_torch = torch.distributions.kl_divergence(q, torch.distributions.Normal(0.0, 1.0)).sum().item()
print(f"closed-form KL {kl_closed:.4f} nats, torch.distributions {kl_torch:.4f}, by hand "
      f"{0.5 + np.exp(-1) / 2:.4f}")

# %% [markdown]
# ### 3.2 The reparameterisation trick
#
# The reconstruction term is an expectation over $z \sim q_\phi(z \mid x)$, estimated with one
# draw per image. But the gradient with respect to $\phi$ cannot pass through "draw a random
# number". The trick is to draw the randomness *outside* the network:
#
# $$ z = \mu_\phi(x) + \sigma_\phi(x) \odot \varepsilon, \qquad \varepsilon \sim \mathcal N(0,
# I), $$
#
# which has the same distribution, and is a differentiable function of $\mu$ and $\sigma$ for
# a fixed $\varepsilon$: $\partial z / \partial \mu = 1$, $\partial z / \partial \sigma =
# \varepsilon$. The gradient of the one-sample estimate is then an unbiased estimate of the
# gradient of the expectation, and far less noisy than the score-function (REINFORCE)
# estimator, which does not need the trick but multiplies the loss by $\nabla \log q$. The
# encoder outputs $\log \sigma^2$ rather than $\sigma$ so that any real number is allowed.
#
# The loss we minimise is the negative ELBO, mean over a batch:
# `negative_elbo` = reconstruction NLL + KL, trained with the same MLPs as the autoencoder, the
# encoder now with four outputs ($\mu$ and $\log\sigma^2$ in 2-D).

# %%
t0 = time.perf_counter()
vae = AE.fit_autoencoder(X_train, variational=True, latent_dim=2, steps=STEPS_AE, seed=0)
print(f"VAE (2-D latent) trained for {STEPS_AE} steps in {time.perf_counter() - t0:.1f} s")
with torch.no_grad():
    eps = torch.randn(len(xt), 2, generator=torch.Generator().manual_seed(1))
    terms = AE.negative_elbo(vae.model, xt, eps)
    vae_rec_mean = AE.reconstruction_nll(vae.model.decode(vae.model.encode(xt)[0]), xt).mean()
print(f"VAE on held-out digits: negative ELBO {terms.loss:.1f} = reconstruction "
      f"{terms.reconstruction:.1f} + KL {terms.kl:.1f} nats per image")
print(f"reconstruction NLL from the posterior mean: VAE {vae_rec_mean:.1f}, autoencoder "
      f"{ae_rec:.1f} nats per image "
      f"({'the autoencoder reconstructs better' if ae_rec < vae_rec_mean else 'the VAE reconstructs at least as well'})")
vae_codes = AE.encode_mean(vae.model, X_train)
print(f"VAE posterior means of the training digits: mean {vae_codes.mean(0)}, std "
      f"{vae_codes.std(0)}")
vae_samples = AE.decode(vae.model, z_prior)                # the same 500 draws as before
vae_score = REF.score_samples(vae_samples, ref)
print(f"VAE decoding z ~ N(0, I):         {vae_score}")
print(f"autoencoder decoding z ~ N(0, I): {ae_score}")

fig, axes = plt.subplots(1, 4, figsize=(12, 3.3))
show_grid(axes[0], X_test[:36], 6, "held-out digits")
with torch.no_grad():
    rec_ae = torch.sigmoid(ae.model.decode(ae.model.encode(xt[:36])[0])).numpy()
    rec_vae = torch.sigmoid(vae.model.decode(vae.model.encode(xt[:36])[0])).numpy()
show_grid(axes[1], rec_ae, 6, "autoencoder reconstructions")
show_grid(axes[2], rec_vae, 6, "VAE reconstructions (from $\\mu$)")
show_grid(axes[3], vae_samples[:36], 6, "VAE samples, $z \\sim N(0, I)$")
fig.tight_layout()
plt.show()

# %% [markdown]
# Read the printed lines top to bottom. The KL term is the price of a filled latent space: it
# keeps codes close to the prior and blurs them by $\sigma$, so two digits cannot be pushed
# arbitrarily far apart, and in principle the VAE reconstructs worse than a plain autoencoder.
# The line comparing the two reconstruction NLLs says whether it does here, and by how much:
# with a 2-D bottleneck both are limited far more by the two numbers than by the KL term. The
# gain is in the next lines: the VAE's codes have mean near 0 and spread near 1, as the prior
# asks, and decoding the *same* 500 prior draws gives samples whose class histogram is far more
# even than the autoencoder's. The samples in the right panel are recognisable but
# blurry: with a 2-D latent, one point of the plane must stand for every way of writing a
# digit, and the Bernoulli decoder reports the average of the pixels it is unsure of. A larger
# latent helps in general; blur is the VAE's well-known weakness, and one reason GANs took over.
#
# ### 3.3 The latent space
#
# A 2-D latent can be *looked at*. The explorer below decodes a grid over the plane (left),
# places the encoded held-out digits on it by their posterior means, coloured by class (middle),
# and decodes the point $(z_1, z_2)$ of the sliders live (right). Walk from one cluster to the
# next: the decoded image changes smoothly, through shapes that are between two digits, because
# the KL term packed the classes side by side with no gaps. Where two clusters touch, the
# middle panel shows which digits the VAE found alike (are they the ones people confuse in
# handwriting?). Go to a corner of the plane, far from every code: the prior puts little mass
# there, the decoder was trained on few codes there, and it simply continues the nearest
# class.

# %%
latent_view = LatentExplorerView(vae.model, X_test, y_test, lims=(-2.5, 2.5), n=12,
                                 z1=0.0, z2=0.0)
latent_view

# %% [markdown]
# ## 4. Generative adversarial networks
#
# ### 4.1 The game
#
# A GAN (Goodfellow et al. 2014) gives up on the likelihood altogether. A **generator**
# $G_\theta$ maps noise $z \sim p(z)$ to a sample $G(z)$; a **discriminator** $D_\psi$ outputs
# the probability that its input is real. They play
#
# $$ \min_\theta \max_\psi \; V(D, G) = \mathbb E_{x \sim p_\text{data}}\big[\log D(x)\big] +
# \mathbb E_{z \sim p(z)}\big[\log\big(1 - D(G(z))\big)\big]. $$
#
# $D$ maximises the log-likelihood of a binary classifier (real = 1, generated = 0). For a
# fixed $G$ whose samples have density $p_g$, the best discriminator is $D^*(x) =
# p_\text{data}(x) / (p_\text{data}(x) + p_g(x))$, and with it $V = 2\,\mathrm{JS}(p_\text{data}
# \| p_g) - \log 4$: the generator minimises the Jensen-Shannon divergence to the data, whose
# minimum is at $p_g = p_\text{data}$, where $D^* = 1/2$ everywhere. In practice both are
# networks and they take turns: one step of $D$, one step of $G$.
#
# ### 4.2 Why the minimax generator loss saturates
#
# Write $a$ for the discriminator's logit on a generated sample, $D = \sigma(a)$. The game's
# generator loss is $\log(1 - \sigma(a))$, and its derivative is
#
# $$ \frac{\partial}{\partial a} \log\big(1 - \sigma(a)\big) = -\sigma(a) = -D(G(z)). $$
#
# Early in training the generator is poor, the discriminator rejects its samples with
# confidence, $D(G(z)) \to 0$, and so does the gradient: the generator learns nothing exactly
# when it has most to learn. Goodfellow et al. proposed instead to *maximise* $\log D(G(z))$,
# that is, to minimise the **non-saturating** loss $-\log \sigma(a)$, whose derivative is
# $\sigma(a) - 1 \to -1$ there. Both losses have the same fixed point (the generator wants $D$
# fooled); they differ in where they push hardest. The first table is the closed form; the
# second is measured: a generator at initialisation, a discriminator trained alone against it
# for a few hundred steps, and the norm of the gradient with respect to all the generator's
# weights under each loss.

# %%
print("D(G(z))   d/da minimax   d/da non-saturating")
for d in (0.5, 0.1, 0.01, 0.001):
    a = np.log(d / (1 - d))
    print(f"{d:7.3f}   {GN.generator_logit_gradient(a, 'minimax'):12.4f}   "
          f"{GN.generator_logit_gradient(a, 'non-saturating'):19.4f}")

RING_STD = 0.02
centres = GN.ring_centres(8, 2.0)


def ring(n, g):
    return GN.ring_of_gaussians(n, g, modes=8, radius=2.0, std=RING_STD)


G0, D0 = GN.MLPGenerator(noise_dim=8, seed=0), GN.MLPDiscriminator(seed=1)
z_probe = torch.randn(512, 8, generator=torch.Generator().manual_seed(3))
before = GN.generator_gradient_norms(G0, D0, z_probe)
d_log = GN.train_discriminator(D0, G0, ring, steps=300)
after = GN.generator_gradient_norms(G0, D0, z_probe)
for name, r in (("untrained D", before), ("D trained 300 steps", after)):
    print(f"{name:20s}: mean D(G(z)) {r['D(G(z))']:.4f}; gradient norm, minimax "
          f"{r['minimax']:.4f}, non-saturating {r['non-saturating']:.4f}")
print(f"once D wins, the non-saturating gradient is "
      f"{after['non-saturating'] / after['minimax']:.0f} times the minimax one")

# %% [markdown]
# Against an untrained discriminator ($D \approx 1/2$) the two losses give gradients of the
# same size; against a discriminator that wins, the minimax gradient has all but vanished and
# the non-saturating one has grown, by the factor printed last. Every GAN below uses the
# non-saturating loss.
#
# ### 4.3 Mode collapse, on a run
#
# The generator is rewarded for samples that the *current* discriminator believes. Nothing
# asks it to cover every part of the data: if it finds one region that fools $D$, it may put
# all its samples there; $D$ then learns to reject that region, and the generator moves to
# another. This is **mode collapse**, and it is easiest to see on data whose modes we know: a
# mixture of 8 Gaussians on a circle of radius 2, each of standard deviation 0.02. A sample
# *belongs* to a mode when it lies within 3 standard deviations of its centre, and a mode is
# **covered** when at least 2% of the samples belong to it (a fair share is 12.5%). We train a
# small MLP GAN (noise of 8 dimensions, two hidden layers of 128 for both networks, Adam with
# learning rate 2e-3 and $\beta_1 = 0.5$, batches of 64) and look at 1000 samples from fixed
# noise every 500 steps. Whether and how much a GAN collapses depends on these settings and on
# the seed: the run below is one run, not a law.

# %%
STEPS_RING = 2000
t0 = time.perf_counter()
G_ring, D_ring = GN.MLPGenerator(noise_dim=8, seed=0), GN.MLPDiscriminator(seed=1)
ring_run = GN.train_gan(G_ring, D_ring, ring, steps=STEPS_RING, batch_size=64, lr=2e-3,
                        kind="non-saturating", snapshot_every=500)
print(f"ring GAN: {STEPS_RING} steps in {time.perf_counter() - t0:.1f} s")
truth = GN.mode_coverage(ring(1000, torch.Generator().manual_seed(9)).numpy(), centres, RING_STD)
print(f"1000 true samples cover {truth.covered} of 8 modes, {100 * truth.high_quality:.0f}% "
      f"within 3 std of a centre")
print("step   modes covered   samples per mode              share near a centre")
for step, pts in ring_run.snapshots.items():
    cov = GN.mode_coverage(pts, centres, RING_STD)
    print(f"{step:4d}   {cov.covered:13d}   {str(cov.counts):28s}  {100 * cov.high_quality:5.1f}%")
final = GN.mode_coverage(ring_run.snapshots[STEPS_RING], centres, RING_STD)
fair = len(ring_run.snapshots[STEPS_RING]) / 8
starved = np.flatnonzero(final.counts < 0.25 * fair)
print(f"at step {STEPS_RING} the GAN covers {final.covered} of 8 modes; {len(starved)} modes "
      f"({', '.join(map(str, starved))}) get less than a quarter of their fair share of "
      f"{fair:.0f} samples, while the fullest gets {final.counts.max()}")

fig, axes = plt.subplots(1, 4, figsize=(12, 3.2))
shown = [500, 1000, 1500, STEPS_RING]
for ax, step in zip(axes, shown, strict=True):
    pts = ring_run.snapshots[step]
    ax.scatter(*pts.T, s=3, alpha=0.4, color="C0")
    ax.scatter(*centres.T, marker="x", color="k", s=40)
    ax.set_xlim(-3, 3)
    ax.set_ylim(-3, 3)
    ax.set_aspect("equal")
    ax.set_title(f"step {step}: {GN.mode_coverage(pts, centres, RING_STD).covered} of 8 covered",
                 fontsize=10)
fig.tight_layout()
plt.show()

# %% [markdown]
# The crosses are the 8 centres, the dots the generator's samples from the same fixed noise at
# four moments. The printed table is the measurement: how many modes are covered at each
# snapshot, how the samples are shared between them (modes numbered anticlockwise from the
# right), and, in the last column, how many samples land near any centre at all. Compare the
# final line with the true samples' line above it. The figure shows the generator first
# finding the ring, then gathering its samples towards the centres, while many still lie on
# the arcs between them (the last column); but it gathers them on some centres and not others:
# the last printed line names the modes that are starved. This is
# partial collapse, often called mode dropping: the generator is rewarded for samples that
# fool the discriminator, and a mode that it already serves well pays as much as a mode it has
# not found. A run this short cannot prove that the starved modes would never fill; what it
# shows is that the objective does not pull the generator towards them, whereas a likelihood
# does (a model that puts no probability on one eighth of the training data has a likelihood of
# zero). Remedies include minibatch discrimination (Salimans et al. 2016), which lets
# $D$ see a whole batch and notice a lack of variety, unrolled GANs (Metz et al. 2017), and
# the Wasserstein loss (Arjovsky et al. 2017); likelihood-based models, such as the VAE and
# diffusion, are pushed to put probability on every training example, and collapse far less.
#
# ### 4.4 DCGAN: a convolutional GAN for images
#
# Early GANs on images were hard to train. Radford, Metz & Chintala (2016) found a set of
# rules that made convolutional GANs train reliably, the **DCGAN** guidelines: no pooling
# (strided convolutions in $D$, transposed convolutions, lecture 11, in $G$ to upsample);
# BatchNorm in both networks (not on $G$'s output nor $D$'s input); no fully connected hidden
# layers; ReLU in $G$ with a tanh output; LeakyReLU (slope 0.2) in $D$; Adam with $\beta_1 =
# 0.5$. Our pair, scaled to 8x8: $G$ projects 16 noise numbers to a $64 \times 2 \times 2$
# map, and two transposed convolutions (4x4, stride 2) double it to 4x4 and 8x8; $D$ mirrors
# it with two strided convolutions and one linear layer. Images are scaled to $[-1, 1]$, the
# range of tanh.

# %%
X_sym = 2 * X_train - 1                                    # (1500, 1, 8, 8) in [-1, 1]
Xs_t = torch.as_tensor(X_sym)


def real_digits(n, g):
    return Xs_t[torch.randint(0, len(Xs_t), (n,), generator=g)]


STEPS_DC = 450
t0 = time.perf_counter()
G_dc, D_dc = GN.DCGenerator(noise_dim=16, width=16, seed=0), GN.DCDiscriminator(width=16, seed=1)
dc_run = GN.train_gan(G_dc, D_dc, real_digits, steps=STEPS_DC, batch_size=64, lr=1e-3,
                      snapshot_every=150, snapshot_n=500)
print(f"DCGAN: {STEPS_DC} steps in {time.perf_counter() - t0:.1f} s")
for step, imgs in dc_run.snapshots.items():
    print(f"step {step:4d}: {REF.score_samples((imgs + 1) / 2, ref)}")
gan_samples = (dc_run.snapshots[STEPS_DC] + 1) / 2        # (500, 1, 8, 8) in [0, 1]
gan_score = REF.score_samples(gan_samples, ref)

fig, axes = plt.subplots(1, 4, figsize=(12, 3.3))
for ax, step in zip(axes, [0, 150, 300, STEPS_DC], strict=True):
    show_grid(ax, (dc_run.snapshots[step][:36] + 1) / 2, 6, f"DCGAN samples, step {step}")
fig.tight_layout()
plt.show()

# %% [markdown]
# At step 0 the generator draws nearly the same grey, noisy patch for every $z$ (the printed
# histogram has one or two bars). Read the printed lines downwards: the share of confident samples rises, and
# the histogram spreads over the classes. The final samples are sharper than the VAE's, the
# GAN's hallmark, since nothing in its loss averages pixels; look in the last panel for the
# failures too (strokes that belong to no digit, a few near-duplicates). Two GAN losses printed
# in a training log mean little on their own: they measure the two players against each other,
# not the samples against the data.
#
# ## 5. Diffusion models
#
# ### 5.1 The forward process destroys an image in closed form
#
# A **denoising diffusion probabilistic model** (DDPM; Sohl-Dickstein et al. 2015, Ho, Jain &
# Abbeel 2020) fixes a *forward process* that adds a little Gaussian noise at each of $T$ steps,
#
# $$ q(x_t \mid x_{t-1}) = \mathcal N\big(\sqrt{1 - \beta_t}\, x_{t-1},\; \beta_t I\big), \qquad
# t = 1, \dots, T, $$
#
# with a schedule $\beta_1 < \dots < \beta_T$ (here linear, $T = 100$ steps, from $10^{-3}$ to
# $0.2$: Ho et al.'s $10^{-4}$ to $0.02$ over 1000 steps, scaled by 10 for ten times fewer
# steps). Write $\alpha_t = 1 - \beta_t$ and $\bar\alpha_t = \prod_{s \le t} \alpha_s$.
# Composing Gaussians gives every step in one jump:
#
# $$ q(x_t \mid x_0) = \mathcal N\big(\sqrt{\bar\alpha_t}\, x_0,\; (1 - \bar\alpha_t) I\big),
# \qquad x_t = \sqrt{\bar\alpha_t}\, x_0 + \sqrt{1 - \bar\alpha_t}\, \varepsilon, \;
# \varepsilon \sim \mathcal N(0, I). $$
#
# (By induction: if $x_{t-1} = \sqrt{\bar\alpha_{t-1}} x_0 + \sqrt{1 - \bar\alpha_{t-1}}\,
# \varepsilon'$, then $x_t = \sqrt{\alpha_t}\, x_{t-1} + \sqrt{\beta_t}\, \varepsilon''$ has
# mean $\sqrt{\bar\alpha_t} x_0$ and variance $\alpha_t (1 - \bar\alpha_{t-1}) + \beta_t = 1 -
# \bar\alpha_t$.) As $\bar\alpha_T \approx 0$, $x_T$ is pure noise whatever the image. The
# cell checks the closed form against running the 100 small steps one after the other, on
# 20000 copies of one digit.

# %%
T = 100
sched = DF.linear_schedule(T)
print(f"T = {T}: beta from {sched.betas[0]:.4f} to {sched.betas[-1]:.4f}; alpha_bar_T = "
      f"{sched.alpha_bars[-1]:.2e}")
x0 = torch.as_tensor(X_sym[0].reshape(1, 64)).double()
g = torch.Generator().manual_seed(0)
xs = x0.repeat(20000, 1)
check_t = (10, 50)
for t in range(1, max(check_t) + 1):
    xs = sched.alphas[t - 1].sqrt() * xs + sched.betas[t - 1].sqrt() * torch.randn(
        xs.shape, generator=g, dtype=torch.float64)
    if t in check_t:
        m_err = (xs.mean(0) - sched.abar(t).sqrt() * x0[0]).abs().max().item()
        v_emp, v_form = xs.var(0).mean().item(), 1 - sched.abar(t).item()
        print(f"t = {t}: step by step, the mean differs from sqrt(abar_t) x0 by at most "
              f"{m_err:.4f}; variance {v_emp:.4f} against 1 - abar_t = {v_form:.4f}")

shown_t = [0, 5, 10, 20, 35, 50, 75, 100]
fig, axes = plt.subplots(1, len(shown_t), figsize=(12, 1.9))
eps1 = torch.randn(1, 64, generator=torch.Generator().manual_seed(2))
for ax, t in zip(axes, shown_t, strict=True):
    img = x0.float() if t == 0 else DF.q_sample(x0.float(), t, eps1, sched)
    ax.imshow(img.reshape(8, 8), cmap="gray_r", vmin=-1.5, vmax=1.5)
    ax.set_title(f"t = {t}", fontsize=9)
    ax.axis("off")
fig.tight_layout()
plt.show()

# %% [markdown]
# The printed means and variances agree with the closed form up to the sampling error of 20000
# draws. In the figure the digit (a 0) is still visible around $t = 20$ and gone by $t = 50$.
#
# ### 5.2 Learning to reverse it: noise prediction
#
# If we could sample $q(x_{t-1} \mid x_t)$ we could run the process backwards from pure noise
# to an image. That distribution depends on all the data, but *given* $x_0$ it is a Gaussian
# we can write down (Ho et al., eq. 6-7):
#
# $$ q(x_{t-1} \mid x_t, x_0) = \mathcal N\big(\tilde\mu_t, \tilde\beta_t I\big), \quad
# \tilde\mu_t = \frac{\sqrt{\bar\alpha_{t-1}}\, \beta_t}{1 - \bar\alpha_t}\, x_0 +
# \frac{\sqrt{\alpha_t}\, (1 - \bar\alpha_{t-1})}{1 - \bar\alpha_t}\, x_t, \quad
# \tilde\beta_t = \frac{1 - \bar\alpha_{t-1}}{1 - \bar\alpha_t}\, \beta_t. $$
#
# So the reverse model only needs a guess of $x_0$ from $x_t$. Since $x_t = \sqrt{\bar\alpha_t}
# x_0 + \sqrt{1 - \bar\alpha_t}\, \varepsilon$, guessing $x_0$ is the same as guessing the noise
# $\varepsilon$, and Ho et al. found the second works better: a network $\varepsilon_\theta(x_t,
# t)$ is trained with the **simple loss**
#
# $$ L_\text{simple} = \mathbb E_{x_0,\, t \sim U\{1..T\},\, \varepsilon} \big\|\varepsilon -
# \varepsilon_\theta\big(\sqrt{\bar\alpha_t}\, x_0 + \sqrt{1 - \bar\alpha_t}\, \varepsilon,\;
# t\big)\big\|^2, $$
#
# a reweighting of the ELBO's terms, and a plain regression: pick an image, a time and a noise,
# make $x_t$ in one line, ask the network for the noise. Its estimate of the clean image is
# $\hat x_0 = (x_t - \sqrt{1 - \bar\alpha_t}\, \varepsilon_\theta) / \sqrt{\bar\alpha_t}$, and
# the **ancestral sampler** (Ho et al., Algorithm 2) starts from $x_T \sim \mathcal N(0, I)$
# and draws $x_{t-1} \sim \mathcal N(\tilde\mu_t(\hat x_0, x_t), \tilde\beta_t I)$ for $t = T,
# \dots, 1$ (clipping $\hat x_0$ to the data's range $[-1, 1]$, as Ho et al.'s code does). The
# denoiser here is an MLP on the 64 pixels and a sinusoidal embedding of $t$ (three hidden
# layers of 256 SiLU units), not the U-Net of real models: the digits are small enough.

# %%
STEPS_DIFF = 2000
t0 = time.perf_counter()
dfit = DF.fit_denoiser(X_sym.reshape(len(X_sym), 64), sched, steps=STEPS_DIFF, batch_size=128,
                       hidden=256, seed=0)
loss = np.array(dfit.log.loss)
print(f"denoiser: {STEPS_DIFF} steps in {time.perf_counter() - t0:.1f} s; noise-prediction "
      f"loss, mean of the first 100 steps {loss[:100].mean():.3f}, of the last 100 "
      f"{loss[-100:].mean():.3f} (predicting 0 would score 1)")

t0 = time.perf_counter()
ddpm = DF.ddpm_sample(dfit.model, sched, 500, seed=0)
ddpm_seconds = time.perf_counter() - t0
diff_samples = (ddpm.samples.reshape(-1, 1, 8, 8) + 1) / 2
diff_score = REF.score_samples(diff_samples, ref)
print(f"DDPM, {T} steps, 500 samples in {ddpm_seconds:.2f} s: {diff_score}")

fig, axes = plt.subplots(1, 2, figsize=(7.5, 3.6))
show_grid(axes[0], diff_samples[:36], 6, f"DDPM samples ({T} steps)")
order_conf = np.argsort(diff_score.confidence)
show_grid(axes[1], diff_samples[order_conf[:36]], 6, "the 36 the classifier doubts most")
fig.tight_layout()
plt.show()

# %% [markdown]
# The loss printed first falls far below 1, the score of a network that always predicts zero
# noise: the denoiser has learned something about digits. The samples, in the left panel, are
# mostly recognisable digits of every class (the histogram printed above), but grainy: small
# errors of the denoiser at low noise levels are left in the image. The right panel shows the
# ones the reference classifier doubts most: strokes of two digits at once, broken loops. The
# share of confident samples is well below that of real digits. This is a 64-pixel MLP
# trained for seconds, without the U-Net, the thousand steps or the hours of training of real
# diffusion models; how much of the gap is the model and how much the training time, this
# lecture does not settle.
#
# The stepper walks one sample through the sampler. The slider counts the reverse steps taken:
# at 0 the state $x_T$ is pure noise, at the end it is the sample. Next to it is the model's
# estimate $\hat x_0$ of the clean image *at that step*, and on the right the noise level and
# the distance from $\hat x_0$ to the final sample. Watch how early $\hat x_0$ decides which
# digit it will be, while $x_t$ is still mostly noise: the coarse shape is settled in the
# first part of the walk, the details at the end.

# %%
walk = DF.ddpm_sample(dfit.model, sched, 8, seed=1)
stepper = DiffusionStepperView(walk, sched, step=60, sample=0)
stepper

# %% [markdown]
# ### 5.3 Fewer steps: DDIM
#
# A hundred network evaluations per sample (a thousand in Ho et al.) make diffusion slow to
# sample. Song, Meng & Ermon (2021) observed that the loss only involves the marginals $q(x_t
# \mid x_0)$, and many processes share them, including deterministic ones. **DDIM** with
# $\eta = 0$ uses the same trained $\varepsilon_\theta$ and jumps between a few times $\tau_K >
# \dots > \tau_1$:
#
# $$ x_{\tau_{i-1}} = \sqrt{\bar\alpha_{\tau_{i-1}}}\; \hat x_0 + \sqrt{1 -
# \bar\alpha_{\tau_{i-1}}}\; \varepsilon_\theta(x_{\tau_i}, \tau_i), $$
#
# that is: estimate the clean image, then put back exactly the noise the network saw, at the
# lower level. No new noise is drawn, so the sample is a deterministic function of $x_T$. The
# cell runs it with 5, 10 and 20 steps on the same denoiser and prints the scores and times
# beside DDPM's.

# %%
print(f"{'sampler':16s}{'net calls':>10s}{'seconds':>9s}   score")
print(f"{'DDPM':16s}{T:10d}{ddpm_seconds:9.2f}   {diff_score}")
ddim_scores, ddim_runs = {}, {}
for K in (5, 10, 20):
    t0 = time.perf_counter()
    run = DF.ddim_sample(dfit.model, sched, 500, steps=K, seed=0)
    sec = time.perf_counter() - t0
    ddim_scores[K] = REF.score_samples((run.samples + 1) / 2, ref)
    ddim_runs[K] = run
    print(f"{'DDIM':16s}{K:10d}{sec:9.2f}   {ddim_scores[K]}")
best_ddim = max(ddim_scores, key=lambda k: ddim_scores[k].confident)
c_best, c_ddpm = ddim_scores[best_ddim].confident, diff_score.confident
print(f"DDIM with {best_ddim} steps scores {100 * c_best:.1f}% confident, "
      f"{'at least as well as' if c_best >= c_ddpm else 'worse than'} DDPM's "
      f"{100 * c_ddpm:.1f}% with {T} steps")
print(f"every DDIM run {'scores' if min(v.confident for v in ddim_scores.values()) >= c_ddpm else 'does not score'}"
      f" at least as well as DDPM")

fig, axes = plt.subplots(1, 2, figsize=(7.5, 3.6))
show_grid(axes[0], diff_samples[:36], 6, f"DDPM, {T} steps")
show_grid(axes[1], (ddim_runs[10].samples[:36] + 1) / 2, 6, "DDIM, 10 steps, same $x_T$")
fig.tight_layout()
plt.show()

# %% [markdown]
# The table shows the trade: DDIM needs a fraction of the network calls, and the last two
# lines compare its scores with DDPM's. On this run fewer steps cost nothing by this measure.
# That is less of a paradox than it seems: DDPM adds fresh noise at every step, and a denoiser
# that is imperfect at low noise does not remove all of it, whereas DDIM's path adds none. In
# the figure the two samplers, started from the same $x_T$, mostly end on different digits (the
# paths differ from the first step), and both show the grain of an undertrained denoiser;
# judge for yourself whether the classifier's preference is visible. With very few steps the jumps are too long for an estimate $\hat x_0$
# made at high noise to be refined: in the limit of one step the sample is $\hat x_0$ of pure
# noise, an average of digits, and quality must drop. Later work pushed further: progressive
# distillation (Salimans & Ho 2022) and consistency models (Song et al. 2023) sample in one to
# four steps.
#
# ## 6. The three models side by side
#
# The same reference classifier, 500 samples from each model. The last column is the smallest
# class count: a model that neglects a digit shows it there. (The lecture's models were trained
# for seconds; they are printed here as they are.)

# %%
rows = {"real held-out digits": real_score, "autoencoder, z ~ N(0,I)": ae_score,
        "VAE (2-D latent)": vae_score, "DCGAN": gan_score, f"DDPM ({T} steps)": diff_score,
        f"DDIM ({best_ddim} steps)": ddim_scores[best_ddim]}
print(f"{'':26s}{'confident':>10s}{'rarest class':>14s}   class histogram")
for name, sc in rows.items():
    print(f"{name:26s}{100 * sc.confident:9.1f}%{sc.histogram.min():14d}   {sc.histogram}")
ranked = sorted(list(rows)[1:], key=lambda k: -rows[k].confident)
print("ranked by confident share: " + " > ".join(ranked))

# %% [markdown]
# Read it with its caveats. None reaches the real digits' line. The autoencoder's prior samples
# neglect some classes entirely or nearly (its rarest class), which the confident share alone
# does not show. The ranking printed last is the measure's verdict on these toy models, and it
# is close to the reverse of the ranking of the families on real images (diffusion, then GANs,
# then VAEs, by FID, for models a million times larger). Look back at the samples to see why:
# the VAE's digits are blurry but prototypical, close to the middle of each class, which is
# exactly what a confident classifier likes; the GAN's and the diffusion model's are sharper,
# more varied and more often wrong in a stroke. A confidence score rewards the safe average,
# which is one reason the field moved to measures that also compare the spread of the samples
# with the spread of the data (FID). And each model here was trained for seconds, with
# settings chosen for speed: the order says little about what each family can do.
#
# ## 7. Neural style transfer
#
# ### 7.1 Style as feature statistics
#
# Gatys, Ecker & Bethge (2015, 2016) observed that the **Gram matrix** of a CNN layer's
# features,
#
# $$ G_{cd} = \frac{1}{HW} \sum_{p} F_{c p} F_{d p}, \qquad F \in \mathbb R^{C \times HW}, $$
#
# which records which features fire *together* but forgets *where*, describes texture: two
# images with the same Gram matrices at several layers look like the same stuff. The content,
# by contrast, is the feature map itself at a middle layer, positions included. Style transfer
# then optimises the *pixels* of an image $x$ (starting from the content photograph) to
# minimise
#
# $$ \mathcal L(x) = \big\|F_\ell(x) - F_\ell(x_c)\big\|^2 + w \sum_{l} \big\|G_l(x) -
# G_l(x_s)\big\|^2 , $$
#
# by gradient descent through a fixed network. *Hand example.* Two channels at two positions,
# $F = \begin{pmatrix} 1 & 0 \\ 2 & 1 \end{pmatrix}$: $G = F F^\top / 2 = \begin{pmatrix} 0.5
# & 1 \\ 1 & 2.5 \end{pmatrix}$. Swap the two positions (the columns) and $G$ is unchanged.

# %%
F = torch.tensor([[[[1.0, 0.0]], [[2.0, 1.0]]]])          # (N=1, C=2, H=1, W=2)
print("Gram matrix:\n", ST.gram_matrix(F)[0].numpy())
print("positions swapped:\n", ST.gram_matrix(F.flip(-1))[0].numpy())

# %% [markdown]
# ### 7.2 Without a pretrained network
#
# Gatys et al. used VGG-19 trained on ImageNet. The course has no pretrained ImageNet network
# and no internet to fetch one, and a network trained on 8x8 grey digits knows nothing of
# colour or texture. So we use **random features**: a fixed CNN with random weights, four
# layers of 3x3 convolutions (64, 128, 128, 128 channels) with ReLU and average pooling between
# them, so that the layers see texture at four scales. That random, even single-layer, networks
# suffice for texture synthesis with Gram matrices was shown by Ustyuzhaninov, Brendel, Gatys &
# Bethge (2017); He, Wang & Hopcroft (2016) used random-weight networks for style transfer.
# What to expect: random filters respond to colours, edges and local patterns, so the Gram
# matrices capture the palette and the fine texture of the style image. They do not capture
# the large, meaningful structures (objects, brush strokes that follow a shape) that a trained
# VGG's deep layers encode, and the content term keeps positions of random features, which
# preserves the photograph's edges rather than its "meaning".
#
# We transfer the style of a stained tissue slide (skimage's `immunohistochemistry`) onto the
# cat (`chelsea`), both at 80 pixels on the long side, and, with the same losses minus the
# content term and starting from noise, synthesise the texture alone.

# %%
content = ST.to_chw(load_photo("chelsea", size=80))       # (3, 53, 80) in [0, 1]
style_img = ST.to_chw(load_photo("immunohistochemistry", size=80))
features = ST.RandomFeatures(widths=(64, 128, 128, 128), seed=0)
t0 = time.perf_counter()
transfer = ST.style_transfer(content, style_img, features, steps=100, style_weight=1e3,
                             content_layer=1, lr=0.03, init="content")
texture = ST.style_transfer(None, style_img, features, steps=100, style_weight=1e3, lr=0.03,
                            init="noise")
print(f"style transfer and texture synthesis: {time.perf_counter() - t0:.1f} s")
with torch.no_grad():
    grams_s = [ST.gram_matrix(f) for f in features(torch.as_tensor(style_img)[None])]

    def style_distance(img):
        return ST.style_loss(features(torch.as_tensor(img)[None]), grams_s).item()

print(f"style loss (unweighted) to the slide: the cat {style_distance(content):.2e}, the "
      f"transfer {style_distance(transfer.image):.2e}, the texture {style_distance(texture.image):.2e}")
print(f"total loss of the transfer: {transfer.log.loss[0]:.3f} at the start, "
      f"{transfer.log.loss[-1]:.3f} after {transfer.log.steps} steps")

fig, axes = plt.subplots(1, 4, figsize=(12, 3.0))
for ax, img, title in zip(axes, [content, style_img, transfer.image, texture.image],
                          ["content", "style", "transfer", "texture from noise"], strict=True):
    ax.imshow(ST.to_hwc(img))
    ax.set_title(title, fontsize=10)
    ax.axis("off")
fig.tight_layout()
plt.show()

# %% [markdown]
# The printed style losses of the transfer and of the texture are orders of magnitude below the
# cat's: the optimisation did what it was asked. In the figure, the transfer keeps the cat's
# edges (eyes, nose, the outline of the head) and takes the slide's pale background with brown
# speckles; the texture synthesised from noise has a pale ground with brown blobs and grain but
# none of the slide's large tubular structures, which random features at four small scales
# cannot describe. The colours are also off in places (orange where the slide is brown,
# coloured fringes along edges): the Gram matrices of random features pin colours down only
# through their correlations with random filters. That is the honest limit of this version:
# a trained network's deep layers would carry larger, more meaningful patterns.
# Optimising pixels also takes many network passes per image; Johnson, Alahi & Fei-Fei (2016)
# and Ulyanov et al. (2016) trained a feed-forward network to do the same transfer in one pass,
# and AdaIN (Huang & Belongie 2017) matched only the means and variances of features, which is
# enough for arbitrary styles.

# %% [markdown]
# ## Check yourself
#
# **1.** Why can you not generate new digits by decoding $z \sim \mathcal N(0, I)$ with a
# plain autoencoder, and what in the VAE's loss fixes this?
#
# <details><summary>Answer</summary>
#
# Nothing in an autoencoder's loss says where its codes should lie: they land wherever training
# put them (the codes printed in section 2 are not centred at 0 with spread 1), and the decoder
# was only trained on the codes of training images. Draws from $\mathcal N(0, I)$ miss some
# regions (classes) and fall into gaps where the decoder was never trained. The VAE's KL term
# pulls every image's posterior $q(z \mid x)$ towards $\mathcal N(0, I)$ and its noise $\sigma$
# forces the decoder to handle a neighbourhood of each code, so the codes of all images fill the
# prior and a prior draw lands somewhere the decoder knows.
# </details>
#
# **2.** Compute $\mathrm{KL}(\mathcal N(\mu, \sigma^2) \| \mathcal N(0, 1))$ for $\mu = 0$,
# $\sigma = 1$ and for $\mu = 2$, $\sigma^2 = 1$. What does the KL term do to an encoder that
# wants to give every image a very precise code ($\sigma \to 0$)?
#
# <details><summary>Answer</summary>
#
# $\tfrac12(0 + 1 - 0 - 1) = 0$ and $\tfrac12(4 + 1 - 0 - 1) = 2$ nats. As $\sigma \to 0$, the
# term $-\log\sigma^2 \to +\infty$: precise codes are penalised without bound, so the encoder
# keeps some uncertainty, which is what makes the latent space smooth (and the reconstructions
# blurrier).
# </details>
#
# **3.** Without the reparameterisation trick, how would you estimate $\nabla_\phi
# \mathbb E_{q_\phi(z|x)}[f(z)]$, and why is it worse?
#
# <details><summary>Answer</summary>
#
# With the score-function (REINFORCE) estimator, $\mathbb E_q[f(z) \nabla_\phi \log q_\phi(z
# \mid x)]$, which needs no derivative of $f$. Its variance is much larger, because it uses only
# the value of $f$ and not its slope, and it needs baselines to be usable. The trick writes $z
# = \mu + \sigma \varepsilon$ and differentiates through $f$, using $\nabla f$.
# </details>
#
# **4.** The discriminator rejects a generated sample with $D(G(z)) = 0.01$. What is the
# derivative of each generator loss with respect to the logit $a$? Which loss would you use?
#
# <details><summary>Answer</summary>
#
# Minimax: $-\sigma(a) = -0.01$. Non-saturating: $\sigma(a) - 1 = -0.99$, 99 times larger. The
# non-saturating loss: it pushes hardest on the samples the discriminator rejects most, which
# is where the generator has most to learn.
# </details>
#
# **5.** Show that for fixed $G$ the best discriminator is $D^*(x) = p_\text{data}(x) /
# (p_\text{data}(x) + p_g(x))$.
#
# <details><summary>Answer</summary>
#
# $V = \int p_\text{data}(x) \log D(x) + p_g(x) \log(1 - D(x))\, dx$. Maximise the integrand
# pointwise: $a \log D + b \log(1 - D)$ has derivative $a/D - b/(1 - D)$, zero at $D = a/(a +
# b)$.
# </details>
#
# **6.** A GAN's samples on the 8-Gaussian ring all land near three of the centres, and
# a few hundred steps later near three others. Name the phenomenon, say why the GAN objective
# allows it, and give two remedies.
#
# <details><summary>Answer</summary>
#
# Mode collapse (with mode hopping). The generator is rewarded per sample for fooling the
# current discriminator; nothing rewards covering every mode. When $D$ learns to reject the
# covered modes, $G$ moves to others instead of spreading. Remedies: minibatch discrimination
# (D sees the variety of a batch), unrolled GANs, a Wasserstein loss with a gradient penalty,
# or a likelihood-based model.
# </details>
#
# **7.** Why does $q(x_t \mid x_0)$ have variance $1 - \bar\alpha_t$ and not $\sum_s \beta_s$?
#
# <details><summary>Answer</summary>
#
# Each step also *shrinks* what was there by $\sqrt{\alpha_t}$: the variance evolves as $v_t =
# \alpha_t v_{t-1} + \beta_t$ with $v_0 = 0$. With $v_{t-1} = 1 - \bar\alpha_{t-1}$ this gives
# $\alpha_t - \bar\alpha_t + 1 - \alpha_t = 1 - \bar\alpha_t$. The shrinking keeps the total
# variance of a unit-variance signal at 1 and lets $x_T$ become a standard normal.
# </details>
#
# **8.** At $t = 1$, what are $\tilde\beta_1$ and $\tilde\mu_1$? What does that say about the
# last step of the sampler?
#
# <details><summary>Answer</summary>
#
# $\bar\alpha_0 = 1$, so $\tilde\beta_1 = 0$ and $\tilde\mu_1 = \beta_1 x_0 / (1 - \alpha_1) =
# x_0$: the last step outputs the network's estimate $\hat x_0$ itself, without noise.
# </details>
#
# **9.** A diffusion model is trained to predict the noise $\varepsilon$. How do you get from
# its output to an estimate of the clean image, and why is that estimate blurry at large $t$?
#
# <details><summary>Answer</summary>
#
# $\hat x_0 = (x_t - \sqrt{1 - \bar\alpha_t}\, \varepsilon_\theta) / \sqrt{\bar\alpha_t}$. The
# squared loss makes $\varepsilon_\theta$ (hence $\hat x_0$) an estimate of a conditional
# *mean*; at large $t$ many clean images are compatible with $x_t$, and their mean is an average
# of several digits. The sampler does not output that mean: it takes a small step towards it
# and adds noise, and the estimate sharpens as $t$ falls (watch it in the stepper).
# </details>
#
# **10.** Why can DDIM skip steps with a network trained only for DDPM?
#
# <details><summary>Answer</summary>
#
# The training loss involves only the marginals $q(x_t \mid x_0)$, which DDIM's
# (non-Markovian) forward process shares with DDPM's. The same $\varepsilon_\theta$ is therefore
# optimal for both, and DDIM's update is defined for any subsequence of times.
# </details>
#
# **11.** Why is a Gram matrix a description of style and not of content? What would happen to
# style transfer if you matched the raw feature maps of a deep layer instead?
#
# <details><summary>Answer</summary>
#
# The Gram matrix sums over positions, so it keeps which features co-occur and forgets where
# (the hand example: swapping positions leaves it unchanged). Matching raw feature maps keeps
# positions: you would reconstruct the style image's layout, not transfer its texture.
# </details>
#
# **12.** The reference classifier labels 95% of a generator's samples with confidence ≥ 0.9,
# and all of them as 1. Is it a good generator? What else would you measure?
#
# <details><summary>Answer</summary>
#
# No: it has collapsed to one class. The histogram of labels shows it; the Inception score
# builds the spread of labels into the score, and the FID compares the feature statistics of
# samples and real data, so it penalises missing variety within a class too. And always look
# at the samples, and at their nearest training images, to catch a model that copies.
# </details>

# %% [markdown]
# ## Summary
#
# * A **generative model** learns $p(x)$ to sample new images. Judge samples with care: a
#   reference classifier's confident share and its class histogram, the Inception score and
#   FID on real data; each misses something, so look at the samples too.
# * An **autoencoder** compresses and reconstructs, but its code space has no known
#   distribution and gaps, so it does not generate.
# * The **VAE** maximises the ELBO: reconstruction under codes drawn from the encoder, minus the
#   KL to the prior $\mathcal N(0, I)$ (closed form for Gaussians). The reparameterisation
#   $z = \mu + \sigma\varepsilon$ makes the sampling differentiable. Its latent space is filled
#   and smooth; its samples are blurry.
# * A **GAN** trains a generator against a discriminator; at the optimum it minimises the JS
#   divergence. The minimax generator loss saturates when the discriminator wins; the
#   non-saturating loss does not. GANs give sharp samples but may collapse onto some modes of
#   the data and starve others, as on the ring of Gaussians. **DCGAN**'s guidelines made
#   convolutional GANs trainable.
# * A **diffusion model** fixes a noising process with $q(x_t \mid x_0)$ in closed form, learns
#   to predict the noise by regression, and samples by running the Gaussian posterior
#   $q(x_{t-1} \mid x_t, \hat x_0)$ backwards from pure noise. **DDIM** reuses the same network
#   with far fewer, deterministic steps.
# * **Style transfer** optimises pixels so that the Gram matrices of features match a style
#   image and the features themselves match a content image. With random features it carries
#   colour and fine texture, not large structures.
#
# ## Papers and further reading
#
# * G. E. Hinton, R. R. Salakhutdinov (2006). Reducing the dimensionality of data with neural
#   networks. *Science* 313(5786), 504–507. Deep autoencoders.
# * D. P. Kingma, M. Welling (2014). Auto-encoding variational Bayes. *ICLR 2014*. The VAE and
#   the reparameterisation trick.
# * D. J. Rezende, S. Mohamed, D. Wierstra (2014). Stochastic backpropagation and approximate
#   inference in deep generative models. *ICML 2014*.
# * I. Higgins et al. (2017). β-VAE: learning basic visual concepts with a constrained
#   variational framework. *ICLR 2017*.
# * A. van den Oord, O. Vinyals, K. Kavukcuoglu (2017). Neural discrete representation
#   learning. *NIPS 2017*. VQ-VAE.
# * A. van den Oord, N. Kalchbrenner, K. Kavukcuoglu (2016). Pixel recurrent neural networks.
#   *ICML 2016*. PixelRNN / PixelCNN.
# * L. Dinh, J. Sohl-Dickstein, S. Bengio (2017). Density estimation using Real NVP.
#   *ICLR 2017*. Normalising flows.
# * I. Goodfellow, J. Pouget-Abadie, M. Mirza, B. Xu, D. Warde-Farley, S. Ozair, A. Courville,
#   Y. Bengio (2014). Generative adversarial nets. *NIPS 2014*.
# * A. Radford, L. Metz, S. Chintala (2016). Unsupervised representation learning with deep
#   convolutional generative adversarial networks. *ICLR 2016*. DCGAN.
# * T. Salimans, I. Goodfellow, W. Zaremba, V. Cheung, A. Radford, X. Chen (2016). Improved
#   techniques for training GANs. *NIPS 2016*. Minibatch discrimination, the Inception score.
# * L. Metz, B. Poole, D. Pfau, J. Sohl-Dickstein (2017). Unrolled generative adversarial
#   networks. *ICLR 2017*. The mixture-of-Gaussians ring as a test of mode collapse.
# * M. Arjovsky, S. Chintala, L. Bottou (2017). Wasserstein generative adversarial networks.
#   *ICML 2017*.
# * I. Gulrajani, F. Ahmed, M. Arjovsky, V. Dumoulin, A. Courville (2017). Improved training of
#   Wasserstein GANs. *NIPS 2017*.
# * M. Heusel, H. Ramsauer, T. Unterthiner, B. Nessler, S. Hochreiter (2017). GANs trained by a
#   two time-scale update rule converge to a local Nash equilibrium. *NIPS 2017*. FID.
# * T. Karras, S. Laine, T. Aila (2019). A style-based generator architecture for generative
#   adversarial networks. *CVPR 2019*. StyleGAN.
# * L. Theis, A. van den Oord, M. Bethge (2016). A note on the evaluation of generative models.
#   *ICLR 2016*.
# * D. Hendrycks, M. Mazeika, T. Dietterich (2019). Deep anomaly detection with outlier
#   exposure. *ICLR 2019*.
# * J. Sohl-Dickstein, E. Weiss, N. Maheswaranathan, S. Ganguli (2015). Deep unsupervised
#   learning using nonequilibrium thermodynamics. *ICML 2015*.
# * J. Ho, A. Jain, P. Abbeel (2020). Denoising diffusion probabilistic models. *NeurIPS 2020*.
# * J. Song, C. Meng, S. Ermon (2021). Denoising diffusion implicit models. *ICLR 2021*. DDIM.
# * Y. Song, J. Sohl-Dickstein, D. P. Kingma, A. Kumar, S. Ermon, B. Poole (2021). Score-based
#   generative modeling through stochastic differential equations. *ICLR 2021*.
# * A. Nichol, P. Dhariwal (2021). Improved denoising diffusion probabilistic models.
#   *ICML 2021*.
# * P. Dhariwal, A. Nichol (2021). Diffusion models beat GANs on image synthesis.
#   *NeurIPS 2021*.
# * R. Rombach, A. Blattmann, D. Lorenz, P. Esser, B. Ommer (2022). High-resolution image
#   synthesis with latent diffusion models. *CVPR 2022*.
# * T. Salimans, J. Ho (2022). Progressive distillation for fast sampling of diffusion models.
#   *ICLR 2022*.
# * Y. Song, P. Dhariwal, M. Chen, I. Sutskever (2023). Consistency models. *ICML 2023*.
# * L. A. Gatys, A. S. Ecker, M. Bethge (2015). Texture synthesis using convolutional neural
#   networks. *NIPS 2015*.
# * L. A. Gatys, A. S. Ecker, M. Bethge (2016). Image style transfer using convolutional neural
#   networks. *CVPR 2016*.
# * K. He, Y. Wang, J. Hopcroft (2016). A powerful generative model using random weights for the
#   deep image representation. *NIPS 2016*.
# * I. Ustyuzhaninov, W. Brendel, L. A. Gatys, M. Bethge (2017). What does it take to generate
#   natural textures? *ICLR 2017*. Random shallow networks suffice for texture synthesis.
# * J. Johnson, A. Alahi, L. Fei-Fei (2016). Perceptual losses for real-time style transfer and
#   super-resolution. *ECCV 2016*.
# * D. Ulyanov, V. Lebedev, A. Vedaldi, V. Lempitsky (2016). Texture networks: feed-forward
#   synthesis of textures and stylized images. *ICML 2016*.
# * X. Huang, S. Belongie (2017). Arbitrary style transfer in real-time with adaptive instance
#   normalization. *ICCV 2017*. AdaIN.

# %%
print(f"whole notebook: {time.perf_counter() - t_start:.0f} s")
