"""The typed run record: lossless to and from a runs.jsonl line, and the one throughput function."""
import json
from pathlib import Path

import pytest

from ganzoo.bench.frame import runs_frame
from ganzoo.bench.record import Environment, RunRecord, Stability, Throughput, Timing, throughput
from ganzoo.bench.store import dumps

EXAMPLE = Path(__file__).resolve().parents[1] / "results" / "example-quick" / "runs.jsonl"


def example_lines():
    return [line for line in EXAMPLE.read_text().splitlines() if line.strip()]


def test_every_stored_line_round_trips_exactly_keys_order_and_values():
    lines = example_lines()
    assert len(lines) >= 100
    for line in lines:
        parsed = json.loads(line)
        rec = RunRecord.from_dict(parsed)
        assert rec.to_dict() == parsed
        assert dumps(rec.to_dict()) == line  # the same bytes: key order kept too
        assert isinstance(rec.throughput, Throughput) and isinstance(rec.stability, Stability)
        assert isinstance(rec.env, Environment) and isinstance(rec.timing, Timing)
        assert not rec.extra and not rec.env.extra and not rec.throughput.extra


def test_typed_fields_read_what_the_line_holds():
    parsed = next(r for r in map(json.loads, example_lines()) if r["status"] == "ok")  # not the diverged one
    rec = RunRecord.from_dict(parsed)
    assert rec.run_id == parsed["run_id"] and rec.setting("steps") == parsed["spec"]["steps"]
    assert rec.throughput.img_per_s == parsed["throughput"]["img_per_s"]
    assert rec.throughput.peak_mem_mib == parsed["throughput"]["peak_mem_mib"]
    assert rec.stability.diverged_at is None and "diverged_at" in rec.to_dict()["stability"]  # null kept
    assert rec.timing.train_s == parsed["timing"]["train_s"] and rec.env.cuda is None


def test_old_and_new_lines_missing_fields_are_none_and_unknown_keys_survive():
    line = {"run_id": "x1", "dataset": "ring8", "status": "failed", "from_the_future": {"a": 1},
            "throughput": {"img_per_s": 5.0, "joules_per_img": 0.1},
            "env": {"torch": "2.0", "device": "cpu"}, "error": "Boom: bad\nmore", "traceback": None}
    rec = RunRecord.from_dict(line)
    assert rec.variant is None and rec.spec is None and rec.stability is None and rec.timing is None
    assert rec.throughput.s_per_kimg is None and rec.throughput.extra == {"joules_per_img": 0.1}
    assert rec.extra == {"from_the_future": {"a": 1}} and rec.error_line == "Boom: bad"
    assert rec.part("stability").best is None and rec.setting("metric", "m") == "m"
    assert rec.to_dict() == line  # absent stays absent, null stays null, nothing is lost


def test_throughput_is_the_one_rate_formula():
    tp = throughput(images=6400, g_steps=100, seconds=2.0)
    assert (tp.img_per_s, tp.s_per_kimg, tp.g_steps_per_s, tp.ms_per_step) == (3200.0, 1000.0 / 3200.0, 50.0, 20.0)
    assert (tp.real_images, tp.train_s) == (6400, 2.0)
    none = throughput(0, 0, 0.0)
    assert none.img_per_s is none.s_per_kimg is none.g_steps_per_s is none.ms_per_step is None
    out = none.to_dict()  # the rates are still written, as null, as the runner always did
    assert list(out) == ["img_per_s", "s_per_kimg", "g_steps_per_s", "ms_per_step", "real_images", "train_s",
                         "perf_used"]


def test_a_timed_out_run_keeps_the_layout_it_always_had():
    from ganzoo.bench.executor import _timed_out
    from ganzoo.bench.suite import RunSpec

    spec = RunSpec.from_dict(json.loads(example_lines()[0])["spec"])
    env = {"ganzoo": "0", "git_commit": None, "torch": "t"}
    rec = _timed_out(spec, env, 60.0)
    assert list(rec) == ["run_id", "suite", "variant", "dataset", "arch", "seed", "batch_size", "precision",
                         "perf", "status", "spec", "env", "timing", "error", "traceback", "failure"]
    assert rec["status"] == "failed" and rec["traceback"] is None and rec["failure"] == "timeout"
    assert list(rec["timing"]) == ["finished", "wall_s"] and rec["timing"]["wall_s"] == 60.0
    assert rec["env"] == env


def test_the_run_frame_reads_records_and_lines_alike():
    lines = [json.loads(line) for line in example_lines()[:6]]
    a = runs_frame(lines)
    b = runs_frame([RunRecord.from_dict(x) for x in lines])
    assert a.equals(b) and a["img_per_s"].notna().all()


@pytest.mark.parametrize("cls", [Environment, Timing, Stability, Throughput, RunRecord])
def test_an_empty_part_writes_nothing(cls):
    assert cls().to_dict() == {} and cls.from_dict({}).to_dict() == {}
