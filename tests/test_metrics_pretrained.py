"""torch-fidelity's pretrained feature spaces (DINOv2, CLIP) from weights files, offline.

The weights are files of the published architectures (DINOv2 ViT-B/14, CLIP ViT-B/32) with
random values, written once per session; images are few and small (the nets resize them to
224 px). ganzoo's numbers are checked against torch-fidelity's own ``calculate_metrics``
on the same images and the same extractor, through ``fidelity_metrics``, ``ganzoo eval``
and a suite. Without weights, offline, the error is one line naming the file.
"""
import hashlib
import json
import math
import time
from pathlib import Path

import pytest
import torch
import torch_fidelity
from torch import nn

from ganzoo.metrics import WeightsMissing, fidelity_metrics, pretrained_space
from ganzoo.metrics.pretrained import PRETRAINED

pytestmark = pytest.mark.slow


class U8(torch.utils.data.Dataset):
    """Float images in [-1, 1], grey repeated to RGB, as uint8 (computed here, not by ganzoo)."""

    def __init__(self, x):
        x = ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
        self.x = x.expand(-1, 3, -1, -1).contiguous() if x.shape[1] == 1 else x

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i]


def direct(gen, ref, extractor, weights, **metrics):
    return torch_fidelity.calculate_metrics(
        input1=U8(gen), input2=U8(ref), feature_extractor=extractor, feature_extractor_weights_path=str(weights),
        cuda=False, cache=False, save_cpu_ram=True, verbose=False, **metrics)


@pytest.fixture(scope="session")
def dinov2_file(tmp_path_factory):
    """DINOv2 ViT-B/14 in the published checkpoint's layout (mask_token included), random values."""
    from ganzoo.metrics.dinov2 import build

    torch.manual_seed(0)
    net = build("dinov2-vit-b-14")
    with torch.no_grad():  # the defaults leave tokens at 0 and LayerScale at 1: vary them too
        for name, p in net.named_parameters():
            if name in ("cls_token", "pos_embed", "mask_token"):
                p.normal_(0, 0.02)
            elif name.endswith("gamma"):
                p.normal_(1.0, 0.1)
    path = tmp_path_factory.mktemp("dinov2") / "dinov2_vitb14_pretrain.pth"
    torch.save(net.state_dict(), path)
    return path


@pytest.fixture(scope="session")
def clip_file(tmp_path_factory):
    """CLIP ViT-B/32 as OpenAI publishes it (a TorchScript archive, fp16), random values: the
    image encoder and the text projection (torch-fidelity reads the embedding size from it)."""
    from torch_fidelity.feature_extractor_clip import CLIPVisual

    torch.manual_seed(1)

    class Holder(nn.Module):
        def __init__(self):
            super().__init__()
            self.visual = CLIPVisual(512, 224, 12, 768, 32).visual
            self.text_projection = nn.Parameter(torch.randn(512, 512) * 512 ** -0.5)

        def forward(self, x):
            return x * self.text_projection[0, 0]

    path = tmp_path_factory.mktemp("clip") / PRETRAINED["clip-vit-b-32"].file
    with pytest.warns(FutureWarning):  # torch.jit is deprecated, and still what OpenAI's files are
        torch.jit.save(torch.jit.trace(Holder().half(), torch.ones(1, dtype=torch.half)), str(path))
    return path


@pytest.fixture
def empty_hub(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("GANZOO_OFFLINE", "1")
    return tmp_path / "torch" / "hub" / "checkpoints"


def images(n, seed, size=16):
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


# ---- missing weights -------------------------------------------------------------------
@pytest.mark.parametrize("name, file", [("dinov2-vit-b-14", "dinov2_vitb14_pretrain.pth"),
                                        ("dinov2-vit-l-14", "dinov2_vitl14_pretrain.pth"),
                                        ("clip-vit-b-32", "clip-vit-b-32-40d3657159"),
                                        ("inception", "weights-inception-2015-12-05-6726825d.pth")])
def test_offline_without_weights_is_one_line_naming_the_file(empty_hub, name, file):
    t0 = time.perf_counter()
    with pytest.raises(WeightsMissing) as err:
        pretrained_space(name, download=True)
    msg = str(err.value)
    assert time.perf_counter() - t0 < 5
    assert "\n" not in msg and file in msg and str(empty_hub) in msg and "--weights" in msg
    assert "GANZOO_OFFLINE is set" in msg


def test_a_named_weights_file_that_is_not_there_or_not_the_net(empty_hub, tmp_path, clip_file):
    with pytest.raises(WeightsMissing, match="nowhere.pth, which does not exist"):
        pretrained_space("dinov2-vit-b-14", weights=tmp_path / "nowhere.pth")
    wrong = tmp_path / "wrong.pth"
    torch.save({"blocks.0.attn.qkv.weight": torch.zeros(3, 3)}, wrong)
    with pytest.raises(WeightsMissing, match="does not hold the weights of dinov2-vit-b-14: missing"):
        pretrained_space("dinov2-vit-b-14", weights=wrong)
    with pytest.raises(WeightsMissing, match="holds a CLIP ViT with 32 px patches at 224 px, not CLIP ViT-L/14"):
        pretrained_space("clip-vit-l-14", weights=clip_file)
    with pytest.raises(ValueError, match="unknown pretrained feature space 'dinov3'.*dinov2-vit-b-14"):
        pretrained_space("dinov3")


def test_weights_in_torchs_hub_cache_are_found_there(empty_hub, dinov2_file):
    empty_hub.mkdir(parents=True)
    (empty_hub / dinov2_file.name).symlink_to(dinov2_file)
    space = pretrained_space("dinov2-vit-b-14")
    assert space.weights_path == str(empty_hub / dinov2_file.name)
    assert space.name == "dinov2-vit-b-14" and space.extractor == "dinov2-vit-b-14-from-file"
    assert space.sha256 == hashlib.sha256(dinov2_file.read_bytes()).hexdigest()
    assert space.key("frechet_inception_distance") == "FD[dinov2-vit-b-14]"
    assert space.info["official_weights"] is None  # Meta publishes no hash for it


# ---- values equal torch-fidelity's -----------------------------------------------------------
def test_dinov2_fd_kid_pr_equal_torch_fidelity(dinov2_file, tmp_path):
    space = pretrained_space("dinov2-vit-b-14", weights=dinov2_file)
    gen, ref = images(7, 0), images(8, 1)
    ours = fidelity_metrics(gen, ref, space, fid=True, kid=True, prc=True, isc=True, cache=tmp_path,
                            reference_name="t-dinov2-ref")
    want = direct(gen, ref, "dinov2-vit-b-14-from-file", dinov2_file, fid=True, kid=True, prc=True,
                  kid_subset_size=7)
    assert ours["FD[dinov2-vit-b-14]"] == pytest.approx(want["frechet_inception_distance"], rel=1e-5)
    assert ours["FD[dinov2-vit-b-14]"] > 0
    assert ours["KID[dinov2-vit-b-14]"] == pytest.approx(want["kernel_inception_distance_mean"], rel=1e-5)
    assert ours["precision[dinov2-vit-b-14]"] == want["precision"]
    assert ours["recall[dinov2-vit-b-14]"] == want["recall"]
    assert {"density[dinov2-vit-b-14]", "coverage[dinov2-vit-b-14]"} <= set(ours)
    assert not any(k.startswith("IS[") for k in ours)  # no class logits in DINOv2's space
    # the cached reference features give the same numbers
    again = fidelity_metrics(gen, ref, space, kid=False, prc=False, cache=tmp_path, reference_name="t-dinov2-ref")
    assert again["FD[dinov2-vit-b-14]"] == pytest.approx(ours["FD[dinov2-vit-b-14]"], rel=1e-6)


def test_ganzoos_dinov2_equals_the_hub_model_when_its_code_is_cached(dinov2_file):
    """The transcription against facebookresearch/dinov2's own code, where torch.hub has it
    (a machine that ran torch-fidelity's DINOv2 online); skipped elsewhere."""
    repo = next((p for p in sorted(Path(torch.hub.get_dir()).glob("facebookresearch_dinov2_*")) if p.is_dir()), None)
    if repo is None:
        pytest.skip("facebookresearch/dinov2's code is not in torch's hub cache (it is fetched from GitHub)")
    from ganzoo.metrics.dinov2 import build, load_weights

    hub = torch.hub.load(str(repo), "dinov2_vitb14", source="local", pretrained=False).eval()
    state = torch.load(dinov2_file, weights_only=True)
    hub.load_state_dict(state)
    ours = build("dinov2-vit-b-14").eval()
    load_weights(ours, "dinov2-vit-b-14", state, "test")
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        assert torch.allclose(ours(x), hub(x), atol=1e-4)


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")  # torch-fidelity reads CLIP so
def test_clip_fd_equals_torch_fidelity(clip_file, tmp_path):
    with pytest.warns(RuntimeWarning, match="not torch-fidelity's published weights file clip-vit-b-32-40d3"):
        space = pretrained_space("clip-vit-b-32", weights=clip_file)
    assert space.info["official_weights"] is False  # OpenAI's file has a published hash; this is not it
    gen, ref = images(6, 2, size=24), images(6, 3, size=24)
    ours = fidelity_metrics(gen, ref, space, fid=True, kid=False, prc=False, cache=tmp_path)
    want = direct(gen, ref, "clip-vit-b-32", clip_file, fid=True)
    assert ours["FD[clip-vit-b-32]"] == pytest.approx(want["frechet_inception_distance"], rel=1e-5)
    assert ours["FD[clip-vit-b-32]"] > 0


# ---- through `ganzoo eval` and a suite ---------------------------------------------------------
@pytest.fixture(scope="module")
def digits_checkpoint(tmp_path_factory):
    from ganzoo.data import load
    from ganzoo.trainer import TrainConfig, Trainer

    ckpt = tmp_path_factory.mktemp("nsgan") / "checkpoint.pt"
    config = TrainConfig(steps=20, batch_size=32, seed=3, device="cpu", log_every=10)
    Trainer("nsgan", load("digits"), arch="mlp-small", config=config, checkpoint_path=ckpt).fit()
    return ckpt


def test_eval_command_with_dinov2_weights_equals_torch_fidelity(digits_checkpoint, dinov2_file, capsys):
    from ganzoo.cli import main
    from ganzoo.data import load
    from ganzoo.trainer import Trainer

    assert main(["eval", str(digits_checkpoint), "--extractor", "dinov2-vit-b-14", "--weights", str(dinov2_file),
                 "--n", "8", "--kid-subsets", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    trainer = Trainer.from_checkpoint(str(digits_checkpoint))
    gen = trainer.sample(8, seed=trainer.config.seed + 12345)  # eval's stream (see ganzoo.metrics.evaluation)
    want = direct(gen, load("digits").x[:8], "dinov2-vit-b-14-from-file", dinov2_file, fid=True)
    assert out["FD[dinov2-vit-b-14]"] == pytest.approx(want["frechet_inception_distance"], rel=1e-5)
    space = out["protocol"]["feature_spaces"]["dinov2-vit-b-14"]
    assert space["sha256"] == hashlib.sha256(dinov2_file.read_bytes()).hexdigest()
    assert space["fingerprint"] == space["sha256"][:12] and space["title"] == "DINOv2 ViT-B/14"
    assert "FID[ganzoo-digits]" not in out  # only the space asked for
    assert main(["eval", str(digits_checkpoint), "--extractor", "auto,dinov2-vit-b-14", "--weights",
                 str(dinov2_file), "--n", "8", "--kid-subsets", "3"]) == 0
    text = capsys.readouterr().out
    assert "FID[ganzoo-digits]" in text and "FD[dinov2-vit-b-14]" in text and "coverage[dinov2-vit-b-14]" in text
    assert "DINOv2 ViT-B/14" in text and "density/coverage (Naeem et al. 2020): k = 5" in text


def test_eval_command_without_weights_offline_is_one_line(digits_checkpoint, empty_hub, capsys):
    from ganzoo.cli import main

    assert main(["eval", str(digits_checkpoint), "--extractor", "dinov2-vit-b-14", "--n", "8"]) == 2
    err = capsys.readouterr().err.strip()
    assert "dinov2_vitb14_pretrain.pth" in err and "--weights" in err and "Traceback" not in err
    assert len(err.splitlines()) == 1
    assert main(["eval", str(digits_checkpoint), "--extractor", "dinov2-vit-b-14,clip-vit-b-32", "--weights",
                 "x.pth", "--n", "8"]) == 2
    assert "one pretrained feature space" in capsys.readouterr().err
    assert main(["eval", str(digits_checkpoint), "--extractor", "dinov2-vit-b-15", "--n", "8"]) == 2
    assert "unknown extractor 'dinov2-vit-b-15'; valid: auto" in capsys.readouterr().err
    # beside the offline space: one line for the missing one, and the offline metrics
    assert main(["eval", str(digits_checkpoint), "--extractor", "auto,dinov2-vit-b-14", "--n", "8", "--json"]) == 0
    out = capsys.readouterr().out
    metrics = json.loads(out[out.index("{"):])
    assert math.isfinite(metrics["FID[ganzoo-digits]"]) and not any("dinov2" in k for k in metrics if k != "protocol")
    assert "dinov2_vitb14_pretrain.pth" in metrics["protocol"]["feature_spaces_missing"]["dinov2-vit-b-14"]


def suite_file(tmp_path, extractors):
    path = tmp_path / "tiny.toml"
    path.write_text(f"""
name = "tiny"
seeds = [0]
variants = ["nsgan"]
workers = 1
[train]
steps = 20
batch_size = 32
log_every = 10
eval_every = 0
[eval]
samples = 8
final_samples = 8
sample_grid = 4
kid_subsets = 3
extractors = {json.dumps(extractors)}
[datasets.digits]
arch = "mlp-small"
""")
    return path


def test_a_suites_extra_space_equals_torch_fidelity_and_offline_runs_without_it(
        empty_hub, dinov2_file, tmp_path, capsys):
    from ganzoo.bench.driver import bench
    from ganzoo.bench.store import RunStore
    from ganzoo.data import load
    from ganzoo.trainer import Trainer

    suite = suite_file(tmp_path, ["dinov2-vit-b-14"])
    # offline, no weights: one line, and the run has its offline metrics
    lines = []
    bench(str(suite), tmp_path / "off", progress=False, report=False, log=lines.append)
    notes = [x for x in lines if "dinov2_vitb14_pretrain.pth" in x]
    assert len(notes) == 1 and "\n" not in notes[0] and "--weights" in notes[0]
    [rec] = RunStore(tmp_path / "off").records()
    assert rec["status"] in ("ok", "diverged") and math.isfinite(rec["final"]["FID[ganzoo-digits]"])
    assert not any("dinov2" in k for k in rec["final"])
    assert "dinov2_vitb14_pretrain.pth" in rec["protocol"]["feature_spaces_missing"]["dinov2-vit-b-14"]
    assert rec["spec"]["extractors"] == ["dinov2-vit-b-14"]  # the run's spec carries its extra spaces

    # the weights in torch's hub cache: the suite's FD equals torch-fidelity's on the run's final samples
    empty_hub.mkdir(parents=True)
    (empty_hub / dinov2_file.name).symlink_to(dinov2_file)
    bench(str(suite), tmp_path / "on", progress=False, report=False, log=lambda _: None)
    [rec] = RunStore(tmp_path / "on").records()
    assert "dinov2-vit-b-14" in rec["protocol"]["feature_spaces"]
    trainer = Trainer.from_checkpoint(str(tmp_path / "on" / "checkpoints" / f"{rec['run_id']}.pt"))
    gen = trainer.sample(8, seed=trainer.config.seed + 12345)
    want = direct(gen, load("digits").x[:8], "dinov2-vit-b-14-from-file", dinov2_file, fid=True)
    assert rec["final"]["FD[dinov2-vit-b-14]"] == pytest.approx(want["frechet_inception_distance"], rel=1e-5)
    assert {"density[dinov2-vit-b-14]", "coverage[dinov2-vit-b-14]", "FID[ganzoo-digits]"} <= set(rec["final"])


def test_a_suite_naming_an_unknown_space_is_refused(tmp_path):
    from ganzoo.bench.suite import SuiteError, load_suite

    with pytest.raises(SuiteError, match="unknown feature space.*'dinov2-vit-x-14'.*valid: .*dinov2-vit-l-14"):
        load_suite(suite_file(tmp_path, ["dinov2-vit-x-14"]))
