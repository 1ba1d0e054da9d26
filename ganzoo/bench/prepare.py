"""What a suite needs before its runs, done once where ``ganzoo bench`` starts.

- Data: a dataset whose table says ``download = true`` (the quick suite's MNIST) and whose
  files none of its ``data_root`` candidates nor the data root holds is fetched through
  torchvision into the data root (``--data-root``, else ``$GANZOO_DATA``, else
  ``~/.cache/ganzoo/data``), so ``make bench`` on a normal machine trains MNIST without a
  flag. Offline the fetch fails within seconds (:mod:`ganzoo.data.fetch`); an ``optional``
  dataset is then skipped and the suite's note on it says why and where to put the files,
  a required one stops the bench with that line.
- Feature spaces: the pretrained spaces a suite adds (``[eval] extractors = [...]``, per
  dataset too) get their weights from torch's hub cache, or fetched there, once; each one
  that cannot be had is one logged line, and the runs are measured without it
  (:mod:`ganzoo.metrics.spaces`).

``--download`` on the command line is the older, general switch: the loaders fetch what they
miss themselves, with no fast failure, and this module leaves the data to them.
"""
from __future__ import annotations

import contextlib
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence


def fetch_missing(suite, plans: Sequence[Any], data_root: Optional[str], log: Callable[[str], None]) -> List[str]:
    """Fetch each dataset of ``plans`` that asks for it and is not here; returns the names
    whose fetch failed (their reason is kept for the loaders' not-found message)."""
    from ganzoo.bench.suite import SuiteError, probe_dataset
    from ganzoo.data.base import DataError, default_data_root
    from ganzoo.data.common import FETCH_FAILURES
    from ganzoo.data.fetch import FETCHABLE, FetchError, fetch_dataset

    failed = []
    for dp in plans:
        if not dp.download:
            continue
        if dp.name not in FETCHABLE:
            raise SuiteError(f"{suite.path or suite.name} [datasets.{dp.name}]: download = true, but ganzoo "
                             f"fetches only {', '.join(FETCHABLE)}")
        try:
            probe_dataset(dp, data_root=data_root)
            continue  # found: a candidate root or the data root holds it
        except DataError:
            pass
        root = default_data_root(data_root)
        log(f"  {dp.name} is not here: fetching it through torchvision into {root}")
        try:
            data = fetch_dataset(dp.name, data_root, split=dp.split, options=dp.options)
            log(f"  {dp.name}: {data.source}")
        except FetchError:
            if not dp.optional:
                FETCH_FAILURES.pop(dp.name, None)
                raise
            failed.append(dp.name)
    return failed


@contextlib.contextmanager
def prepared(suite, *, datasets: Optional[Sequence[str]] = None, data_root: Optional[str] = None,
             download: bool = False, log: Callable[[str], None] = print) -> Iterator[None]:
    """Around a bench of ``suite``: the data fetched, the extra feature spaces' weights in
    torch's hub cache, where the runs read them (see the module doc)."""
    from ganzoo.data.common import FETCH_FAILURES
    from ganzoo.metrics.spaces import resolve_suite_spaces

    plans = [d for d in suite.datasets if datasets is None or d.name in datasets]
    failed = [] if download else fetch_missing(suite, plans, data_root, log)
    wanted: Dict[str, List[str]] = {d.name: list(d.eval.get("extractors") or []) for d in plans}
    if suite.quality and any(wanted.values()):
        resolve_suite_spaces(wanted, log)
    try:
        yield
    finally:
        for name in failed:
            FETCH_FAILURES.pop(name, None)
