"""Shared test settings: small, CPU-only, offline."""
import os

import pytest

# Keep any cache the code under test writes out of the user's home.
os.environ.setdefault("GANZOO_CACHE", os.path.join(os.path.dirname(__file__), "..", ".pytest_cache", "ganzoo"))


@pytest.fixture
def tiny_config():
    from ganzoo.trainer import TrainConfig

    return lambda **kw: TrainConfig(**{"steps": 20, "batch_size": 32, "log_every": 10, "device": "cpu", **kw})


@pytest.fixture(scope="module")
def one_torch_thread():
    """Small nets run faster on one thread (and test files may share the cores)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
