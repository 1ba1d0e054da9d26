"""Several feature spaces in one report: the headline names the one it ranks by, density has
no "best" (it is good near 1), coverage does, and the protocol names each space's weights."""
import pandas as pd

from ganzoo.bench.frame import quality_measure
from ganzoo.bench.report import describe_extractor, ranked_by


def test_the_headline_names_the_space_it_ranks_by_and_the_others():
    df = pd.DataFrame({"dataset": ["mnist", "mnist", "ring8"], "metric": ["FID[ganzoo-mnist]"] * 2 + ["overlap"],
                       "q.FID[ganzoo-mnist]": [50.0, 60.0, None], "q.FD[dinov2-vit-l-14]": [300.0, 320.0, None],
                       "q.FID[inception]": [20.0, None, None], "q.coverage[dinov2-vit-l-14]": [0.5, 0.4, None],
                       "q.overlap": [None, None, 0.7]})
    summary = pd.DataFrame({"dataset": ["mnist", "ring8"], "metric": ["FID[ganzoo-mnist]", "overlap"]})
    text = ranked_by(df, summary, ["mnist", "ring8"])
    assert text == ("mnist by FID[ganzoo-mnist] (feature space ganzoo-mnist, also measured in dinov2-vit-l-14, "
                    "inception: see its quality table); ring8 by overlap")


def test_density_is_shown_without_a_best_and_coverage_with_one():
    assert quality_measure("density[dinov2-vit-l-14]").higher_better is None
    assert quality_measure("coverage[dinov2-vit-l-14]").higher_better is True
    assert quality_measure("FD[dinov2-vit-l-14]").higher_better is False
    assert quality_measure("precision[ganzoo-mnist]").higher_better is True


def test_the_protocol_names_each_spaces_weights_and_the_missing_ones():
    proto = {"feature_spaces": {
        "ganzoo-mnist": {"fingerprint": "abc123abc123", "heldout_accuracy": 0.9875},
        "dinov2-vit-l-14": {"fingerprint": "0123456789ab", "title": "DINOv2 ViT-L/14", "sha256": "0123456789ab" + "f" * 52,
                            "official_weights": None}},
        "feature_spaces_missing": {"inception": "Inception FID needs ... weights-inception-2015-12-05-6726825d.pth"}}
    text = describe_extractor(proto)
    assert "ganzoo-mnist [abc123abc123], held-out accuracy 98.8%" in text
    assert "dinov2-vit-l-14 [0123456789ab] (DINOv2 ViT-L/14, weights SHA-256 0123456789abffff" in text
    assert "inception: not measured (Inception FID needs ... weights-inception-2015-12-05-6726825d.pth)" in text
