"""The published references: strict parsing, and the consistency mark a report computes."""
import math

import pytest
from test_bench_report import record, table_rows

from ganzoo.bench import references as pub
from ganzoo.bench.report import write_report
from ganzoo.bench.store import RunStore

GOOD = dict(variant="nsgan", published_as="GAN", dataset="ring8", metric="modes", value=6.3,
            spread=0.5, spread_kind="se", runs=10, protocol="p", source="PacGAN Table 1")


def test_shipped_references_parse_and_cover_the_three_tables():
    refs = pub.load_references()
    sources = {r.source.split(" (")[0] for r in refs}
    assert {"PacGAN", "VEEGAN", "GDPP"} <= sources
    assert all(r.source and r.protocol and r.runs >= 1 for r in refs)


@pytest.mark.parametrize("change, message", [
    ({"sourse": "x"}, r"unknown key\(s\) 'sourse'"),
    ({"source": ""}, "missing source"),
    ({"value": "6.3"}, "value must be a number"),
    ({"spread_kind": "sd"}, "spread_kind must be one of"),
    ({"spread_kind": "none"}, "needs no spread"),
])
def test_a_bad_reference_is_an_error_that_names_it(change, message):
    entry = {**GOOD, **change}
    with pytest.raises(pub.ReferenceError, match=message):
        pub.parse_references({"reference": [entry]})
    with pytest.raises(pub.ReferenceError, match="unknown top-level"):
        pub.parse_references({"reference": [GOOD], "extra": 1})


def test_a_published_cell_listed_twice_is_refused():
    """The shipped file once held four cells twice, and the report printed each row twice."""
    with pytest.raises(pub.ReferenceError, match="reference #2: the same published cell as reference #1"):
        pub.parse_references({"reference": [GOOD, {**GOOD, "protocol": "other words"}]})
    assert len(pub.parse_references({"reference": [GOOD, {**GOOD, "metric": "hq_fraction"}]})) == 2


def test_consistency_is_a_two_sample_z_rule_with_undecided_at_its_edges():
    ref = pub.parse_references({"reference": [GOOD]})[0]  # 6.3 ± 0.5 (standard error)
    # z = |7.0 - 6.3| / sqrt(1.0**2 / 4 + 0.5**2) = 0.7 / 0.707 = 0.99 < 2
    assert pub.consistency(ref, 7.0, 1.0, 4) == pub.CONSISTENT
    assert pub.z_score(ref, 7.0, 1.0, 4) == pytest.approx(0.7 / math.sqrt(0.5), rel=1e-9)
    # z = |8.0 - 6.3| / sqrt(0.2**2 / 4 + 0.25) = 1.7 / 0.51 = 3.33 >= 2
    assert pub.consistency(ref, 8.0, 0.2, 4) == pub.NOT_CONSISTENT
    # just either side of z = 2: difference 2 * sqrt(0.25 + 0.25) = 1.414...
    edge = 2 * math.sqrt(1.0 / 4 + 0.25)
    assert pub.consistency(ref, 6.3 + edge * 0.999, 1.0, 4) == pub.CONSISTENT
    assert pub.consistency(ref, 6.3 + edge * 1.001, 1.0, 4) == pub.NOT_CONSISTENT
    # one seed, or seeds that all agree: no spread of ours, so no verdict (the old rule demanded equality)
    assert pub.consistency(ref, 7.2, float("nan"), 1) == pub.UNDECIDED
    assert pub.consistency(ref, 8.0, 0.0, 3) == pub.UNDECIDED
    assert pub.consistency(ref, float("nan"), 0, 0) is None
    no_spread = {k: v for k, v in GOOD.items() if k != "spread"} | {"spread_kind": "none"}
    bare = pub.parse_references({"reference": [no_spread]})[0]
    assert pub.consistency(bare, 6.0, 0.5, 3) == pub.UNDECIDED  # the paper gave no spread
    unstated = pub.parse_references({"reference": [GOOD | {"spread_kind": "unstated"}]})[0]
    assert pub.consistency(unstated, 6.3, 0.5, 3) == pub.UNDECIDED  # a ± of unknown kind


def test_report_marks_each_published_value(tmp_path):
    store = RunStore(tmp_path)
    modes = {"nsgan": [6.0, 7.0, 6.0], "wgan-gp": [2.0, 2.0, 2.0]}
    for v, vals in modes.items():
        for seed, m in enumerate(vals):
            store.append(record("ring8", v, seed, fid=m, metric="modes"))
    text = write_report(tmp_path, figures=False).read_text()
    header, rows = table_rows(text, "### Published results beside ours")
    by = {(r[header.index("variant")], r[header.index("published")].split(" (")[1].split(",")[0]):
          r[header.index("ours vs published")] for r in rows}
    assert by[("nsgan", "PacGAN")] == "consistent"              # z = 0.03 / 0.56: 6.33 vs 6.3 ± 0.5
    assert by[("nsgan", "VEEGAN")] == "undecided"               # 1 mode published, no spread given
    assert by[("wgan-gp", "GDPP")] == "undecided"               # 2, 2, 2: no spread of ours, none published
    assert "unrolled (Unrolled GAN" in text                     # listed as not in this report
