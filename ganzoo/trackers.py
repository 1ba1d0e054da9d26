"""Copies of runs in the trackers researchers already use: TensorBoard and MLflow.

Off by default, each an optional extra (``pip install 'ganzoo[trackers]'``); ganzoo imports
without them. The JSONL store (``runs.jsonl``) and a train run's ``summary.json`` stay the
source of truth: a tracker is a view, and a tracker that fails never stops a run.

What each run sends (the same for both backends):
- its protocol as parameters: variant, dataset, arch, seed, steps, batch size, precision,
  hyperparameters, ...;
- the losses: ``ganzoo train`` sends every step's logged values live, at each read-back
  (``log_every``); ``ganzoo bench`` sends each run when it is stored, with the loss trace
  its record keeps (about 60 points) from the one process that owns the store;
- the metric curve (each evaluation's numbers at its step) and the final sample grid as an
  image; its status at the end.

``--tensorboard DIR`` writes one event-file folder per run under DIR (``tensorboard
--logdir DIR``). ``--mlflow [URI]`` logs to an MLflow tracking URI; without one, to a local
SQLite store in the output folder (``sqlite:///OUT/mlflow.db``, artifacts beside it), read
with ``mlflow ui --backend-store-uri sqlite:///OUT/mlflow.db``.
"""
from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Tuple

from ganzoo.errors import GanzooError

EXPERIMENT = "ganzoo"
LOSS_PREFIX, METRIC_PREFIX = "loss/", "metric/"


class TrackerError(GanzooError, ValueError):
    """A tracker's library is missing (the CLI: one line, exit 2)."""


def _needs(module: str, extra: str = "trackers"):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise TrackerError(f"{module} is not installed: pip install 'ganzoo[{extra}]' "
                           f"(or pip install {module.split('.')[0]})") from err


class TensorBoardBackend:
    """One event-file folder per run under ``log_dir`` (torch.utils.tensorboard)."""

    def __init__(self, log_dir):
        _needs("tensorboard")
        from torch.utils.tensorboard import SummaryWriter

        self._writer_cls = SummaryWriter
        self.log_dir = Path(log_dir)
        self.writer = None

    def start(self, name: str, params: Dict[str, str]) -> None:
        self.writer = self._writer_cls(log_dir=str(self.log_dir / _safe(name)))
        table = "\n".join(["| setting | value |", "|---|---|"] + [f"| {k} | {v} |" for k, v in params.items()])
        self.writer.add_text("protocol", table, 0)

    def log_metrics(self, metrics: Dict[str, float], step: int) -> None:
        for key, value in metrics.items():
            self.writer.add_scalar(key, value, step)

    def log_image(self, path: Path, step: int) -> None:
        import numpy as np
        from PIL import Image

        self.writer.add_image("samples", np.asarray(Image.open(path).convert("RGB")), step, dataformats="HWC")

    def finish(self, status: str) -> None:
        self.writer.add_text("status", status, 0)
        self.writer.close()


class MLflowBackend:
    """Runs in the MLflow experiment "ganzoo" at ``uri`` (MLflow's own client)."""

    def __init__(self, uri: str, artifact_dir: Optional[Path] = None):
        _needs("mlflow")
        from mlflow.tracking import MlflowClient

        try:
            self.client = MlflowClient(tracking_uri=uri)
            exp = self.client.get_experiment_by_name(EXPERIMENT)
            if exp is None:
                location = Path(artifact_dir).resolve().as_uri() if artifact_dir else None
                self.experiment_id = self.client.create_experiment(EXPERIMENT, artifact_location=location)
            else:
                self.experiment_id = exp.experiment_id
        except Exception as err:  # an unreachable server, a bad URI: before any training
            raise TrackerError(f"--mlflow {uri}: cannot open the MLflow store: {type(err).__name__}: "
                               f"{str(err).splitlines()[0] if str(err) else ''}") from err
        self.run_id: Optional[str] = None

    def start(self, name: str, params: Dict[str, str]) -> None:
        from mlflow.entities import Param

        run = self.client.create_run(self.experiment_id, run_name=name, tags={"ganzoo.run": name})
        self.run_id = run.info.run_id
        self.client.log_batch(self.run_id, params=[Param(k, v[:6000]) for k, v in params.items()])

    def log_metrics(self, metrics: Dict[str, float], step: int) -> None:
        from mlflow.entities import Metric

        stamp = int(time.time() * 1000)
        batch = [Metric(k, float(v), stamp, step) for k, v in metrics.items()]
        for i in range(0, len(batch), 1000):  # MLflow's limit per batch
            self.client.log_batch(self.run_id, metrics=batch[i:i + 1000])

    def log_image(self, path: Path, step: int) -> None:
        self.client.log_artifact(self.run_id, str(path), artifact_path="samples")

    def finish(self, status: str) -> None:
        self.client.set_tag(self.run_id, "ganzoo.status", status)
        self.client.set_terminated(self.run_id, "FINISHED" if status == "ok" else "FAILED")


def add_options(parser) -> None:
    """``--tensorboard DIR`` and ``--mlflow [URI]``, for ``ganzoo train`` and ``ganzoo bench``."""
    parser.add_argument("--tensorboard", default=None, metavar="DIR",
                        help="also log each run to TensorBoard event files under DIR (needs ganzoo[trackers])")
    parser.add_argument("--mlflow", nargs="?", const="", default=None, metavar="URI",
                        help="also log each run to MLflow at URI (default: sqlite:///OUT/mlflow.db; "
                             "needs ganzoo[trackers])")


def from_args(args, out_dir) -> "Trackers":
    import sys

    return Trackers(backends(args.tensorboard, args.mlflow, out_dir),
                    warn=lambda message: print(f"warning: {message}", file=sys.stderr))


def backends(tensorboard: Optional[str], mlflow: Optional[str], out_dir) -> List[Any]:
    """The backends asked for (``mlflow=""``: the default SQLite store in ``out_dir``)."""
    chosen: List[Any] = []
    if tensorboard:
        chosen.append(TensorBoardBackend(tensorboard))
    if mlflow is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        uri = mlflow or f"sqlite:///{(out / 'mlflow.db').resolve()}"
        chosen.append(MLflowBackend(uri, artifact_dir=out / "mlflow-artifacts"))
    return chosen


def protocol_params(run: Dict[str, Any]) -> Dict[str, str]:
    """A run's settings as flat string parameters (hyperparameters as ``hp.<key>``)."""
    out: Dict[str, str] = {}
    for key, value in run.items():
        if key == "hparams" and isinstance(value, dict):
            out.update({f"hp.{k}": str(v) for k, v in value.items()})
        elif isinstance(value, (str, int, float, bool)) or value is None:
            out[key] = str(value)
    return out


def _stored_samples_png(store, run_id: str, path: Path) -> Optional[Path]:
    """The samples a bench kept for a run (``RunStore.save_samples``) as a PNG, or None."""
    from types import SimpleNamespace

    import torch

    from ganzoo.plots import save_samples

    arrays = store.load_samples(run_id)
    if not arrays:
        return None
    if "images" in arrays:  # uint8 images, [N, C, H, W]
        samples, data = torch.from_numpy(arrays["images"]).float() / 127.5 - 1, SimpleNamespace(kind="image")
    else:  # 2D points, with real points and modes for the scatter
        modes = torch.from_numpy(arrays["modes"]) if "modes" in arrays else None
        samples = torch.from_numpy(arrays["samples"])
        data = SimpleNamespace(kind="points", x=torch.from_numpy(arrays["real"]), modes=modes)
    return save_samples(samples, data, path)


def _finite(values: Iterable[Tuple[str, Any]]) -> Dict[str, float]:
    return {k: float(v) for k, v in values
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}


def _safe(name: str, allowed: str = "-_.") -> str:
    """``name`` with every character but letters, digits and ``allowed`` replaced by ``_``."""
    return "".join(c if c.isalnum() or c in allowed else "_" for c in name)


def metric_key(name: str) -> str:
    """A curve metric's tracker key: ``FID[ganzoo-mnist]`` -> ``metric/FID/ganzoo-mnist``.
    MLflow refuses brackets in a metric name (letters, digits, ``_ - . : /`` and spaces only),
    and the same key in both trackers keeps them comparable."""
    return _safe(METRIC_PREFIX + name.replace("[", "/").replace("]", ""), allowed="_-.:/ ")


class Trackers:
    """The backends of one command. Calls every backend; one that fails is reported once and
    dropped for the rest of the command, never raised: a view must not end a run."""

    def __init__(self, chosen: List[Any], warn=print):
        self.chosen, self.warn = list(chosen), warn

    def __bool__(self) -> bool:
        return bool(self.chosen)

    def call(self, method: str, *args) -> None:
        for backend in list(self.chosen):
            try:
                getattr(backend, method)(*args)
            except Exception as err:
                self.chosen.remove(backend)
                self.warn(f"tracker {type(backend).__name__} stopped: {type(err).__name__}: {err}")

    def live(self, trainer, name: str, params: Dict[str, Any]) -> "LiveRun":
        return LiveRun(self, trainer, name, params)

    def log_record(self, record: Dict[str, Any], samples_png: Optional[Path] = None) -> None:
        """Send one stored bench run (its record): protocol, loss trace, metric curve,
        samples image (when given) and status."""
        if not self.chosen:
            return
        spec = dict(record.get("spec") or {})
        name = f"{record.get('variant')}-{record.get('dataset')}-seed{record.get('seed')}-{record.get('run_id')}"
        self.call("start", name, protocol_params({"run_id": record.get("run_id"), **spec}))
        trace = record.get("losses") or {}
        for i, step in enumerate(trace.get("step", [])):
            self.call("log_metrics", _finite((LOSS_PREFIX + k, v[i]) for k, v in trace.items()
                                             if k != "step" and i < len(v)), int(step))
        for point in record.get("curve") or []:
            self.call("log_metrics", _finite((metric_key(k), v) for k, v in point.items()
                                             if k not in ("step", "train_s")), int(point["step"]))
        if samples_png is not None and Path(samples_png).is_file():
            self.call("log_image", Path(samples_png), int(record.get("steps_done") or 0))
        self.call("finish", str(record.get("status")))

    def log_stored(self, store, record: Dict[str, Any]) -> None:
        """``log_record`` with the samples the bench kept for this run, drawn as for the report."""
        if not self.chosen:
            return
        with tempfile.TemporaryDirectory() as tmp:
            try:
                png = _stored_samples_png(store, record["run_id"], Path(tmp) / "samples.png")
            except Exception as err:  # no picture, but the numbers still go
                self.warn(f"tracker: no samples image for run {record.get('run_id')}: {err}")
                png = None
            self.log_record(record, png)


class LiveRun:
    """Feeds one ``ganzoo train`` run to the trackers while it trains: pass ``on_log`` as the
    trainer's ``on_log`` hook and call ``finish`` at the end. A resumed run sends only the
    steps after the one it resumed from."""

    def __init__(self, trackers: Trackers, trainer, name: str, params: Dict[str, Any]):
        self.trackers = trackers
        trackers.call("start", name, protocol_params(params))
        self.sent_steps = trainer.step  # history.values[k][i] is step i + 1's value
        self.sent_evals = len(trainer.history.evals)

    def on_log(self, trainer) -> None:
        h = trainer.history
        n = min((len(h.values[k]) for k in h.keys), default=0)
        for i in range(self.sent_steps, n):
            self.trackers.call("log_metrics", _finite((LOSS_PREFIX + k, h.values[k][i]) for k in h.keys), i + 1)
        self.sent_steps = max(self.sent_steps, n)
        for point in h.evals[self.sent_evals:]:
            self.trackers.call("log_metrics", _finite((metric_key(k), v) for k, v in point.items()
                                                      if k not in ("step", "train_s")), point["step"])
        self.sent_evals = len(h.evals)

    def finish(self, trainer, status: str) -> None:
        """The last values, the sample grid and the status; never raises (a view must not end
        a run, nor hide the error a failed run ended with)."""
        try:
            self.on_log(trainer)  # the final evaluation comes after the last read-back
            from ganzoo.plots import save_samples

            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "samples.png"
                samples = trainer.sample(2000 if trainer.data.kind == "points" else 64).cpu()
                if bool(samples.isfinite().all()):  # a diverged run may have none to show
                    save_samples(samples, trainer.data, path, title=f"{trainer.variant.name}, step {trainer.step}")
                    self.trackers.call("log_image", path, trainer.step)
        except Exception as err:
            self.trackers.warn(f"tracker: no final samples or values: {type(err).__name__}: {err}")
        self.trackers.call("finish", status)
