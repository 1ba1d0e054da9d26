"""Stacked MNIST: three MNIST digits as the R, G, B channels of one 28x28 image.

The mode-collapse benchmark of VEEGAN (Srivastava et al. 2017, arXiv:1705.07761),
also used by PacGAN (Lin et al. 2018, arXiv:1712.04086): 1,000 modes, one per triple
of digits. As in the PacGAN authors' code (github.com/fjxmlzn/PacGAN,
stacked_MNIST_experiments), each sample stacks three MNIST images drawn uniformly at
random with replacement, and the training set holds 128,000 samples (option ``n``;
1.2 GB as float32 -- pass a smaller ``n`` on a small machine). Metrics count modes with
the MNIST classifier on 26,000 generated samples (``info["mode_samples"]``).

The label is the triple read as a number, ``100 * d_R + 10 * d_G + d_B`` (1,000 classes).
``split`` is MNIST's split; with MNIST's test split alone on disk (as here) both the
training set and the reference set are built from it. The draw is fixed by ``seed``
(default: 0 for MNIST's train split, 1 for its test split).
"""
from __future__ import annotations

import numpy as np
import torch

from ganzoo.data.base import TensorData
from ganzoo.data.common import dataset, int_option

SPLIT_SEEDS = {"train": 0, "test": 1}
DEFAULT_N = 128_000  # PacGAN's num_training_sample
MODE_SAMPLES = 26_000  # VEEGAN / PacGAN: generated samples for the mode count
CHANNELS = 3


@dataset("stacked-mnist")
def stacked_mnist(*, split=None, data_root=None, download=False, n=DEFAULT_N, seed=None) -> TensorData:
    """Three MNIST digits stacked as RGB, 1,000 modes (VEEGAN/PacGAN mode-collapse test)."""
    from ganzoo.registry import DATASETS

    base = DATASETS.get("mnist")(split=split, data_root=data_root, download=download)
    n = int_option("stacked-mnist", "n", n)
    seed = SPLIT_SEEDS[base.split] if seed is None else int_option("stacked-mnist", "seed", seed, minimum=0)
    idx = torch.from_numpy(np.random.RandomState(seed).randint(len(base), size=(n, CHANNELS)))
    x = base.x[:, 0][idx]  # [n, 3, 28, 28]
    digits = base.y[idx]  # [n, 3]
    y = digits[:, 0] * 100 + digits[:, 1] * 10 + digits[:, 2]
    return TensorData(
        name="stacked-mnist", x=x, y=y, num_classes=10 ** CHANNELS, kind="image", split=base.split,
        source=f"{n} stacks of 3 images drawn with seed {seed} from {base.source}",
        info={"paper": "VEEGAN arXiv:1705.07761; PacGAN arXiv:1712.04086", "seed": seed,
              "mode_samples": MODE_SAMPLES, "classes": "100*R + 10*G + B digit"})
