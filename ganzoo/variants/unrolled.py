"""Unrolled GAN (Metz, Poole, Pfau & Sohl-Dickstein 2017, arXiv:1611.02163).

G is trained against the discriminator as it will be after k more of its own updates:
the surrogate objective f_K(θ_G, θ_D) = f(θ_G, θ_D^K), with θ_D^0 = θ_D and
θ_D^{i+1} = θ_D^i − η · (optimizer step on D's loss at θ_D^i) (eq. 5-7), and G's gradient
taken *through* the k updates (second order: the updates depend on G's samples). D itself
is trained as usual; only G sees the unrolled copy, so D takes no gradient from G's step.

- The objective is the paper's f, the original minimax value, so G's loss is −L_D(θ_D^K),
  real term included: through θ_D^K the real batch depends on G too.
- The unrolled updates are differentiable copies of D's own optimizer: Adam from D's
  current moments (as the notebook unrolls its Adam; for AdamW the same, without its weight
  decay), plain SGD at ``lr_d`` for any other optimizer. Fresh real and generated batches at each unrolled step.
- Settings from the authors' 2D notebook (poolio/unrolled_gan): k = 5 unrolling steps, G
  Adam 1e-3, D Adam 1e-4, β1 = 0.5. ``--hp unroll_steps=0`` is the plain minimax GAN's G
  gradient, computed the same way (a test checks it).

One G step costs about k + 1 D forward-and-backward passes plus a second-order backward.
"""
from __future__ import annotations

from typing import Dict, List

import torch
from torch import Tensor
from torch.func import functional_call

from ganzoo.registry import register_variant
from ganzoo.variants.base import d_logits, grad_norm
from ganzoo.variants.minimax import Vanilla


@register_variant("unrolled")
class UnrolledGAN(Vanilla):
    """Unrolled GAN (Metz et al. 2017): G's loss through k unrolled D updates (k = 5)."""

    paper = "arXiv:1611.02163 (Metz, Poole, Pfau & Sohl-Dickstein 2017, eq. 5-7)"
    defaults = dict(optimizer="adam", lr_g=1e-3, lr_d=1e-4, betas=(0.5, 0.999), n_critic=1, unroll_steps=5)
    graph_safe = False  # not yet verified under CUDA graph capture (no GPU in the session that wrote it)
    double_backward = True  # G's gradient goes through D's unrolled updates (torch.compile refuses it)
    hp_minimum = {"unroll_steps": 0}

    def real_images_per_step(self, batch_size: int) -> int:
        """D's own batches, plus one real batch per unrolled step and one for G's loss."""
        return (self.n_critic + int(self.hp["unroll_steps"]) + 1) * batch_size

    def g_step(self, ctx) -> Dict[str, Tensor]:
        G, D = ctx.G, ctx.D
        names = [n for n, _ in D.named_parameters()]
        # D's weights as leaves of their own: G's gradient flows through the unrolled
        # copies into G's samples, never into D's parameters.
        weights = {n: p.detach().requires_grad_(True) for n, p in D.named_parameters()}
        buffers = {n: b.clone() for n, b in D.named_buffers()}  # BatchNorm statistics stay D's own
        moments = _adam_moments(ctx.opt_d, D) if self.hp["optimizer"] in ("adam", "adamw") else None
        for _ in range(int(self.hp["unroll_steps"])):
            loss_d = self._d_loss_at(ctx, weights, buffers)
            grads = torch.autograd.grad(loss_d, [weights[n] for n in names], create_graph=True)
            weights = self._unrolled_update(weights, names, grads, moments)
        loss = -self._d_loss_at(ctx, weights, buffers, fake_first=True)  # G maximises D's loss at θ_D^K
        logs = {"g_loss": loss.detach()}
        ctx.opt_g.zero_grad(set_to_none=True)
        ctx.backward(loss, ctx.opt_g)
        logs["grad_norm_g"] = grad_norm(G)
        ctx.step(ctx.opt_g)
        return logs

    def _d_loss_at(self, ctx, weights, buffers, fake_first: bool = False) -> Tensor:
        """D's loss at ``weights`` on a fresh real and a fresh generated batch (G in the graph).
        ``fake_first``: draw the fakes first, as the plain G step does (same RNG order)."""
        def fake():
            labels = ctx.random_labels() if self.conditional else None
            with ctx.autocast():
                return functional_call(ctx.D, (weights, buffers), (ctx.G(ctx.noise(), labels), labels))

        def real():
            x, y = ctx.real_batch(ctx.batch_size)
            with ctx.autocast():
                return functional_call(ctx.D, (weights, buffers), (x, y if self.conditional else None))

        if fake_first:
            out_fake = fake()
            out_real = real()
        else:
            out_real = real()
            out_fake = fake()
        return self.d_loss(d_logits(out_real), d_logits(out_fake))

    def _unrolled_update(self, weights, names: List[str], grads, moments):
        """One differentiable step of D's optimizer from ``weights``."""
        lr = float(self.hp["lr_d"])
        if moments is None:
            return {n: weights[n] - lr * g for n, g in zip(names, grads)}
        b1, b2 = self.hp["betas"]
        out = {}
        for n, g in zip(names, grads):
            m, v, t = moments[n]
            m, v, t = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g, t + 1
            moments[n] = (m, v, t)
            m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)
            # sqrt(v̂ + tiny): the derivative of sqrt at an exactly-zero moment would be infinite
            out[n] = weights[n] - lr * m_hat / (torch.sqrt(v_hat + 1e-30) + 1e-8)
        return out


def _adam_moments(opt: torch.optim.Optimizer, D) -> Dict[str, tuple]:
    """D's Adam moments and step count now, detached, as device tensors (no host read; zeros
    before its first update). Read out of place only, so no copy is needed."""
    out = {}
    for n, p in D.named_parameters():
        st = opt.state.get(p, {})
        if "exp_avg" in st:
            step = st["step"] if torch.is_tensor(st["step"]) else torch.tensor(float(st["step"]))
            out[n] = (st["exp_avg"].detach(), st["exp_avg_sq"].detach(), step.detach().to(p.device))
        else:
            out[n] = (torch.zeros_like(p), torch.zeros_like(p), torch.zeros((), device=p.device))
    return out
