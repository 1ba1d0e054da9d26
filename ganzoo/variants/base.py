"""The plugin contract: a GAN variant is its losses and its schedule.

A variant is a :class:`Variant` subclass registered under a name with
:func:`ganzoo.register_variant`. The default training step (:meth:`Variant.train_step`)
is built from its parts, so most variants only write ``d_loss`` and ``g_loss``:

    @register_variant("lsgan")
    class LSGAN(Variant):
        '''Least-squares GAN (Mao et al., 2017).'''
        paper = "arXiv:1611.04076"
        defaults = dict(lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999))
        def d_loss(self, d_real, d_fake): ...
        def g_loss(self, d_fake): ...

Optional hooks: ``d_penalty`` (gradient penalties), ``after_d_step`` (weight clipping),
``prepare_nets`` (e.g. spectral norm), ``build_nets`` (e.g. BEGAN's autoencoder D), ``net_options`` (e.g. no BatchNorm in D),
``conditional = True`` (labels reach both nets), ``initial_state`` (tensors kept across
steps in ``self.state``). ``g_loss(self, d_fake, d_real)`` also gets D's outputs on a real
batch. A variant whose update has another shape overrides ``d_step``, ``g_step`` or
``train_step``; it back-propagates and steps through the context (``ctx.backward(loss, opt)``,
``ctx.step(opt)``, ``with ctx.frozen(D):``) so that the trainer alone owns what happens
there. The trainer owns devices, precision, schedule, history and checkpoints.

Declared, not guessed: ``d_output`` (what D's raw output is: "logits" for a logistic D,
which can saturate; "critic" for a Wasserstein critic; "scores" for any other real score,
e.g. hinge or least squares), ``graph_safe`` (False when the step keeps Python-side state a
CUDA graph would freeze), ``double_backward`` (True when the step differentiates through a
gradient outside ``d_penalty``, e.g. unrolled D updates; a ``d_penalty`` counts as one by
itself: torch.compile is then not tried, see :func:`ganzoo.perf.compile_refusal`), and the logged keys (:data:`LOGGED_KEYS`, which the stability
figures read).

``d_real`` / ``d_fake`` are the raw discriminator outputs (logits or critic values),
shape ``[B]``, in float32 even under autocast.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, ContextManager, Dict, Optional

import torch
from torch import Tensor, nn

from ganzoo import config
from ganzoo.errors import ConfigError
from ganzoo.registry import VARIANTS

# Hyperparameters every variant has; a variant's ``defaults`` override them.
# Adam(2e-4, betas=(0.5, 0.999)) is the DCGAN setting (Radford et al. 2016) that the
# seed's MLP GAN used; Goodfellow et al. 2014 trained with SGD + momentum.
BASE_DEFAULTS: Dict[str, Any] = dict(
    optimizer="adam",  # a name in ganzoo.optimizers.OPTIMIZERS
    lr_g=2e-4,
    lr_d=2e-4,
    betas=(0.5, 0.999),
    n_critic=1,  # D steps per G step
)


# What the default steps log, every step (a custom step logs at least d_loss and g_loss):
# ganzoo.bench.stability reads them for oscillation and gradient norms, ganzoo.outcome for D saturation.
LOGGED_KEYS = {
    "d_loss": "D's loss (without penalty or auxiliary terms)",
    "g_loss": "G's loss (without auxiliary terms)",
    "d_real": "mean raw D output on the real batch",
    "d_fake": "mean raw D output on the fake batch",
    "grad_norm_d": "L2 norm of D's gradients at its last update",
    "grad_norm_g": "L2 norm of G's gradients",
    "d_penalty": "the penalty term, when the variant has one",
    "d_aux": "D's auxiliary loss (AC-GAN's classes), when there is one",
    "g_aux": "G's auxiliary loss, when there is one",
}
D_OUTPUTS = ("logits", "critic", "scores")


class HyperparameterError(ConfigError):
    """An unknown hyperparameter or a value of the wrong type."""


class VariantError(RuntimeError):
    """A variant's code raised during training. The trainer raises it ``from`` the original.

    ``variant`` and ``step`` say whose step failed; ``traceback`` holds the original's
    formatted traceback, for a benchmark run to record as a failure.
    """

    def __init__(self, variant: str, step: int, error: BaseException):
        import traceback as tb

        frames = tb.extract_tb(error.__traceback__)
        where = f" (in {frames[-1].name}, {frames[-1].filename}:{frames[-1].lineno})" if frames else ""
        super().__init__(f"variant {variant!r} failed at training step {step}: "
                         f"{type(error).__name__}: {error}{where}")
        self.variant, self.step = variant, step
        self.traceback = "".join(tb.format_exception(type(error), error, error.__traceback__))


@dataclass
class StepContext:
    """What the trainer hands a variant's ``train_step``: nets, optimizers and samplers.

    Everything here works on the device without host synchronisation, so a step
    built from it can be captured as one CUDA graph.
    """

    G: nn.Module
    D: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    batch_size: int
    z_dim: int
    num_classes: int
    real_batch: Callable[[int], tuple]  # n -> (x, y or None), gathered on the device
    device: torch.device
    autocast: Callable[[], ContextManager] = contextlib.nullcontext
    # Under torch.distributed: averages an optimizer's gradients over the ranks before it
    # steps (ganzoo.distributed); None in a single process.
    sync: Optional[Callable[[torch.optim.Optimizer], None]] = None
    # A precision that scales losses (ganzoo.precisions, e.g. fp16): torch.amp.GradScaler.
    scaler: Optional[Any] = None

    def noise(self, n: Optional[int] = None) -> Tensor:
        return torch.randn(n or self.batch_size, self.z_dim, device=self.device)

    def random_labels(self, n: Optional[int] = None) -> Optional[Tensor]:
        """Uniform labels for generated samples, or None for unlabelled data."""
        if self.num_classes <= 0:
            return None
        return torch.randint(self.num_classes, (n or self.batch_size,), device=self.device)

    # ---- updates: the trainer's, so that scaling, clipping or distributed hooks live here only
    def backward(self, loss: Tensor, optimizer: Optional[torch.optim.Optimizer] = None) -> None:
        """Back-propagate ``loss`` (a variant never calls ``loss.backward()`` itself). Under a
        loss-scaling precision the loss is scaled; name the ``optimizer`` whose parameters
        this loss trains, and its gradients are unscaled at once (so that gradient norms
        logged before ``step`` are the true ones)."""
        if self.scaler is None:
            loss.backward()
            return
        self.scaler.scale(loss).backward()
        if optimizer is not None:
            # Under torch.distributed the ranks average first: the scaler must judge the
            # averaged gradients, or a rank whose own gradients were finite would step with
            # another rank's inf, and the ranks would disagree on skipping.
            self._sync_once(optimizer)
            self.scaler.unscale_(optimizer)

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        """Apply one update of ``optimizer`` (a variant never calls ``opt.step()`` itself):
        gradients averaged over the ranks under torch.distributed, the step skipped on a
        non-finite gradient under a loss-scaling precision."""
        if self.sync is not None:
            self._sync_once(optimizer)
            self._synced().discard(id(optimizer))
        if self.scaler is None:
            optimizer.step()
            return
        self.scaler.step(optimizer)
        self.scaler.update()

    def _sync_once(self, optimizer: torch.optim.Optimizer) -> None:
        """Average ``optimizer``'s gradients over the ranks, once per step."""
        if self.sync is not None and id(optimizer) not in self._synced():  # one process: nothing
            self.sync(optimizer)
            self._synced().add(id(optimizer))

    def _synced(self) -> set:
        """ids of the optimizers averaged since their last step (not a field: a copy of the
        context made with dataclasses.replace starts with none)."""
        return self.__dict__.setdefault("_synced_ids", set())

    @contextlib.contextmanager
    def frozen(self, module: nn.Module):
        """``module``'s parameters take no gradient inside the block (e.g. D during G's
        update); their ``requires_grad`` flags are put back after, even on an error."""
        params = list(module.parameters())
        flags = [p.requires_grad for p in params]
        module.requires_grad_(False)
        try:
            yield module
        finally:
            for p, flag in zip(params, flags):
                p.requires_grad_(flag)


def grad_norm(module: nn.Module) -> Tensor:
    """L2 norm of all of a module's gradients, as a device tensor (no host sync)."""
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return torch.zeros((), device=next(module.parameters()).device)
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))


def d_logits(out) -> Tensor:
    """D's main output as float32 ``[B]`` (auxiliary outputs, if any, are dropped)."""
    if isinstance(out, tuple):
        out = out[0]
    return out.float().reshape(-1)


class Variant:
    """Base class of all GAN variants. Subclasses set ``paper``, ``defaults`` and the losses."""

    paper: ClassVar[str] = ""
    defaults: ClassVar[Dict[str, Any]] = {}
    conditional: ClassVar[bool] = False
    # How the label enters a conditional D: "concat" (embedding concatenated to the
    # input), "projection" (Miyato & Koyama 2018) or "auxiliary" (AC-GAN's class head).
    conditioning: ClassVar[str] = "concat"
    # A preferred architecture per data kind ("points" / "image"); the user may override.
    preferred_arch: ClassVar[Dict[str, str]] = {}
    registered_name: ClassVar[str] = ""
    # What D's raw output is (see the module docstring); "" = undeclared: a plugin that
    # does not say is probed (ganzoo.outcome.logistic_discriminator).
    d_output: ClassVar[str] = ""
    # False: the step changes Python-side state between calls, which a CUDA graph would
    # freeze at capture; the graph mode is then never tried (ganzoo.perf).
    graph_safe: ClassVar[bool] = True
    # True: the step differentiates through a gradient (create_graph=True) outside d_penalty,
    # which torch.compile's aot_autograd refuses; the compile mode is then never tried
    # (ganzoo.perf.compile_refusal). A d_penalty counts as such a step without saying so.
    double_backward: ClassVar[bool] = False
    # Smallest valid value of integer hyperparameters (e.g. {"pack": 1}); merged along the
    # class hierarchy like ``defaults``.
    hp_minimum: ClassVar[Dict[str, int]] = {"n_critic": 1}
    # Hyperparameters added after results were stored, each with the value that reproduces
    # what runs did before it existed: a run id leaves such a key out while it has that value,
    # so adding a hyperparameter (here, to BASE_DEFAULTS, or to a variant's ``defaults``)
    # re-keys no stored run. Merged along the class hierarchy like ``defaults``.
    hp_added_later: ClassVar[Dict[str, Any]] = {}

    def __init__(self, **overrides: Any):
        self.hp = self.resolve_hparams(overrides)
        # Tensors kept across steps (e.g. BEGAN's k_t): set up by the trainer from
        # initial_state() on its device, saved in checkpoints, restored on resume, put back
        # after a perf mode's trial. Update them in place (``add_``, ``copy_``), never rebind.
        self.state: Dict[str, Tensor] = {}

    def initial_state(self) -> Dict[str, Any]:
        """The starting values of ``self.state`` (tensors or numbers), by name."""
        return {}

    @classmethod
    def g_loss_sees_real(cls) -> bool:
        """Whether ``g_loss`` takes a second argument: D's outputs on a real batch (e.g. a
        relativistic loss). Read from its signature, so a one-argument ``g_loss`` is unchanged."""
        return _takes_d_real(cls.g_loss)

    # ---- configuration -------------------------------------------------------------
    @classmethod
    def default_hparams(cls) -> Dict[str, Any]:
        """BASE_DEFAULTS overridden by every ``defaults`` along the class hierarchy."""
        merged: Dict[str, Any] = dict(BASE_DEFAULTS)
        for klass in reversed(cls.__mro__):
            merged.update(klass.__dict__.get("defaults", {}))
        return merged

    @classmethod
    def resolve_hparams(cls, overrides: Dict[str, Any]) -> Dict[str, Any]:
        from ganzoo.optimizers import OPTIMIZERS

        hp = cls.default_hparams()
        chosen = overrides.get("optimizer", hp["optimizer"])
        if chosen not in OPTIMIZERS:
            raise HyperparameterError(f"optimizer: {OPTIMIZERS.unknown_message(chosen)}")
        for key, value in OPTIMIZERS.get(chosen).hparams.items():  # e.g. sgd's momentum
            hp.setdefault(key, value)
        minimum: Dict[str, int] = {}
        for klass in reversed(cls.__mro__):
            minimum.update(vars(klass).get("hp_minimum", {}))
        for key, value in overrides.items():
            if key not in hp:
                raise HyperparameterError(
                    f"unknown hyperparameter {key!r} for variant {cls.registered_name or cls.__name__!r}; "
                    f"valid: {', '.join(sorted(hp))}")
            rule = config.like(hp[key], minimum.get(key))
            if key in LEARNING_RATES:
                rule = dataclasses.replace(rule, rule=_learning_rate)
            try:
                hp[key] = config.check_value(value, rule, f"hyperparameter {key!r}")
            except ConfigError as err:
                raise HyperparameterError(str(err)) from None
        return hp

    @classmethod
    def hparams_added_later(cls) -> Dict[str, Any]:
        merged: Dict[str, Any] = {}
        for klass in reversed(cls.__mro__):
            merged.update(vars(klass).get("hp_added_later", {}))
        return merged

    @property
    def name(self) -> str:
        return self.registered_name or type(self).__name__

    @property
    def n_critic(self) -> int:
        return int(self.hp["n_critic"])

    # ---- the parts a variant writes ----------------------------------------------
    def d_loss(self, d_real: Tensor, d_fake: Tensor) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} must define d_loss(d_real, d_fake)")

    def g_loss(self, d_fake: Tensor) -> Tensor:
        """G's loss from D's outputs on fakes. A variant may define ``g_loss(self, d_fake,
        d_real)`` instead: the default G step then also passes D's outputs on a fresh real
        batch (labels as for ``d_loss``, no gradient to D), and counts that batch in
        :meth:`real_images_per_step`."""
        raise NotImplementedError(f"{type(self).__name__} must define g_loss(d_fake) or g_loss(d_fake, d_real)")

    def d_penalty(self, D: nn.Module, real: Tensor, fake: Tensor,
                  labels: Optional[Tensor], fake_labels: Optional[Tensor]) -> Optional[Tensor]:
        """An extra term added to D's loss (e.g. a gradient penalty), or None."""
        return None

    def after_d_step(self, D: nn.Module) -> None:
        """Called after every D optimizer step (e.g. WGAN's weight clipping)."""

    def prepare_nets(self, G: nn.Module, D: nn.Module):
        """Adapt freshly built nets (e.g. add spectral norm to D). Returns (G, D)."""
        return G, D

    def build_nets(self, build: Callable[..., tuple], shape) -> tuple:
        """Make (G, D) with the run's architecture builder: ``build(shape, **overrides)``
        returns that architecture's (G, D) for samples of ``shape`` (``z_dim=`` may be
        overridden). By default G and D for the data, D rebuilt for ``d_input_shape`` when
        that differs, then ``prepare_nets``. BEGAN overrides it to make an autoencoder D."""
        shape = tuple(shape)
        G, D = build(shape)
        d_shape = tuple(self.d_input_shape(shape))
        if d_shape != shape:  # e.g. PacGAN: D on m samples side by side
            _, D = build(d_shape)
        return self.prepare_nets(G, D)

    def d_input_shape(self, shape):
        """The sample shape D is built for (default: the data's). PacGAN's D takes m samples
        side by side; its ``prepare_nets`` then wraps D to pack them."""
        return tuple(shape)

    def net_options(self) -> Dict[str, Any]:
        """Keyword options for the architecture builder (``nets.build(..., **options)``).

        By default: ``d_norm`` (D's normalisation: "batch", "layer" or "none") when the
        variant's hyperparameters have one, e.g. ``d_norm="none"`` for a critic under a
        gradient penalty; the builder rejects a value it does not support.
        """
        return {"d_norm": self.hp["d_norm"]} if "d_norm" in self.hp else {}

    def aux_losses(self, d_out_real, d_out_fake, labels, fake_labels) -> Optional[Tensor]:
        """Extra D loss from D's auxiliary outputs (AC-GAN's class head), or None."""
        return None

    def g_aux_loss(self, d_out_fake, fake_labels) -> Optional[Tensor]:
        """Extra G loss from D's auxiliary outputs, or None."""
        return None

    # ---- the default step --------------------------------------------------------
    def d_step(self, ctx: StepContext) -> Dict[str, Tensor]:
        """One discriminator update; returns its loss terms as device tensors."""
        G, D = ctx.G, ctx.D
        real, labels = ctx.real_batch(ctx.batch_size)
        fake_labels = ctx.random_labels() if self.conditional else None
        with torch.no_grad(), ctx.autocast():
            fake = G(ctx.noise(), fake_labels)
        with ctx.autocast():
            out_real = D(real, labels if self.conditional else None)
            out_fake = D(fake, fake_labels)
        loss = self.d_loss(d_logits(out_real), d_logits(out_fake))
        logs = {"d_loss": loss.detach()}
        aux = self.aux_losses(out_real, out_fake, labels, fake_labels)
        if aux is not None:
            loss = loss + aux
            logs["d_aux"] = aux.detach()
        penalty = self.d_penalty(D, real, fake, labels, fake_labels)
        if penalty is not None:
            loss = loss + penalty
            logs["d_penalty"] = penalty.detach()
        ctx.opt_d.zero_grad(set_to_none=True)
        ctx.backward(loss, ctx.opt_d)
        logs["grad_norm_d"] = grad_norm(D)
        ctx.step(ctx.opt_d)
        self.after_d_step(D)
        logs["d_real"] = d_logits(out_real).detach().mean()
        logs["d_fake"] = d_logits(out_fake).detach().mean()
        return logs

    def g_step(self, ctx: StepContext) -> Dict[str, Tensor]:
        """One generator update; D's parameters take no gradient."""
        G, D = ctx.G, ctx.D
        fake_labels = ctx.random_labels() if self.conditional else None
        with ctx.frozen(D):
            with ctx.autocast():
                out_fake = D(G(ctx.noise(), fake_labels), fake_labels)
            if self.g_loss_sees_real():
                real, labels = ctx.real_batch(ctx.batch_size)
                with torch.no_grad(), ctx.autocast():
                    out_real = D(real, labels if self.conditional else None)
                loss = self.g_loss(d_logits(out_fake), d_logits(out_real))
            else:
                loss = self.g_loss(d_logits(out_fake))
            logs = {"g_loss": loss.detach()}
            aux = self.g_aux_loss(out_fake, fake_labels)
            if aux is not None:
                loss = loss + aux
                logs["g_aux"] = aux.detach()
            ctx.opt_g.zero_grad(set_to_none=True)
            ctx.backward(loss, ctx.opt_g)
        logs["grad_norm_g"] = grad_norm(G)
        ctx.step(ctx.opt_g)
        return logs

    def train_step(self, ctx: StepContext) -> Dict[str, Tensor]:
        """``n_critic`` D steps, then one G step. Returns the last values as device tensors.

        The keys must be the same at every step (the trainer records them per step).
        """
        for _ in range(self.n_critic):
            logs = self.d_step(ctx)
        logs.update(self.g_step(ctx))
        return logs

    def real_images_per_step(self, batch_size: int) -> int:
        """Real samples shown to D in one ``train_step`` (for img/s); a two-argument
        ``g_loss`` adds the G step's real batch."""
        return (self.n_critic + self.g_loss_sees_real()) * batch_size


VARIANTS.expected = Variant  # what a plugin entry point must give (ganzoo.registry.load_plugins)


@functools.lru_cache(maxsize=None)
def _takes_d_real(g_loss) -> bool:
    """Once per function, not per step: the signature is read on the training path."""
    params = [p for p in inspect.signature(g_loss).parameters.values()
              if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(params) >= 3  # self, d_fake, d_real


LEARNING_RATES = ("lr_g", "lr_d")


def _learning_rate(value: float) -> Optional[str]:
    return "must be a learning rate > 0" if value <= 0 else None  # NaN: the finite check's
