"""Spectral normalisation (Miyato et al. 2018) with the hinge loss.

Spectral normalisation divides every weight of D by its largest singular value,
estimated by one step of power iteration per forward pass, so each layer is
1-Lipschitz. It is applied by the variant (``prepare_nets``) to whatever D the
architecture built, through ``torch.nn.utils.parametrizations.spectral_norm``:
every Linear, Conv and Embedding of D (the projection embedding included, as in the
authors' SNEmbedID). D should carry no BatchNorm, which would undo the constraint.

One power iteration per forward (the paper's choice) makes the estimate of σ trail
the weights a little: measured in ganzoo's tests after one G step, the largest
singular value of each effective weight is within 5% of 1 for linear layers and
within 20% for convolutions (whose reshaped kernels have close top singular values);
``--hp power_iterations=N`` tightens it.
"""
from __future__ import annotations

from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

from ganzoo.registry import register_variant
from ganzoo.variants.base import Variant

NORMALISED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.Embedding)


def add_spectral_norm(module: nn.Module, n_power_iterations: int = 1) -> nn.Module:
    """Spectrally normalise the weight of every Linear/Conv/Embedding in ``module`` (in place)."""
    layers = [m for m in module.modules() if isinstance(m, NORMALISED)
              and getattr(m, "weight", None) is not None]
    for layer in layers:
        spectral_norm(layer, n_power_iterations=n_power_iterations)
    return module


def hinge_d_loss(d_real: Tensor, d_fake: Tensor) -> Tensor:
    """E[max(0, 1 − D(x))] + E[max(0, 1 + D(G(z)))] (Lim & Ye 2017; Miyato et al. 2018 eq. 16)."""
    return (1.0 - d_real).relu().mean() + (1.0 + d_fake).relu().mean()


@register_variant("sngan")
class SNGAN(Variant):
    """Spectrally normalised GAN (Miyato et al. 2018): hinge loss, SN on D, Adam(2e-4, 0, 0.9), 5 D steps.

    Defaults are the authors' CIFAR-10 ResNet setting (the paper's section 4 and
    appendix B; pfnet-research/sngan_projection configs/sn_cifar10_unconditional.yml):
    Adam α = 2e-4, β1 = 0, β2 = 0.9, n_dis = 5, one power iteration per step.
    Loss: the hinge loss; G minimises −E[D(G(z))].
    """

    paper = "arXiv:1802.05957 (Miyato, Kataoka, Koyama & Yoshida 2018)"
    d_output = "scores"  # hinge loss
    defaults = dict(optimizer="adam", lr_g=2e-4, lr_d=2e-4, betas=(0.0, 0.9), n_critic=5,
                    d_norm="none", power_iterations=1)
    preferred_arch = {"image": "dcgan"}

    def prepare_nets(self, G: nn.Module, D: nn.Module):
        return G, add_spectral_norm(D, int(self.hp["power_iterations"]))

    def d_loss(self, d_real: Tensor, d_fake: Tensor) -> Tensor:
        return hinge_d_loss(d_real, d_fake)

    def g_loss(self, d_fake: Tensor) -> Tensor:
        return -d_fake.mean()
