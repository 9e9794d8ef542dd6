"""Lecture 17's room: generative models on the digits, and style transfer on photographs.

    reference      the digits in [0, 1], a reference digit classifier (trained once, cached) and
                   the score of a batch of generated digits (share labelled with confidence
                   >= 0.9, class histogram)
    autoencoders   autoencoder and VAE (MLPs): Gaussian KL, reparameterisation, negative ELBO,
                   training, decoding a grid of the latent plane
    gans           GAN losses (minimax, non-saturating), MLP and DCGAN-style pairs, the ring of
                   Gaussians and how many of its modes samples cover
    diffusion      DDPM: noise schedule, q(x_t | x_0) in closed form, the posterior
                   q(x_{t-1} | x_t, x_0), the noise-prediction loss, ancestral and DDIM samplers
    style          Gram matrices, random multi-scale features, neural style transfer
    widgets        the VAE latent explorer and the diffusion stepper
"""
