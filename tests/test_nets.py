"""Architectures: shapes per image size and channels, conditional forms, options, errors."""
import pytest
import torch
from torch import nn

from ganzoo import nets
from ganzoo.nets.resnet import ConditionalBatchNorm2d
from ganzoo.registry import ARCHS

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # small nets: faster on one thread


def run(G, D, shape, z_dim=16, batch=3, num_classes=0):
    y = torch.randint(num_classes, (batch,)) if num_classes else None
    x = G(torch.randn(batch, z_dim), y)
    assert x.shape == (batch, *shape)
    return x, D(x, y)


def test_architectures_are_registered_with_descriptions():
    described = dict(ARCHS.describe())
    for name in ("mlp", "dcgan", "resnet"):
        assert described[name], name


@pytest.mark.parametrize("side", [8, 28, 32, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_dcgan_shapes_per_size_and_channels(side, channels):
    shape = (channels, side, side)
    G, D = nets.build("dcgan", shape, z_dim=16)
    x, out = run(G, D, shape)
    assert out.shape == (3,)
    assert x.min() >= -1 and x.max() <= 1  # tanh output, like the data
    # DCGAN: strided convolutions only, no pooling and no hidden linear layer in D.
    assert not any(isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)) for m in D.modules())
    assert sum(isinstance(m, nn.Linear) for m in D.modules()) == 1


@pytest.mark.parametrize("shape", [(1, 16, 16), (3, 32, 31), (2,), (1, 28)])
def test_dcgan_unsupported_shapes_name_the_supported_sizes(shape):
    with pytest.raises(ValueError, match=r"8×8, 28×28, 32×32, 64×64"):
        nets.build("dcgan", shape)


def test_dcgan_norms_in_g_and_d():
    G, D = nets.build("dcgan", (1, 28, 28))
    assert any(isinstance(m, nn.BatchNorm2d) for m in G.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in D.modules())  # the paper's D
    first_conv = next(m for m in D.modules() if isinstance(m, nn.Conv2d))
    assert first_conv.in_channels == 1

    _, D_none = nets.build("dcgan", (1, 28, 28), d_norm="none")
    assert not any(isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)) for m in D_none.modules())
    _, D_layer = nets.build("dcgan", (1, 28, 28), d_norm="layer")
    assert any(isinstance(m, nn.GroupNorm) and m.num_groups == 1 for m in D_layer.modules())
    assert not any(isinstance(m, nn.BatchNorm2d) for m in D_layer.modules())
    with pytest.raises(ValueError, match="'batch', 'layer', 'none'"):
        nets.build("dcgan", (1, 28, 28), d_norm="instance")


def test_critic_without_norm_scores_each_sample_alone():
    # Why a gradient-penalty critic has no BatchNorm: with it, one sample's score depends on the batch.
    torch.manual_seed(0)
    x = torch.randn(4, 1, 8, 8)
    for d_norm, independent in (("batch", False), ("none", True), ("layer", True)):
        _, D = nets.build("dcgan", (1, 8, 8), d_norm=d_norm)
        alone = D(x[:1])
        together = D(x)[:1]
        assert torch.allclose(alone, together, atol=1e-5) == independent, d_norm


@pytest.mark.parametrize("arch,shape", [("dcgan", (1, 28, 28)), ("dcgan", (3, 32, 32)), ("resnet", (3, 32, 32)),
                                        ("mlp", (2,))])
def test_conditional_forms(arch, shape):
    k = 5
    torch.manual_seed(0)
    G, D = nets.build(arch, shape, z_dim=16, num_classes=k, conditioning="concat")
    _, out = run(G, D, shape, num_classes=k)
    assert out.shape == (3,)
    with pytest.raises(ValueError, match="labels"):
        D(torch.randn(2, *shape), None)

    G, D = nets.build(arch, shape, z_dim=16, num_classes=k, conditioning="auxiliary")
    _, (logit, classes) = run(G, D, shape, num_classes=k)
    assert logit.shape == (3,) and classes.shape == (3, k)

    G, D = nets.build(arch, shape, z_dim=16, num_classes=k, conditioning="projection")
    D.eval()
    x = torch.randn(2, *shape)
    y0, y1 = torch.zeros(2, dtype=torch.long), torch.ones(2, dtype=torch.long)
    # The label enters only as <embed(y), phi(x)>: the difference of two labels' scores is
    # the inner product of the difference of their embeddings with D's features.
    features = {}
    D.head.register_forward_hook(lambda m, args, out: features.__setitem__("h", args[0]))
    diff = D(x, y1) - D(x, y0)
    emb = D.head.projection.weight
    expected = (features["h"] * (emb[1] - emb[0])).sum(dim=1)
    assert torch.allclose(diff, expected, atol=1e-5)
    assert not torch.allclose(diff, torch.zeros(2))


def test_conditional_generators_follow_the_label():
    for arch, shape in (("dcgan", (1, 28, 28)), ("resnet", (3, 32, 32)), ("mlp", (2,))):
        torch.manual_seed(0)
        G, _ = nets.build(arch, shape, z_dim=16, num_classes=4, conditioning="projection")
        G.eval()
        with torch.no_grad():
            for m in G.modules():  # give the label a visible effect at initialisation
                if isinstance(m, nn.Embedding):
                    nn.init.normal_(m.weight)
            z = torch.randn(1, 16).repeat(2, 1)
            x = G(z, torch.tensor([0, 1]))
        assert not torch.allclose(x[0], x[1]), arch


@pytest.mark.parametrize("channels", [1, 3])
def test_resnet_cifar_nets(channels):
    shape = (channels, 32, 32)
    G, D = nets.build("resnet", shape, z_dim=16)
    x, out = run(G, D, shape, batch=2)
    assert out.shape == (2,)
    assert G.linear.out_features == 4 * 4 * 256 and len(G.blocks) == 3
    assert len(D.blocks) == 4 and D.head.linear.in_features == 128
    assert not any(isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)) for m in D.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in G.modules())


def test_resnet_conditional_g_uses_conditional_batchnorm():
    G, _ = nets.build("resnet", (3, 32, 32), z_dim=16, num_classes=10, conditioning="projection")
    cbn = [m for m in G.modules() if isinstance(m, ConditionalBatchNorm2d)]
    assert len(cbn) == 6 and all(m.gamma is not None and m.gamma.num_embeddings == 10 for m in cbn)
    G_plain, _ = nets.build("resnet", (3, 32, 32), z_dim=16)
    assert all(m.gamma is None for m in G_plain.modules() if isinstance(m, ConditionalBatchNorm2d))


@pytest.mark.parametrize("shape", [(3, 64, 64), (1, 28, 28), (2,)])
def test_resnet_is_32px_only(shape):
    with pytest.raises(ValueError, match="32×32"):
        nets.build("resnet", shape)


def test_options_are_validated_per_architecture():
    with pytest.raises(ValueError, match=r"takes no option 'width'; valid options: d_norm"):
        nets.build("dcgan", (1, 8, 8), width=3)
    with pytest.raises(ValueError, match="mlp.*d_norm must be 'none'"):
        nets.build("mlp", (2,), d_norm="batch")
    with pytest.raises(ValueError, match="resnet.*'none'"):
        nets.build("resnet", (3, 32, 32), d_norm="batch")
    G, D = nets.build("mlp", (2,), d_norm="none")
    assert D(G(torch.randn(2, 100))).shape == (2,)


def test_toy_mlp_is_the_unrolled_notebooks_2x128_tanh_nets():
    from torch import nn

    G, D = nets.build("toy-mlp", (2,), z_dim=2, num_classes=8, conditioning="concat")
    for net in (G, D):
        linears = [m for m in net.body if isinstance(m, nn.Linear)]
        assert [m.out_features for m in linears] == [128, 128]
        assert all(isinstance(m, nn.Tanh) for m in net.body if not isinstance(m, nn.Linear))
    z, y = torch.randn(5, 2), torch.randint(8, (5,))
    assert G(z, y).shape == (5, 2) and D(G(z, y), y).reshape(-1).shape == (5,)
    with pytest.raises(ValueError, match="toy-mlp.*2D points"):
        nets.build("toy-mlp", (1, 28, 28))


def test_dcgan_small_is_the_dcgan_net_at_half_the_channels():
    G, D = nets.build("dcgan", (1, 28, 28))
    Gs, Ds = nets.build("dcgan-small", (1, 28, 28), z_dim=16)
    convs = lambda m: [l.out_channels for l in m.modules() if isinstance(l, (nn.Conv2d, nn.ConvTranspose2d))]
    assert convs(G)[:-1] == [128, 64] and convs(Gs)[:-1] == [64, 32]  # last layer: image channels
    assert convs(D) == [64, 128] and convs(Ds) == [32, 64]
    x, out = run(Gs, Ds, (1, 28, 28))
    assert x.shape[1:] == (1, 28, 28) and out.shape == (3,)
    with pytest.raises(ValueError, match="'dcgan-small'.*28×28"):
        nets.build("dcgan-small", (1, 16, 16))


def test_mlp_small_is_the_seed_mlp_at_half_width():
    widths = lambda m: [l.out_features for l in m.modules() if isinstance(l, nn.Linear)]
    G, D = nets.build("mlp", (1, 8, 8))
    Gs, Ds = nets.build("mlp-small", (1, 8, 8), z_dim=16)
    assert widths(G) == [256, 512, 1024, 64] and widths(Gs) == [128, 256, 512, 64]
    assert widths(D)[:-1] == [1024, 512, 256] and widths(Ds)[:-1] == [512, 256, 128]
    x, out = run(Gs, Ds, (1, 8, 8))
    assert x.shape[1:] == (1, 8, 8) and out.shape == (3,)
    with pytest.raises(ValueError, match="'mlp-small' is for images"):
        nets.build("mlp-small", (2,))
