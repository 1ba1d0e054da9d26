"""Reports and comparisons built from hand-made stores (no training)."""
import itertools
import re

import numpy as np
import pandas as pd
import pytest
from scipy.stats import t as scipy_t
from scipy.stats import ttest_ind as scipy_ttest

from ganzoo.bench import stats
from ganzoo.bench.compare import compare
from ganzoo.bench.report import write_report
from ganzoo.bench.store import RunStore
from ganzoo.cli import main

_ids = itertools.count()


def record(dataset, variant, seed, fid=None, status="ok", img_per_s=1000.0, curve=None, metric="fid",
           threshold=None):
    curve = curve if curve is not None else ([] if fid is None else
                                             [{"step": 10, "train_s": 1.0, metric: fid * 2},
                                              {"step": 20, "train_s": 2.0, metric: fid}])
    return {
        "run_id": f"r{next(_ids)}", "suite": "hand", "dataset": dataset, "variant": variant, "arch": "mlp",
        "seed": seed, "batch_size": 64, "precision": "fp32", "perf": "eager", "status": status,
        "spec": {"metric": metric, "threshold": threshold, "steps": 20, "eval_every": 10,
                 "eval_samples": 100, "final_samples": 500, "hparams": {"lr_d": 2e-4}},
        "final": {} if fid is None else {metric: fid},
        "curve": curve,
        "stability": {"metric": metric, "divergence": "non-finite loss" if status == "diverged" else None,
                      "diverged_at": 15 if status == "diverged" else None, "fall_back": 0.0},
        "throughput": {"img_per_s": img_per_s, "s_per_kimg": 1000 / img_per_s, "g_steps_per_s": img_per_s / 64,
                       "peak_mem_mib": 100.0, "peak_mem_kind": "CPU: peak RSS"},
        "timing": {"train_s": 2.0, "eval_s": 0.5, "wall_s": 3.0, "started": "2026-01-01T00:00:00+00:00",
                   "finished": "2026-01-01T00:00:03+00:00"},
        "env": {"device": "cpu (test)", "torch": "x", "ganzoo": "0.1.0"},
        "protocol": {"extractor": "test-extractor", "fingerprint": "abc123"},
    }


FIDS = {"a": [20.0, 21.0, 23.0], "b": [10.0, 11.0, 12.5], "c": [8.0, 9.0, None]}  # c: one seed diverged


@pytest.fixture
def hand_store(tmp_path):
    store = RunStore(tmp_path)
    for v, vals in FIDS.items():
        for seed, fid in enumerate(vals):
            store.append(record("digits", v, seed, fid=fid, status="ok" if fid is not None else "diverged",
                                img_per_s={"a": 500.0, "b": 2000.0, "c": 1000.0}[v] + seed, threshold=15.0))
    return tmp_path


def table_rows(md: str, heading: str):
    """(header, rows) of the first markdown table after ``heading``; cells stripped."""
    lines = md.split(heading, 1)[1].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    block = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        block.append([c.strip() for c in line.strip("|").split("|")])
    return block[0], block[2:]


def test_summary_means_cis_ranks_and_best_marks(hand_store):
    report = write_report(hand_store, figures=False)
    summary = pd.read_csv(hand_store / "summary.csv").set_index("config")
    for v, vals in FIDS.items():
        ok = [x for x in vals if x is not None]
        assert summary.loc[v, "q.fid:mean"] == pytest.approx(np.mean(ok))
        assert summary.loc[v, "q.fid:std"] == pytest.approx(np.std(ok, ddof=1))
        assert summary.loc[v, "q.fid:n"] == len(ok)
        # Student's t interval: mean ± t(0.975, n - 1) · s / sqrt(n)
        half = scipy_t.ppf(0.975, len(ok) - 1) * np.std(ok, ddof=1) / np.sqrt(len(ok))
        assert summary.loc[v, "q.fid:ci_lo"] == pytest.approx(np.mean(ok) - half)
        assert summary.loc[v, "q.fid:ci_hi"] == pytest.approx(np.mean(ok) + half)
    assert summary.loc["c", "ok"] == 2 and summary.loc["c", "diverged"] == 1
    # success: seeds whose curve reached fid <= 15 (c's diverged seed has no curve)
    assert summary.loc["b", "success_rate"] == 1.0 and summary.loc["a", "success_rate"] == 0.0
    assert summary.loc["c", "success_rate"] == pytest.approx(2 / 3)
    # ranks: c's diverged seed counts as the worst fid seen (23): (8 + 9 + 23) / 3 = 13.33 > b's 11.17
    assert summary.loc["b", "rank"] == 1 and summary.loc["c", "rank"] == 2 and summary.loc["a", "rank"] == 3

    md = report.read_text()
    header, rows = table_rows(md, "### Quality (final evaluation)")
    fid_col = header.index("fid ↓")
    by_variant = {r[header.index("variant")]: r for r in rows}
    assert [r[header.index("variant")] for r in rows] == ["b", "c", "a"]  # sorted by rank
    # c has the best mean of its finished seeds, but a diverged seed: never bold; b is the best clean one
    assert by_variant["c"][fid_col] == "8.50 [2.15, 14.9]"
    assert by_variant["b"][fid_col].startswith("**11.2 [")
    assert by_variant["c"][header.index("not ok")] == "1 diverged"
    header, rows = table_rows(md, "### Throughput and time-to-quality")
    ips = {r[header.index("variant")]: r[header.index("img/s ↑")] for r in rows}
    assert ips["b"].startswith("**2,001") and not ips["a"].startswith("**")
    assert "test-extractor [abc123]" in md  # the protocol names the extractor and its fingerprint
    assert "| digits    | c         |      2 | diverged" in md or re.search(r"\|\s*digits\s*\|\s*c\s*\|\s*2\s*\|\s*diverged", md)


def test_report_draws_and_links_figures(hand_store, tmp_path):
    import numpy as np
    store = RunStore(hand_store)
    rid = store.records()[0]["run_id"]
    store.save_samples(rid, images=np.zeros((16, 1, 8, 8), dtype=np.uint8))
    md = write_report(hand_store).read_text()
    for name in ("digits_curve.png", "digits_final.png", "digits_samples.png", "throughput.png"):
        assert (hand_store / "figures" / name).is_file()
        assert f"(figures/{name})" in md


def test_bootstrap_ci_matches_an_independent_resampling():
    x = np.array([3.0, 7.0, 1.0, 9.0, 4.0, 6.0, 5.0, 8.0])
    lo, hi = stats.bootstrap_ci(x)
    rng = np.random.default_rng(123)
    means = x[rng.integers(0, len(x), size=(100_000, len(x)))].mean(axis=1)
    assert lo == pytest.approx(np.percentile(means, 2.5), abs=0.15)
    assert hi == pytest.approx(np.percentile(means, 97.5), abs=0.15)
    assert np.isnan(stats.bootstrap_ci([1.0])[0])


def write_store(path, values, variant="nsgan", metric="fid"):
    store = RunStore(path)
    for seed, v in enumerate(values):
        store.append(record("digits", variant, seed, fid=v, metric=metric))
    return path


A6 = [10.0, 11.0, 12.0, 13.0, 14.0, 15.0]


def test_compare_flags_a_real_difference(tmp_path):
    a = write_store(tmp_path / "a", A6)
    b = write_store(tmp_path / "b", [v + 20 for v in A6])
    table, text = compare(a, b)  # Welch's t test
    row = table[table.measure == "fid"].iloc[0]
    assert row["delta"] == pytest.approx(20.0)
    assert row["p"] == pytest.approx(scipy_ttest(A6, [v + 20 for v in A6], equal_var=False).pvalue)
    assert row["hedges_g"] == pytest.approx((1 - 3 / 39) * 20.0 / np.std(A6, ddof=1))  # effect size
    assert row["sig"] == "**" and row["verdict"] == "▼ B worse"  # fid: lower is better
    assert "Hedges' g" in text
    table_m, _ = compare(a, b, test="mannwhitney")
    assert table_m[table_m.measure == "fid"].iloc[0]["p"] == pytest.approx(2 / 924)  # exact, complete separation
    table_b, _ = compare(a, b, test="bootstrap")
    assert table_b[table_b.measure == "fid"].iloc[0]["sig"] != ""


def test_compare_does_not_flag_a_null_difference(tmp_path):
    a = write_store(tmp_path / "a", A6)
    b = write_store(tmp_path / "b", [12.0, 10.0, 15.0, 11.0, 14.0, 13.0])  # the same values, reshuffled
    for test in ("welch", "mannwhitney", "bootstrap"):
        table, _ = compare(a, b, test=test)
        row = table[table.measure == "fid"].iloc[0]
        assert row["delta"] == pytest.approx(0.0) and row["sig"] == ""


def test_compare_says_when_seeds_are_too_few(tmp_path, capsys):
    a = write_store(tmp_path / "a", [1.0, 2.0, 3.0])
    b = write_store(tmp_path / "b", [100.0, 200.0, 300.0])
    assert main(["compare", str(a), str(b), "--test", "mannwhitney"]) == 0
    out = capsys.readouterr().out
    assert "smallest attainable Mann-Whitney p-value is 0.1" in out
    assert "| nsgan" in out and "fid" in out
    c = write_store(tmp_path / "c", [101.0, 102.0, 103.0])
    assert main(["compare", str(a), str(c)]) == 0  # Welch's t test can call it with 3 seeds a side
    out = capsys.readouterr().out
    assert "smallest attainable" not in out and "** ▼ B worse" in out
    one_a, one_b = write_store(tmp_path / "one_a", [1.0]), write_store(tmp_path / "one_b", [2.0])
    assert main(["compare", str(one_a), str(one_b)]) == 0
    assert "no test can reach significance" in capsys.readouterr().out


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["bench", "no-such-suite", "--out", str(tmp_path)]) == 2
    assert "no suite 'no-such-suite'" in capsys.readouterr().err
    assert main(["report", str(tmp_path)]) == 2
    assert "no finished runs" in capsys.readouterr().err


def test_runs_of_other_settings_are_not_pooled_as_seeds(tmp_path):
    """An earlier call with other steps or hyperparameters in the same folder: separate rows."""
    store = RunStore(tmp_path)
    for seed, fid in enumerate([10.0, 12.0]):
        store.append(record("digits", "a", seed, fid=fid))
    longer = record("digits", "a", 0, fid=5.0)
    longer["spec"]["steps"] = 40
    store.append(longer)
    other_lr = record("digits", "a", 0, fid=30.0)
    other_lr["spec"]["hparams"] = {"lr_d": 1e-3}
    store.append(other_lr)
    write_report(tmp_path, figures=False)
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert len(summary) == 3
    means = sorted(summary["q.fid:mean"])
    assert means == pytest.approx([5.0, 11.0, 30.0])
    assert any("steps 40" in c for c in summary["config"])
    assert summary.set_index("q.fid:mean").loc[11.0, "q.fid:n"] == 2


def test_protocol_shows_betas_only_for_adam(tmp_path):
    store = RunStore(tmp_path)
    for variant, hp in (("adam-v", {"optimizer": "adam", "lr_d": 1e-4, "betas": [0.0, 0.9]}),
                        ("rms-v", {"optimizer": "rmsprop", "lr_d": 5e-5, "betas": [0.5, 0.999]})):
        rec = record("digits", variant, 0, fid=10.0)
        rec["spec"]["hparams"] = hp
        store.append(rec)
    md = write_report(tmp_path, figures=False).read_text()
    rows = {r[0]: r[2] for r in table_rows(md, "overrides them:")[1]}
    assert "betas=(0, 0.9)" in rows["adam-v"]
    assert "rmsprop" in rows["rms-v"] and "betas" not in rows["rms-v"]


def test_per_dataset_settings_get_their_own_rows_and_the_suite_note_is_shown(tmp_path):
    store = RunStore(tmp_path)
    for dataset, lr in (("ring8", 1e-3), ("grid25", 1e-3), ("digits", 2e-4)):
        rec = record(dataset, "nsgan", 0, fid=10.0)
        rec["spec"]["hparams"] = {"lr_d": lr}
        store.append(rec)
    store.append(record("digits", "other", 0, fid=12.0))
    store.log_invocation({"event": "start", "datasets": ["ring8", "grid25", "digits"],
                          "suite": {"name": "hand", "raw": {"datasets": {
                              "digits": {"note": "Digits run longer so that variants separate."}}}}})
    md = write_report(tmp_path, figures=False).read_text()
    header, rows = table_rows(md, "overrides them:")
    assert header == ["variant", "datasets", "hyperparameters"]
    assert ["nsgan", "ring8, grid25", "lr_d=0.001"] in rows
    assert ["nsgan", "digits", "lr_d=0.0002"] in rows
    assert "Budget rule: equal generator steps" in md
    digits = md.split("## digits", 1)[1].split("\n## ", 1)[0]
    assert "> Digits run longer so that variants separate." in digits
    assert "Digits run longer" not in md.split("## digits", 1)[0]


def headings(md: str):
    return [line for line in md.splitlines() if line.startswith("#")]


def test_failed_diverged_skipped_and_unrun_runs_are_reported(tmp_path):
    """Every section of a report whose bench call left things out, in order, with what it names."""
    store = RunStore(tmp_path)
    runs = [record("digits", "a", 0, fid=10.0), record("digits", "a", 1, fid=11.0),
            record("digits", "a", 2, status="failed"), record("digits", "b", 0, status="diverged"),
            record("digits", "b", 1, fid=12.0)]
    runs[2]["error"] = "RuntimeError: out of cheese\nTraceback (most recent call last): ..."
    for rec in runs:
        store.append(rec)
    planned = {r["run_id"]: f"{r['variant']} seed {r['seed']}" for r in runs} | {"gone": "c · digits · seed 0"}
    store.log_invocation({"event": "start", "datasets": ["digits"], "planned": planned,
                          "skipped": ["dataset mnist skipped (optional, data not found): /nowhere/mnist"],
                          "suite": {"name": "left-out", "description": "A suite with gaps.",
                                    "profile": "tiny, for a test."}})
    md = write_report(tmp_path, figures=False).read_text()
    assert headings(md) == [
        "# ganzoo benchmark: `left-out`", "## Headline", "## digits", "### Quality (final evaluation)",
        "### Stability", "### Throughput and time-to-quality", "## Runs that are not ok", "## Protocol",
        "## Environment", "## Files",
    ]
    assert "A suite with gaps.\n\n> **Profile.** tiny, for a test.\n" in md
    assert "5 runs: 3 ok, 1 diverged, 1 failed; 2 variants × 1 datasets × 3 seeds." in md
    gaps = md.split("**Not in this report:**", 1)[1].split("\n## ", 1)[0]
    assert "- dataset mnist skipped (optional, data not found): /nowhere/mnist" in gaps
    assert "- **1 planned run(s) did not run** (time budget or interruption): c · digits · seed 0" in gaps
    header, rows = table_rows(md, "## Runs that are not ok")
    assert header == ["dataset", "variant", "seed", "class", "at step", "why"]
    assert sorted(rows) == [["digits", "a", "2", "failed", "—", "RuntimeError: out of cheese"],
                            ["digits", "b", "0", "diverged", "15", "non-finite loss"]]
    assert md.endswith("`samples/`: the samples they show.\n")


def test_a_report_of_clean_runs_says_none_diverged(tmp_path):
    write_store(tmp_path, [10.0, 11.0])
    md = write_report(tmp_path, figures=False).read_text()
    problems = md.split("## Runs that are not ok", 1)[1].split("\n## ", 1)[0]
    assert problems.strip() == "None: every run is of class ok."
    assert "**Not in this report:**" not in md


def test_a_report_without_quality_headlines_throughput(tmp_path):
    store = RunStore(tmp_path)
    for v, ips in (("a", 500.0), ("b", 2000.0)):
        store.append(record("ring8", v, 0, metric=None, img_per_s=ips))
    md = write_report(tmp_path, figures=False).read_text()
    assert headings(md) == ["# ganzoo benchmark: `hand`", "## Headline: real images per second", "## ring8",
                            "### Throughput", "## Runs that are not ok", "## Protocol", "## Environment",
                            "## Files"]
    header, rows = table_rows(md, "## Headline: real images per second")
    assert header == ["variant", "ring8"] and rows[1][1].startswith("**2,000")
    assert "No quality was measured in this suite." in md and "time-to-quality" not in md


def test_the_template_refuses_data_that_lacks_a_value(tmp_path):
    """StrictUndefined: a value the template names but the data lacks fails, not renders empty."""
    import jinja2

    from ganzoo.bench import report

    write_store(tmp_path, [10.0, 11.0])
    store = RunStore(tmp_path)
    records = store.latest()
    df = report.runs_frame(records, report.thresholds_from(store, records))
    data = report.report_data(tmp_path, store, records, df, report.summarize(df), {})
    assert "## Protocol" in report.report_template().render(data)
    del data["protocol"]
    with pytest.raises(jinja2.UndefinedError, match="protocol"):
        report.report_template().render(data)
