"""The seed's two losses against the direct formulas on random logits."""
import torch

from ganzoo.registry import VARIANTS


def logits(seed=0, n=257):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, generator=g) * 4, torch.randn(n, generator=g) * 4


def test_vanilla_is_the_minimax_value_function():
    real, fake = logits()
    v = VARIANTS.get("vanilla")()
    d_real, d_fake = torch.sigmoid(real.double()), torch.sigmoid(fake.double())
    expected_d = -(torch.log(d_real) + torch.log(1 - d_fake)).mean()
    expected_g = torch.log(1 - d_fake).mean()  # G minimises log(1 - D(G(z)))
    torch.testing.assert_close(v.d_loss(real, fake).double(), expected_d, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(v.g_loss(fake).double(), expected_g, rtol=1e-5, atol=1e-6)


def test_nsgan_generator_maximises_log_d():
    real, fake = logits(1)
    v = VARIANTS.get("nsgan")()
    d_fake = torch.sigmoid(fake.double())
    torch.testing.assert_close(v.g_loss(fake).double(), -torch.log(d_fake).mean(), rtol=1e-5, atol=1e-6)
    # Same D loss as vanilla; equal to BCE on probabilities with labels 1 (real) and 0 (fake).
    bce = torch.nn.functional.binary_cross_entropy
    expected = bce(torch.sigmoid(real.double()), torch.ones(len(real), dtype=torch.double)) + \
        bce(torch.sigmoid(fake.double()), torch.zeros(len(fake), dtype=torch.double))
    torch.testing.assert_close(v.d_loss(real, fake).double(), expected, rtol=1e-5, atol=1e-6)


def test_logit_losses_stay_finite_where_sigmoid_bce_saturates():
    v = VARIANTS.get("nsgan")()
    huge = torch.tensor([80.0, -80.0])
    assert torch.isfinite(v.d_loss(huge, -huge)) and torch.isfinite(v.g_loss(-huge))
    # The saturating form's gradient vanishes when D confidently rejects fakes; NS's does not.
    fake = torch.tensor([-10.0], requires_grad=True)
    VARIANTS.get("vanilla")().g_loss(fake).backward()
    g_vanilla = fake.grad.abs().item()
    fake.grad = None
    v.g_loss(fake).backward()
    assert fake.grad.abs().item() > 1000 * g_vanilla
