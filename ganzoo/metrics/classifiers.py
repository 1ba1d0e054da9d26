"""Small image classifiers, trained deterministically on the CPU, that serve as ganzoo's
offline feature extractors (penultimate layer for FID/KID/precision-recall, logits for IS).

Why our own: torch-fidelity's extractors (Inception-v3, VGG-16, CLIP, DINOv2) download
their weights, which an offline machine cannot. Domain classifiers as FID feature
spaces are common practice for small datasets (e.g. the LeNet "MNIST FID" of
Binkowski et al. 2018, arXiv:1801.01401, and the classifier-based mode counts of
VEEGAN, arXiv:1705.07761); the numbers are not comparable with Inception FID and are
always reported under the extractor's name.

Nets: ``conv -> ReLU -> 2x2 max-pool`` blocks, one hidden fully connected layer (the
features), a linear classifier (the logits) -- LeNet-5 (LeCun et al. 1998) for 28x28
grey, a two-block net for 8x8 grey, a three-block net for 32x32 colour.

Training is reproducible bit for bit on a given machine and library version: fixed
seeds for initialisation, order and augmentation, one CPU thread (which is also the
fastest for such small nets on a busy CPU) and ``torch.use_deterministic_algorithms``.
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import asdict, dataclass
from typing import Iterator, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass(frozen=True)
class NetSpec:
    """An architecture: conv blocks ``(out_channels, kernel, padding)``, then ``hidden`` units."""

    in_channels: int
    size: int
    convs: Tuple[Tuple[int, int, int], ...]
    hidden: int
    num_classes: int = 10

    def build(self) -> "ClassifierNet":
        return ClassifierNet(self)


@dataclass(frozen=True)
class TrainRecipe:
    """How a classifier is trained: Adam with a one-cycle schedule peaking at ``lr``,
    ``steps`` mini-batches of ``batch_size``, random whole-batch shifts of up to ``shift``
    pixels, ``holdout`` held-out samples when the dataset has a single split."""

    steps: int
    batch_size: int = 100
    lr: float = 3e-3
    shift: int = 2
    seed: int = 0
    holdout: int = 2000

    def to_dict(self):
        return asdict(self)


class ClassifierNet(nn.Module):
    """conv blocks -> flatten -> hidden (ReLU; the features) -> logits.

    Takes float images in [-1, 1] (ganzoo's pixel scale), ``[B, C, size, size]``.
    """

    def __init__(self, spec: NetSpec):
        super().__init__()
        self.spec = spec
        layers, c, s = [], spec.in_channels, spec.size
        for out, k, p in spec.convs:
            layers += [nn.Conv2d(c, out, k, padding=p), nn.ReLU(), nn.MaxPool2d(2)]
            c, s = out, (s + 2 * p - k + 1) // 2
        if s < 1:
            raise ValueError(f"conv blocks {spec.convs} shrink a {spec.size}px image to nothing")
        self.body = nn.Sequential(*layers, nn.Flatten())
        self.hidden = nn.Linear(c * s * s, spec.hidden)
        self.head = nn.Linear(spec.hidden, spec.num_classes)

    def features_and_logits(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        h = F.relu(self.hidden(self.body(x)))
        return h, self.head(h)

    def forward(self, x: Tensor) -> Tensor:
        return self.features_and_logits(x)[1]


@contextlib.contextmanager
def deterministic_cpu(seed: int) -> Iterator[None]:
    """Seeded RNG, one thread, deterministic algorithms; everything restored afterwards."""
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    try:
        torch.set_num_threads(1)
        torch.use_deterministic_algorithms(True)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            yield
    finally:
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
        torch.set_num_threads(threads)


def _shift(x: Tensor, shift: int, gen: torch.Generator) -> Tensor:
    """Translate the whole batch by a random (dx, dy) in [-shift, shift], padding with -1."""
    if shift <= 0:
        return x
    h, w = x.shape[-2:]
    padded = F.pad(x, (shift,) * 4, value=-1.0)
    dx, dy = torch.randint(0, 2 * shift + 1, (2,), generator=gen).tolist()
    return padded[..., dy:dy + h, dx:dx + w]


def train_classifier(spec: NetSpec, x: Tensor, y: Tensor, recipe: TrainRecipe) -> ClassifierNet:
    """Train a fresh ``spec`` net on ``(x, y)`` (CPU float images in [-1, 1]), reproducibly."""
    x, y = x.detach().cpu().float(), y.detach().cpu().long()
    if x.shape[1:] != (spec.in_channels, spec.size, spec.size):
        raise ValueError(f"classifier for [{spec.in_channels}, {spec.size}, {spec.size}] images "
                         f"got training images of shape {list(x.shape[1:])}")
    with deterministic_cpu(recipe.seed):
        net = spec.build()
        gen = torch.Generator().manual_seed(recipe.seed)
        opt = torch.optim.Adam(net.parameters(), lr=recipe.lr / 10)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=recipe.lr, total_steps=recipe.steps)
        n, bs = len(x), min(recipe.batch_size, len(x))
        order, pos = torch.randperm(n, generator=gen), 0
        net.train()
        for _ in range(recipe.steps):
            if pos + bs > n:
                order, pos = torch.randperm(n, generator=gen), 0
            idx = order[pos:pos + bs]
            pos += bs
            loss = F.cross_entropy(net(_shift(x[idx], recipe.shift, gen)), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            if not math.isfinite(loss.item()):
                raise RuntimeError(f"classifier training diverged (loss {loss.item()})")
        net.eval()
        net.requires_grad_(False)
    return net


@torch.no_grad()
def predict(net: ClassifierNet, x: Tensor, batch_size: int = 2000) -> Tensor:
    """Class indices for float images in [-1, 1] (on the net's device)."""
    dev = next(net.parameters()).device
    return torch.cat([net(x[i:i + batch_size].to(dev).float()).argmax(1).cpu()
                      for i in range(0, len(x), batch_size)]) if len(x) else torch.empty(0, dtype=torch.long)


def accuracy(net: ClassifierNet, x: Tensor, y: Tensor) -> float:
    return float((predict(net, x) == y.cpu()).float().mean())
