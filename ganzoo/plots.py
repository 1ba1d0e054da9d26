"""Pictures of samples: an image grid, or a scatter over the real data for 2D sets."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

from torch import Tensor


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only; no display on benchmark machines
    import matplotlib.pyplot as plt

    return plt


def draw_samples(ax, samples: Tensor, data, max_real: int = 2000) -> None:
    """Draw ``samples`` on ``ax``: a grid of images, or 2D points over the real data."""
    samples = samples.detach().float().cpu()
    if data.kind == "points":
        real = data.x[:max_real].detach().float().cpu()
        ax.scatter(real[:, 0], real[:, 1], s=4, c="tab:blue", alpha=0.3, label="real")
        ax.scatter(samples[:, 0], samples[:, 1], s=4, c="tab:red", alpha=0.5, label="generated")
        if data.modes is not None:
            modes = data.modes.cpu()
            ax.scatter(modes[:, 0], modes[:, 1], marker="x", c="black", s=30, label="modes")
        ax.set_aspect("equal")
        ax.legend(loc="upper right", fontsize="small", markerscale=3)
        return
    from torchvision.utils import make_grid

    nrow = max(1, int(math.ceil(math.sqrt(samples.shape[0]))))
    grid = make_grid((samples.clamp(-1, 1) + 1) / 2, nrow=nrow, padding=1, pad_value=1.0)
    image = grid.permute(1, 2, 0).numpy()
    ax.imshow(image[..., 0] if image.shape[2] == 1 or samples.shape[1] == 1 else image,
              cmap="gray" if samples.shape[1] == 1 else None, vmin=0, vmax=1, interpolation="nearest")
    ax.axis("off")


def save_samples(samples: Tensor, data, path, title: Optional[str] = None) -> Path:
    """Write a PNG of ``samples`` (see :func:`draw_samples`)."""
    plt = _pyplot()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(5, 5), dpi=100)
    draw_samples(ax, samples, data)
    if title:
        ax.set_title(title, fontsize="small")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
