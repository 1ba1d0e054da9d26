"""2D Gaussian mixtures: the mode-collapse benchmarks of VEEGAN and PacGAN.

VEEGAN (Srivastava et al., 2017, arXiv:1705.07761) introduced the "2D Ring" and
"2D Grid" mixtures as tests of mode collapse; PacGAN (Lin et al., 2018,
arXiv:1712.04086) reused them with these parameters (checked against the PacGAN
authors' code, github.com/fjxmlzn/PacGAN, synthetic_data_experiments):

- ring8: 8 equal-weight Gaussians, means (cos 2πk/8, sin 2πk/8), k = 0..7, σ = 0.01;
- grid25: 25 equal-weight Gaussians, means {-4,-2,0,2,4}², σ = 0.05.

Both papers count a sample as high quality when it lies within 3σ of a mode, and a
mode as recovered when enough samples fall there; ``modes`` and ``mode_std`` carry
what such metrics need. The coordinates are the papers' own, not rescaled to
[-1, 1], so mode counts and distances compare with published numbers (a generator
with an unbounded, linear output layer is expected, as in those papers).

Each split is a fixed sample of ``n`` points drawn with a fixed seed (train 0,
test 1, unless ``seed`` is given), so reference sets are identical everywhere:
NumPy's legacy ``RandomState`` stream is frozen by NumPy's compatibility policy.
"""
from __future__ import annotations

import itertools
import math
from typing import Optional

import numpy as np
import torch

from ganzoo.data.base import TensorData
from ganzoo.data.common import dataset, int_option, resolve_split

SPLIT_SEEDS = {"train": 0, "test": 1}
DEFAULT_N = 50_000

RING8_MODES = np.array([(math.cos(2 * math.pi * k / 8), math.sin(2 * math.pi * k / 8))
                        for k in range(8)])
RING8_STD = 0.01
# Mode (-4 + 2a, -4 + 2b) has label 5a + b: the order of itertools.product in the PacGAN code.
GRID25_MODES = np.array(list(itertools.product(range(-4, 5, 2), repeat=2)), dtype=np.float64)
GRID25_STD = 0.05


def gaussian_mixture(name: str, modes: np.ndarray, std: float, *, split: Optional[str],
                     n, seed, description: str, paper: str) -> TensorData:
    """``n`` points from the equal-weight mixture of N(mode, std² I), labelled by mode."""
    split = resolve_split(name, split)
    n = int_option(name, "n", n)
    seed = SPLIT_SEEDS[split] if seed is None else int_option(name, "seed", seed, minimum=0)
    rng = np.random.RandomState(seed)
    labels = rng.randint(len(modes), size=n)
    points = modes[labels] + std * rng.standard_normal((n, 2))
    return TensorData(
        name=name,
        x=torch.from_numpy(points.astype(np.float32)),
        y=torch.from_numpy(labels.astype(np.int64)),
        num_classes=len(modes),
        kind="points",
        split=split,
        source=f"{description}; {n} points drawn with seed {seed}",
        modes=torch.from_numpy(modes.astype(np.float32)),
        mode_std=std,
        info={"paper": paper, "seed": seed},
    )


@dataset("ring8")
def ring8(*, split=None, n=DEFAULT_N, seed=None) -> TensorData:
    """8 Gaussians on the unit circle, sigma 0.01 (VEEGAN/PacGAN 2D ring; mode collapse)."""
    return gaussian_mixture("ring8", RING8_MODES, RING8_STD, split=split, n=n, seed=seed,
                            description="8 Gaussians at (cos 2πk/8, sin 2πk/8), σ=0.01",
                            paper="VEEGAN arXiv:1705.07761; PacGAN arXiv:1712.04086")


@dataset("grid25")
def grid25(*, split=None, n=DEFAULT_N, seed=None) -> TensorData:
    """25 Gaussians on the grid {-4,-2,0,2,4}^2, sigma 0.05 (VEEGAN/PacGAN 2D grid)."""
    return gaussian_mixture("grid25", GRID25_MODES, GRID25_STD, split=split, n=n, seed=seed,
                            description="25 Gaussians at {-4,-2,0,2,4}², σ=0.05",
                            paper="VEEGAN arXiv:1705.07761; PacGAN arXiv:1712.04086")
