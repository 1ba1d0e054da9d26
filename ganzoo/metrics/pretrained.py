"""torch-fidelity's pretrained feature extractors as ganzoo feature spaces, and their weights.

The spaces the field reports in, each under torch-fidelity's name (``--extractor NAME``, a
suite's ``[eval] extractors = [NAME, ...]``):

- ``inception-v3-compat`` (alias ``inception``): the standard FID's Inception-v3 (Heusel et
  al. 2017, arXiv:1706.08500; TF-compatible weights), reported as ``FID[inception]``, the
  name the published values in ``benchmarks/references.toml`` carry;
- ``dinov2-vit-{s,b,l,g}-14``: DINOv2 (Oquab et al. 2023, arXiv:2304.07193), the space
  Stein et al. (NeurIPS 2023, arXiv:2306.04675) found to agree with human judgement where
  Inception does not; reported as ``FD[dinov2-vit-l-14]`` (Fréchet distance);
- ``clip-vit-b-32`` and torch-fidelity's other ``clip-*`` nets: CLIP's image encoder
  (Radford et al. 2021, arXiv:2103.00020; FD in CLIP features, Kynkäänniemi et al. 2023,
  arXiv:2203.06026), ``FD[clip-vit-b-32]``;
- ``vgg16``: VGG-16 (Simonyan & Zisserman 2015), the space of improved precision/recall
  (Kynkäänniemi et al. 2019), ``FD[vgg16]``.

KID, precision/recall and density/coverage are computed in each space too; the Inception
Score only in Inception's (the others have no class logits).

Weights: the file the user gives (``--weights PATH``; for Inception also
``--inception-weights`` / ``$GANZOO_INCEPTION_WEIGHTS``), else the copy in torch's hub cache
(``$TORCH_HOME/hub/checkpoints``, where torch-fidelity and torch.hub keep it), else, when the
caller allows it and the file's host answers (:mod:`ganzoo.data.fetch`), downloaded there.
Otherwise :class:`WeightsMissing`: one line naming the file, where it was looked for and how
to supply it. Every space records the SHA-256 of its file (the first 12 hex digits are the
fingerprint) and whether it is the published file, where the publisher gives its hash.

The nets are torch-fidelity's own, except DINOv2 from a file (torch-fidelity 0.4 builds it
only through torch.hub): :mod:`ganzoo.metrics.dinov2`.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Tuple

import torch

from ganzoo.metrics.cache import file_digest
from ganzoo.metrics.quality import FeatureSpace, InceptionWeightsMissing, WeightsMissing

INCEPTION = "inception-v3-compat"
INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"
INCEPTION_ENV = "GANZOO_INCEPTION_WEIGHTS"
INCEPTION_ALIASES = ("inception", INCEPTION)
INCEPTION_FIRST_LAYER = "Conv2d_1a_3x3.conv.weight"


# ---- the spaces --------------------------------------------------------------------------
@dataclass(frozen=True)
class Pretrained:
    """One of torch-fidelity's pretrained extractors, as ganzoo uses it."""

    name: str  # torch-fidelity's name
    title: str
    paper: str
    url: Callable[[], str]  # where torch-fidelity / torch.hub fetch the weights
    label: str = ""  # in metric keys; default: the name
    distance: str = "FD"  # "FID" for Inception
    has_logits: bool = False
    published_sha256: Optional[str] = None  # a prefix is enough (torch hub names files by one)
    fidelity_name: str = ""  # the extractor torch-fidelity runs; default: the name
    check: Optional[Callable[["Pretrained", Path], Optional[str]]] = None  # the file's problem, or None

    @property
    def file(self) -> str:
        return self.url().rsplit("/", 1)[1] if not self.name.startswith("clip-") else _clip_file(self.name)

    @property
    def key_label(self) -> str:
        return self.label or self.name


def hub_checkpoints() -> Path:
    """torch hub's checkpoint folder (``$TORCH_HOME/hub/checkpoints``), read now."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def _inception_url() -> str:
    from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3

    return URL_INCEPTION_V3


def _clip_url(name: str) -> Callable[[], str]:
    def url() -> str:
        from torch_fidelity.feature_extractor_clip import MODEL_URLS

        return MODEL_URLS[name]

    return url


def _clip_file(name: str) -> str:
    from torch_fidelity.feature_extractor_clip import MODEL_METADATA

    return f"{name}-{MODEL_METADATA[name]['hash']}.pt"  # torch-fidelity's name in the hub cache


def _clip_hash(name: str) -> str:
    from torch_fidelity.feature_extractor_clip import MODEL_METADATA

    return MODEL_METADATA[name]["hash"]


def _dinov2_url(name: str) -> Callable[[], str]:
    def url() -> str:  # facebookresearch/dinov2's hubconf: <base>/<net>/<net>_pretrain.pth
        net = "dinov2_vit" + name.split("-")[2] + "14"
        return f"https://dl.fbaipublicfiles.com/dinov2/{net}/{net}_pretrain.pth"

    return url


def _vgg16_url() -> str:
    import torchvision

    return torchvision.models.VGG16_Weights.IMAGENET1K_V1.url


# ---- file checks: a clear error before torch-fidelity fails with a traceback --------------
def _state_dict(path: Path) -> Dict[str, Any]:
    try:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError:  # an older, non-zip torch file cannot be memory-mapped
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ValueError(f"{path} is not a torch weights file: {type(err).__name__}: {str(err)[:120]}") from None
    if not isinstance(state, dict):
        raise ValueError(f"{path} holds a {type(state).__name__}, not a state dict")
    return state


def _check_keys(first: str) -> Callable[[Pretrained, Path], Optional[str]]:
    def check(spec: Pretrained, path: Path) -> Optional[str]:
        try:
            state = _state_dict(path)
        except ValueError as err:
            return str(err)
        return None if first in state else f"{path} is a torch file without {spec.title}'s layers, e.g. {first}"

    return check


def _check_dinov2(spec: Pretrained, path: Path) -> Optional[str]:
    from ganzoo.metrics.dinov2 import mismatch

    try:
        return mismatch(spec.name, _state_dict(path), str(path))
    except ValueError as err:
        return str(err)


_CLIP_ARCH = {  # (ViT patch size or None for the ResNets, input resolution)
    "clip-rn50": (None, 224), "clip-rn101": (None, 224), "clip-rn50x4": (None, 288),
    "clip-rn50x16": (None, 384), "clip-rn50x64": (None, 448), "clip-vit-b-32": (32, 224),
    "clip-vit-b-16": (16, 224), "clip-vit-l-14": (14, 224), "clip-vit-l-14-336px": (14, 336),
}


def _check_clip(spec: Pretrained, path: Path) -> Optional[str]:
    """A TorchScript archive (as OpenAI publishes CLIP, and torch-fidelity reads it) whose
    image encoder is the named one."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch.jit's deprecation: torch-fidelity reads it so
            state = torch.jit.load(str(path), map_location="cpu").state_dict()
    except Exception as err:
        return f"{path} is not a TorchScript CLIP archive: {type(err).__name__}: {str(err)[:120]}"
    want_patch, want_res = _CLIP_ARCH[spec.name]
    if "text_projection" not in state:
        return f"{path} holds no CLIP model (no text_projection)"
    if want_patch is None:
        if "visual.attnpool.positional_embedding" not in state:
            return f"{path} is not a CLIP ResNet, as {spec.name} is"
        res = 32 * round((state["visual.attnpool.positional_embedding"].shape[0] - 1) ** 0.5)
        got = f"a CLIP ResNet at {res} px"
        ok = res == want_res
    else:
        if "visual.proj" not in state:
            return f"{path} is not a CLIP ViT, as {spec.name} is"
        patch = state["visual.conv1.weight"].shape[-1]
        res = patch * round((state["visual.positional_embedding"].shape[0] - 1) ** 0.5)
        got = f"a CLIP ViT with {patch} px patches at {res} px"
        ok = (patch, res) == (want_patch, want_res)
    return None if ok else f"{path} holds {got}, not {spec.title}"


PRETRAINED: Dict[str, Pretrained] = {}


def _add(spec: Pretrained) -> None:
    PRETRAINED[spec.name] = spec


_add(Pretrained(INCEPTION, "Inception-v3", "Heusel et al. 2017, arXiv:1706.08500", _inception_url,
                label="inception", distance="FID", has_logits=True,
                published_sha256=INCEPTION_FILE.rsplit("-", 1)[1].split(".")[0],
                check=_check_keys(INCEPTION_FIRST_LAYER)))
for _size, _title in (("s", "ViT-S/14"), ("b", "ViT-B/14"), ("l", "ViT-L/14"), ("g", "ViT-g/14")):
    _add(Pretrained(f"dinov2-vit-{_size}-14", f"DINOv2 {_title}", "Oquab et al. 2023, arXiv:2304.07193",
                    _dinov2_url(f"dinov2-vit-{_size}-14"), fidelity_name=f"dinov2-vit-{_size}-14-from-file",
                    check=_check_dinov2))
for _name, _title in (("clip-rn50", "RN50"), ("clip-rn101", "RN101"), ("clip-rn50x4", "RN50x4"),
                      ("clip-rn50x16", "RN50x16"), ("clip-rn50x64", "RN50x64"), ("clip-vit-b-32", "ViT-B/32"),
                      ("clip-vit-b-16", "ViT-B/16"), ("clip-vit-l-14", "ViT-L/14"),
                      ("clip-vit-l-14-336px", "ViT-L/14 at 336 px")):
    _add(Pretrained(_name, f"CLIP {_title}", "Radford et al. 2021, arXiv:2103.00020", _clip_url(_name),
                    published_sha256=_clip_hash(_name), check=_check_clip))
_add(Pretrained("vgg16", "VGG-16 (ImageNet)", "Simonyan & Zisserman 2015, arXiv:1409.1556", _vgg16_url,
                published_sha256="397923af", check=_check_keys("features.0.weight")))


def canonical(name: str) -> Optional[str]:
    """torch-fidelity's name for ``name`` (``inception`` -> ``inception-v3-compat``), or None."""
    if name in INCEPTION_ALIASES:
        return INCEPTION
    return name if name in PRETRAINED else None


def names() -> Tuple[str, ...]:
    return ("inception", *PRETRAINED)


# ---- weights -------------------------------------------------------------------------------
def missing_message(spec: Pretrained, detail: str = "") -> str:
    """One line: the file, where it was looked for, and how to supply it."""
    if spec.name == INCEPTION:
        return (f"Inception FID needs torch-fidelity's Inception-v3 weights, the file {INCEPTION_FILE}"
                f"{detail}. Supply it with --inception-weights PATH (or --weights PATH) or by setting "
                f"${INCEPTION_ENV}=PATH, or copy it into {hub_checkpoints()} (or pass --allow-download "
                f"to let ganzoo fetch it there).")
    return (f"{spec.key_label} features need {spec.title}'s weights, the file {spec.file}{detail}. "
            f"Supply it with --weights PATH (`ganzoo eval`), or copy it into {hub_checkpoints()} "
            f"(where torch-fidelity keeps it; a suite looks there), or run where {_host(spec.url())} "
            f"can be reached.")


def _host(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).hostname or url


def _error(spec: Pretrained, detail: str) -> WeightsMissing:
    cls = InceptionWeightsMissing if spec.name == INCEPTION else WeightsMissing
    return cls(missing_message(spec, detail))


def resolve_weights(spec: Pretrained, path=None, download: bool = False) -> Path:
    """The weights file of ``spec`` (see the module doc); raises :class:`WeightsMissing`."""
    given = [(path, "--weights")]
    if spec.name == INCEPTION:
        given.append((os.environ.get(INCEPTION_ENV), f"${INCEPTION_ENV}"))
    for value, how in given:
        if value:
            p = Path(value).expanduser()
            if not p.is_file():
                raise _error(spec, f" ({how} points at {p}, which does not exist)")
            return p
    cached = hub_checkpoints() / spec.file
    if cached.is_file():
        return cached
    if not download:
        raise _error(spec, f" (not found in {cached.parent})")
    from ganzoo.data.fetch import net_timeout, unreachable

    url = spec.url()
    why = unreachable(url)
    if why is not None:
        raise _error(spec, f" (not found in {cached.parent}, and {why})")
    cached.parent.mkdir(parents=True, exist_ok=True)
    try:
        with net_timeout():
            torch.hub.download_url_to_file(url, str(cached), hash_prefix=spec.published_sha256, progress=True)
    except Exception as err:
        raise _error(spec, f" (not found in {cached.parent}; fetching {url} failed: {type(err).__name__}: "
                           f"{str(err)[:120]})") from None
    return cached


_FILE_HASHES: Dict[tuple, str] = {}
_CHECKED: Dict[tuple, Optional[str]] = {}


def file_sha256(path: Path) -> str:
    """SHA-256 of a weights file, computed once per (path, size, mtime)."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _FILE_HASHES:
        _FILE_HASHES[key] = file_digest(path)
    return _FILE_HASHES[key]


def pretrained_space(name: str, weights=None, download: bool = False) -> FeatureSpace:
    """torch-fidelity's extractor ``name`` with its weights file, checked to hold that net.

    A file that holds the net but is not the published one (where its hash is published)
    gives a warning: its numbers are not comparable with published ones.
    """
    key = canonical(name)
    if key is None:
        raise ValueError(f"unknown pretrained feature space {name!r}; valid: {', '.join(names())}")
    spec = PRETRAINED[key]
    path = resolve_weights(spec, weights, download)
    sha = file_sha256(path)
    check_key = (sha, spec.name)
    if check_key not in _CHECKED:
        _CHECKED[check_key] = spec.check(spec, path) if spec.check else None
    if _CHECKED[check_key]:
        raise _error(spec, f" ({_CHECKED[check_key]})")
    official = None if spec.published_sha256 is None else sha.startswith(spec.published_sha256)
    if official is False:
        warnings.warn(f"{path} holds {spec.title}'s layers but is not torch-fidelity's published weights file "
                      f"{spec.file} (its SHA-256 begins {sha[:8]}, the published one's "
                      f"{spec.published_sha256[:8]}): its "
                      f"{spec.distance}s are not comparable with published {spec.distance}s in this space",
                      RuntimeWarning, stacklevel=2)
    if spec.name.startswith("dinov2-"):
        from ganzoo.metrics import dinov2

        dinov2.register()
    return FeatureSpace(name=spec.key_label, fidelity_name=spec.fidelity_name or spec.name,
                        weights_path=str(path), sha256=sha, channels=3, has_logits=spec.has_logits,
                        distance=spec.distance,
                        info={"extractor": spec.name, "title": spec.title, "paper": spec.paper, "sha256": sha,
                              "weights": str(path), "official_weights": official,
                              "resize": _resize(spec)})


def _resize(spec: Pretrained) -> str:
    if spec.name == INCEPTION:
        return "299x299 (torch-fidelity)"
    if spec.name.startswith("clip-"):
        return f"{_CLIP_ARCH[spec.name][1]} px (torch-fidelity, TF1-compatible bilinear)"
    return "224x224 (torch-fidelity, TF1-compatible bilinear)"


# ---- Inception, as before -------------------------------------------------------------------
def hub_inception_path() -> Path:
    """Where torch-fidelity's own download would put the Inception weights."""
    return hub_checkpoints() / INCEPTION_FILE


def missing_inception_message(detail: str = "") -> str:
    return missing_message(PRETRAINED[INCEPTION], detail)


def inception_configured(weights=None) -> bool:
    """Whether Inception weights were pointed at (argument or environment)."""
    return bool(weights or os.environ.get(INCEPTION_ENV))


def inception_space(weights=None, allow_download: bool = False) -> FeatureSpace:
    """torch-fidelity's ``inception-v3-compat`` from a local weights file (argument,
    ``$GANZOO_INCEPTION_WEIGHTS``, torch's hub cache, or downloaded when allowed)."""
    return pretrained_space(INCEPTION, weights, allow_download)
