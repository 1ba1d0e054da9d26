"""Benchmarks: suite files -> run matrix -> executor -> store -> report.

- :mod:`ganzoo.bench.suite`: strict TOML suites expanded to :class:`RunSpec` s (with run ids);
- :mod:`ganzoo.bench.executor`: runs specs locally, in parallel worker processes;
- :mod:`ganzoo.bench.runner`: one run: train, evaluate, measure quality, stability, throughput;
- :mod:`ganzoo.bench.store`: the append-only ``runs.jsonl``;
- :mod:`ganzoo.bench.report` / :mod:`ganzoo.bench.figures`: tables, figures, REPORT.md;
- :mod:`ganzoo.bench.compare`: two result sets side by side;
- :mod:`ganzoo.bench.driver`: ``ganzoo bench`` itself.

Nothing heavy is imported here, so ``ganzoo list`` stays fast.
"""
