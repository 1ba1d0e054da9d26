"""``evaluate``: every metric that applies to a generator and its dataset, with the protocol.

What applies, by the dataset:

- 2D mixtures (``kind == "points"``): ``modes``, ``hq_fraction``, ``reverse_kl``
  (:func:`~ganzoo.metrics.modes.mode_stats`, 2,500 samples) and ``frechet`` (the Fréchet
  distance of the samples to the real points);
- images: ``FID[x]`` (``FD[x]`` outside Inception's and ganzoo's spaces), ``KID[x]`` (and
  ``KID[x]_std``), ``IS[x]`` (where ``x`` has class logits) for each feature space ``x``
  (ganzoo's extractor for the dataset, plus Inception when its weights are given, plus the
  spaces ``extractor`` names or the running suite adds: :mod:`ganzoo.metrics.spaces`),
  ``precision[x]`` / ``recall[x]`` and ``density[x]`` / ``coverage[x]`` in final
  evaluations; when the dataset's classifier
  knows its classes, ``modes`` and ``reverse_kl`` of the predicted classes (Stacked
  MNIST: digit triples, 26,000 samples in final evaluations);
- conditional variants, in addition: ``label_accuracy[x]`` (2D: ``label_accuracy``), and
  ``FID_intra[x]`` in final evaluations (at most 100 classes).

The reference set is the dataset the generator was trained on (its first ``n_reference``
samples, default as many as are generated), unless ``reference_split`` names another split.
The returned dict holds plain numbers under the names above, and ``"protocol"``: what the
numbers mean (extractors and fingerprints, sample counts, reference split, seed, ...).
"""
from __future__ import annotations

import math
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

import torch
from torch import Tensor

from ganzoo.errors import ConfigError
from ganzoo.metrics import conditional as cond
from ganzoo.metrics.density import NEIGHBORHOOD as DC_NEIGHBORHOOD
from ganzoo.metrics.modes import TOY_SAMPLES, class_mode_stats, frechet_distance, mode_stats
from ganzoo.metrics.quality import (
    FeatureSpace,
    domain_space,
    fidelity_kwargs,
    fidelity_metrics,
    metric_names,
    reference_cache_name,
    to_uint8,
)
from ganzoo.metrics.spaces import Names, split_names

MAX_INTRA_FID_CLASSES = 100
Sampler = Callable[[int, Optional[Tensor]], Tensor]


def evaluate(source, dataset=None, *, n: int = 10_000, n_reference: Optional[int] = None,
             reference_split: Optional[str] = None, data_root=None, extractor: Names = "auto",
             inception_weights=None, weights=None, allow_download: bool = False,
             n_modes: Optional[int] = None,
             final: bool = True, prc: Optional[bool] = None, conditional: Optional[bool] = None,
             labels: Optional[Tensor] = None, seed: Optional[int] = None, batch_size: int = 500,
             kid_subsets: int = 100, cache=None, extra_spaces: Sequence[str] = ()) -> Dict[str, Any]:
    """Evaluate a generator on ``dataset``; see the module doc for what is measured.

    source: a :class:`~ganzoo.trainer.Trainer` (its ``sample``; dataset, data root and
      conditioning are taken from it), a callable ``sample(n, labels=None) -> Tensor``,
      or a tensor of samples already drawn (with ``labels`` for a conditional one).
    dataset: a dataset name or a loaded :class:`~ganzoo.data.TensorData` (default: the
      trainer's data).
    n: generated samples for the image metrics and the 2D Fréchet distance.
    n_modes: samples for mode statistics (default: 2,500 for 2D sets -- VEEGAN/PacGAN;
      26,000 for Stacked MNIST in final evaluations; else ``n``).
    extractor: "auto" (ganzoo's extractor for the dataset, plus Inception if weights are
      given, plus ``extra_spaces``), a ganzoo extractor name, a pretrained
      space's name (inception, dinov2-vit-b-14, clip-vit-b-32, ...: its weights are fetched
      into torch's hub cache when missing and the host answers), or several, comma-separated.
    weights: the weights file of the one pretrained space ``extractor`` names
      (``inception_weights``: Inception's, also under "auto").
    extra_spaces: pretrained spaces "auto" adds (a suite's ``[eval] extractors``; the run
      spec's ``extractors``), read from torch's hub cache, never downloaded here: one that is
      missing is left out and its one-line reason stands in the protocol
      (``feature_spaces_missing``).
    final: False for the cheaper evaluations along a training curve (no precision/recall,
      intra-FID, or 26,000-sample mode counts).
    seed: seeds the sampling: a callable sampler through torch's RNG (default 0), a trainer
        through its own generator (default the run's seed + 12345; training RNG untouched).
    """
    t0 = time.perf_counter()
    job = _Job(source, dataset, data_root=data_root, reference_split=reference_split,
               conditional=conditional, labels=labels, seed=seed)
    data = job.data
    if data.kind == "points":
        if split_names(extractor) != ["auto"] or inception_weights or weights:
            raise ConfigError(f"dataset {data.name!r} is 2D points, measured by mode counts, high-quality "
                             f"share and reverse KL; --extractor and --weights apply to image "
                             f"datasets only")
        out, proto = _points(job, n=n, n_modes=n_modes or TOY_SAMPLES, n_reference=n_reference)
    else:
        out, proto = _images(job, n=n, n_reference=n_reference, n_modes=n_modes, final=final,
                             prc=final if prc is None else prc, extractor=extractor,
                             inception_weights=inception_weights, weights=weights,
                             allow_download=allow_download, batch_size=batch_size, kid_subsets=kid_subsets,
                             cache=cache, extra_spaces=extra_spaces)
    proto.update(dataset=data.name, kind=data.kind, conditional=job.conditional, final=final,
                 sampler=job.sampler_desc, eval_s=time.perf_counter() - t0)
    out["protocol"] = proto
    return out


def evaluate_trainer(trainer, n: int = 10_000, final: bool = True, **options) -> Dict[str, Any]:
    """:func:`evaluate` for a trainer (the hook the benchmark runner calls)."""
    return evaluate(trainer, n=n, final=final, **options)


def make_evaluator(**options) -> Callable[[Any], Dict[str, Any]]:
    """A ``Trainer.fit(evaluate=...)`` hook: ``trainer -> evaluate(trainer, **options)``."""
    return lambda trainer: evaluate(trainer, **options)


# ---- the pieces -------------------------------------------------------------------------
class _Job:
    """The generator, the data and the reference set of one evaluation."""

    def __init__(self, source, dataset, *, data_root, reference_split, conditional, labels, seed):
        from ganzoo.data.base import TensorData

        self.trainer = source if hasattr(source, "sample") and hasattr(source, "data") else None
        spec = dict(getattr(self.trainer, "dataset_spec", None) or {})
        self.data_root = data_root if data_root is not None else spec.get("data_root")
        if isinstance(dataset, TensorData):
            self.data = dataset
        elif self.trainer is not None and dataset in (None, self.trainer.data.name):
            self.data = self.trainer.data
        elif isinstance(dataset, str):
            from ganzoo.data import load

            self.data = load(dataset, split=reference_split, data_root=self.data_root)
        else:
            raise ValueError("evaluate needs a dataset (a name or a loaded TensorData) unless it is "
                             "given a trainer")
        if conditional is None:
            conditional = bool(getattr(getattr(self.trainer, "variant", None), "conditional", False)) \
                or labels is not None
        if conditional and not self.data.labelled:
            raise ConfigError(f"conditional evaluation needs a labelled dataset; {self.data.name!r} has no labels")
        self.conditional = conditional
        self.reference_split = reference_split or self.data.split
        self.seed = seed
        self._given: Optional[Tensor] = None
        self._given_labels = labels
        if self.trainer is not None:  # Trainer.sample's own generator: the training RNG is untouched
            self.seed = self.trainer.config.seed + 12345 if seed is None else seed
            self.sampler_desc = f"Trainer.sample (its own stream, seed {self.seed}), step {self.trainer.step}"
            self._sample: Optional[Sampler] = lambda k, y: self.trainer.sample(k, labels=y, seed=self.seed)
        elif isinstance(source, Tensor):
            self._given, self._sample = source, None
            self.sampler_desc = f"{len(source)} samples given"
        elif callable(source):
            self.seed = 0 if seed is None else seed
            self._sample = source
            self.sampler_desc = f"callable sampler, torch seed {self.seed}"
        else:
            raise ValueError(f"evaluate takes a Trainer, a callable sample(n, labels) or a tensor of "
                             f"samples, got {type(source).__name__}")

    def labels_for(self, k: int) -> Optional[Tensor]:
        if not self.conditional:
            return None
        if self._given_labels is not None:
            return self._given_labels[:k].cpu().long()
        return torch.arange(k) % self.data.num_classes  # every class equally often

    def samples(self, k: int) -> tuple:
        """(``k`` samples on the CPU, their labels or None)."""
        if self._given is not None:  # as many as asked for, or all there are
            k = min(k, len(self._given))
            return self._given[:k].detach().float().cpu(), self.labels_for(k)
        y = self.labels_for(k)
        dev = getattr(self.trainer, "device", None)
        y_dev = y.to(dev) if (y is not None and dev is not None) else y
        if self.trainer is not None:
            x = self._sample(k, y_dev)
        else:  # a callable draws from torch's global RNG: seed it, then put every RNG back
            with torch.random.fork_rng(devices=range(torch.cuda.device_count())):
                torch.manual_seed(self.seed)
                x = self._sample(k, y_dev)
        return x.detach().float().cpu(), y

    def reference(self):
        if self.reference_split == self.data.split:
            return self.data if self.data.held_out is None else self.data.held_out
        from ganzoo.data import load

        options = {k: v for k, v in self.data.info.get("options", {}).items()}
        return load(self.data.name, split=self.reference_split, data_root=self.data_root, **options)

    @property
    def cuda(self) -> bool:
        dev = getattr(self.trainer, "device", None)
        return bool(dev is not None and dev.type == "cuda" and torch.cuda.is_available())


def _points(job: _Job, *, n: int, n_modes: int, n_reference: Optional[int]):
    data = job.data
    x, y = job.samples(max(n, n_modes))
    n, n_modes = min(n, len(x)), min(n_modes, len(x))
    ref = job.reference()
    n_ref = min(len(ref), n_reference or n)
    out: Dict[str, Any] = {}
    if data.modes is not None:
        stats = mode_stats(x[:n_modes], data)
        out.update({k: stats[k] for k in ("modes", "hq_fraction", "reverse_kl", "covered_modes", "overlap",
                                          "top_mode_share", "clustered_modes", "nearest_modes") if k in stats})
        if job.conditional:
            out["label_accuracy"] = cond.mode_label_accuracy(x[:n_modes], y[:n_modes], data.modes,
                                                              float(data.mode_std))
    out["frechet"] = frechet_distance(x[:n], ref.x[:n_ref].cpu())
    proto = {"generated": n, "mode_samples": n_modes if data.modes is not None else None,
             "num_modes": None if data.modes is None else int(data.modes.shape[0]),
             "hq_threshold": "3 sigma of the nearest mode (VEEGAN/PacGAN)",
             "reference": _ref_desc(ref, n_ref), "seed": job.seed}
    return out, proto


def feature_spaces(extractor: Names, dataset: str, *, inception_weights=None, weights=None,
                   allow_download: bool = False, data_root=None, cache=None,
                   missing: Optional[Dict[str, str]] = None, extra_spaces: Sequence[str] = ()) -> List[FeatureSpace]:
    """The feature spaces ``extractor`` asks for on ``dataset`` (see :func:`evaluate`).

    An extra space (``extra_spaces``, added by "auto"), or a pretrained one named beside "auto",
    whose weights are missing is left out, with its one-line reason put in ``missing``
    (name -> line); a pretrained space named alone must be had, or it raises.
    """
    from ganzoo.metrics.extractors import extractor_for
    from ganzoo.metrics.pretrained import (
        INCEPTION,
        WeightsMissing,
        canonical,
        inception_configured,
        missing_inception_message,
        pretrained_space,
    )
    from ganzoo.metrics.spaces import valid_names
    from ganzoo.registry import EXTRACTORS

    names = split_names(extractor) or ["auto"]
    bad = [n for n in names if n not in valid_names()]
    if bad:
        raise ConfigError(f"unknown extractor {bad[0]!r}; valid: {', '.join(valid_names())}")
    pretrained = [canonical(n) for n in names if canonical(n)]
    if weights and len(pretrained) != 1:
        raise ConfigError(f"--weights is the weights file of one pretrained feature space; --extractor names "
                          f"{len(pretrained)} ({', '.join(pretrained) or 'none'})")
    spaces: List[FeatureSpace] = []
    for name in names:
        if name == "auto":
            own = extractor_for(dataset)
            if own:
                spaces.append(domain_space(own, data_root, cache))
            if inception_configured(inception_weights) or allow_download:
                spaces.append(pretrained_space(INCEPTION, inception_weights, allow_download))
            for extra in extra_spaces:  # pretrained ones, fetched where the bench started (metrics.spaces)
                try:
                    spaces.append(pretrained_space(extra, None, download=False))
                except WeightsMissing as err:
                    if missing is not None:
                        missing[extra] = str(err)
        elif canonical(name):
            given = weights or (inception_weights if canonical(name) == INCEPTION else None)
            try:
                spaces.append(pretrained_space(name, given, download=True))
            except WeightsMissing as err:
                if "auto" not in names or missing is None:  # nothing else asked for: the error itself
                    raise
                missing[name] = str(err)  # beside the offline space: one line, and the rest measured
        else:
            spaces.append(domain_space(name, data_root, cache))
    firsts: Dict[str, FeatureSpace] = {}
    for space in spaces:  # one of each name, the first (auto's Inception and a suite's are one)
        firsts.setdefault(space.name, space)
    spaces = list(firsts.values())
    if not spaces:
        raise ConfigError(f"no offline feature extractor for dataset {dataset!r} (ganzoo has them for "
                         f"{', '.join(sorted(s for _, spec in EXTRACTORS.items() for s in spec.serves))}). "
                         + missing_inception_message())
    return spaces


def _images(job: _Job, *, n, n_reference, n_modes, final, prc, extractor, inception_weights, weights,
            allow_download, batch_size, kid_subsets, cache, extra_spaces):
    from ganzoo.metrics.extractors import StackedExtractor, extractor_for, get_extractor

    data = job.data
    from ganzoo.registry import EXTRACTORS

    for name in split_names(extractor):
        if name in EXTRACTORS:  # one the user named: does it read this data?
            want = tuple(EXTRACTORS.get(name).input_shape)
            if want != tuple(data.shape):
                raise ConfigError(f"extractor {name!r} reads images of shape {list(want)}; {data.name!r} "
                                  f"has {list(data.shape)}. Use --extractor auto, or one trained on images "
                                  f"of this size")
    missing: Dict[str, str] = {}
    spaces = feature_spaces(extractor, data.name, inception_weights=inception_weights, weights=weights,
                            allow_download=allow_download, data_root=job.data_root, cache=cache,
                            missing=missing, extra_spaces=extra_spaces)
    own = extractor_for(data.name)
    clf = get_extractor(own, data_root=job.data_root, cache=cache) if own else None
    knows_classes = clf is not None and (clf.num_classes == data.num_classes or isinstance(clf, StackedExtractor))
    if n_modes is None:
        n_modes = data.info.get("mode_samples", n) if final else n
    n_total = max(n, n_modes) if knows_classes else n
    x, y = job.samples(n_total)
    n, n_modes = min(n, len(x)), min(n_modes, len(x))
    ref = job.reference()
    n_ref = min(len(ref), n_reference or n)
    ref_x, ref_y = ref.x[:n_ref].cpu(), (None if ref.y is None else ref.y[:n_ref].cpu())
    finite = bool(torch.isfinite(x).all())
    opts = dict(batch_size=batch_size, kid_subsets=kid_subsets, cuda=job.cuda)

    out: Dict[str, Any] = {}
    for space in spaces:
        if not finite:  # a diverged generator: every number is undefined (NaN), not an error
            out.update({k: math.nan for k in metric_names(space, prc=prc, isc=True)})
            continue
        name = reference_cache_name(data.name, ref.split, to_uint8(ref_x, space.channels), space)
        out.update(fidelity_metrics(x[:n], ref_x, space, fid=True, kid=True, prc=prc, isc=True,
                                    reference_name=name, cache=cache, **opts))
    if knows_classes and not finite:
        out.update(modes=math.nan, reverse_kl=math.nan)
    if knows_classes and finite:
        if isinstance(clf, StackedExtractor):
            from ganzoo.metrics.modes import stacked_mode_stats

            stats = stacked_mode_stats(x[:n_modes], clf)
        else:
            stats = class_mode_stats(clf.predict(x[:n_modes]), clf.num_classes)
        out.update(modes=stats["modes"], reverse_kl=stats["reverse_kl"])
        if "top_class_share" in stats:
            out["top_class_share"] = stats["top_class_share"]
        if not isinstance(clf, StackedExtractor):
            out.update(_diversity_measures(job, clf, x[:n], y, ref_x, ref_y, final))
    if job.conditional and clf is not None and clf.num_classes == data.num_classes:
        out[f"label_accuracy[{clf.name}]"] = cond.label_accuracy(x[:n], y[:n], clf) if finite else 0.0
        if final and finite and data.num_classes <= MAX_INTRA_FID_CLASSES and ref_y is not None:
            space = next((s for s in spaces if s.name == clf.name), spaces[0])
            intra = cond.intra_fid(x[:n], y[:n], ref_x, ref_y, space, dataset=data.name, split=ref.split,
                                   cache=cache, **opts)
            out[f"{space.distance}_intra[{space.name}]"] = intra["value"]

    kw = fidelity_kwargs(spaces[0], n, n_ref, kid_subsets=kid_subsets)
    proto = {"generated": n, "mode_samples": n_modes if knows_classes else None,
             "reference": _ref_desc(ref, n_ref), "seed": job.seed,
             "feature_spaces": {s.name: s.protocol() for s in spaces},
             "classifier": clf.protocol() if clf is not None else None,
             "kid": {"subsets": kid_subsets, "subset_size": kw["kid_subset_size"], "kernel": "poly, degree 3"},
             "precision_recall": {"neighborhood": kw["prc_neighborhood"]} if prc else None,
             "density_coverage": {"neighborhood": DC_NEIGHBORHOOD, "by": "ganzoo.metrics.density, on "
                                  "torch-fidelity's features"} if prc else None,
             "inception_score": {"splits": min(kw["isc_splits"], n), "features": "logits"},
             "torch_fidelity": _version("torch_fidelity"), "finite_samples": finite}
    if missing:
        proto["feature_spaces_missing"] = missing
    return out, proto


def _diversity_measures(job: _Job, clf, x: Tensor, y: Optional[Tensor], ref_x: Tensor,
                        ref_y: Optional[Tensor], final: bool) -> Dict[str, float]:
    """duplicates, diversity and (a final evaluation against held-out data) nn_ratio, from one
    pass of the classifier over the samples (:mod:`ganzoo.metrics.diversity`)."""
    from ganzoo.metrics import diversity as dv

    k = dv.SAMPLES
    gen, real = dv.features(clf, x[:k]), dv.features(clf, ref_x[:k])
    labelled = job.conditional and y is not None and ref_y is not None
    out = {"duplicates": dv.duplicate_share(gen, real),
           "diversity": dv.diversity(gen, real, y[:k].cpu() if labelled else None,
                                     ref_y[:k].cpu() if labelled else None)}
    if final and job.data.held_out is not None:  # the reference was never trained on
        out["nn_ratio"] = dv.nn_ratio(gen, real, dv.features(clf, job.data.x.cpu()))
    return {key: v for key, v in out.items() if v is not None}


def _ref_desc(ref, n_ref: int) -> Dict[str, Any]:
    return {"dataset": ref.name, "split": ref.split, "n": n_ref, "of": len(ref),
            "which": "the first n" + (f" of {ref.info['held_out']}" if ref.info.get("held_out") else ""),
            "source": ref.source}


def _version(module: str) -> str:
    import importlib

    try:
        return importlib.import_module(module).__version__
    except Exception:
        return "unknown"
