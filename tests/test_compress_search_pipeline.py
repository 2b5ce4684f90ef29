"""The multi-round pipeline: targets per round, one loadable record, and resume after a kill anywhere."""
import json

import pytest
import torch

from compress.pruning import PruneBudget
from compress.restore import restore_model
from compress.search import CompressConfig, QuickEvalConfig, RoundResult, SearchConfig, autocompress, round_targets
from compress.train import TrainConfig

CONFIG = CompressConfig(
    target_rate=4.0, rounds=2, search=SearchConfig(candidates=5, progress=False),
    quick_eval=QuickEvalConfig(val_images=None, recalibrate_batches=2, recalibrate_batch_size=64),
    budget=PruneBudget(admm_epochs=2, retrain_epochs=2,
                       train=TrainConfig(lr=0.01, batch_size=64, threads=1, progress=False, train_limit=512)))


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def uninterrupted(trained, tmp_path_factory):
    model, splits = trained
    out = tmp_path_factory.mktemp("full")
    return autocompress(model, splits, CONFIG, out=out, arch="small_cnn"), out


class Killed(Exception):
    pass


def kill_when(**match):
    def callback(event):
        if all(event.get(k) == v for k, v in match.items()):
            raise Killed(str(event))
    return callback


def mac_cost(model, shape):
    """An analytic 'latency' in M MACs over kept rows x columns, with the kept-count form the search uses (a
    latency table's ``predict_kept``), so the search never builds models to price a candidate."""
    from compress.counting import count_model

    pixels = {layer.name: layer.out_pixels for layer in count_model(model, shape).layers}

    def predict(m):
        return count_model(m, shape).structured_macs / 1e6

    def predict_kept(kept):
        return sum(pixels[name] * rows * cols for name, (rows, cols) in kept.items()) / 1e6

    return predict, predict_kept


def test_round_targets_grow_geometrically():
    assert round_targets(8, 3) == [2.0, 4.0, 8.0]
    assert round_targets(4, 1) == [4.0]


def test_each_round_reaches_its_target_and_the_final_model_reloads(trained, uninterrupted):
    model, splits = trained
    report, out = uninterrupted
    assert [r.target for r in report.rounds] == [("rate", 2.0), ("rate", 4.0)]
    for r in report.rounds:
        assert r.stats.compression_rate >= r.target[1] * 0.999  # purification only removes more
        assert set(r.seconds) >= {"search", "admm", "retrain", "purify_compact_eval"}
        assert r.search["candidates"] == 5
        assert 0.0 <= r.accuracy["val"] <= 1.0 and 0.0 <= r.accuracy["compacted"] <= 1.0
    reloaded = restore_model(out / "model.pt")[0].eval()  # dense architecture + one composed record
    x, _ = next(iter(splits.loader("test", 64)))
    assert torch.allclose(reloaded(x), report.model(x), atol=1e-5)
    saved = json.loads((out / "report.json").read_text())
    assert saved["target"] == {"kind": "rate", "factor": 4.0}
    assert saved["stats"] == report.rounds[-1].stats.to_json() and saved["stats"]["compression_rate"] >= 4.0 * 0.999
    assert saved["accuracy"] == {"dense": report.rounds[0].accuracy["dense"],
                                 "compacted": report.rounds[-1].accuracy["compacted"],
                                 "val": report.rounds[-1].accuracy["val"]}
    assert [RoundResult.from_json(r) for r in saved["rounds"]] == list(report.rounds)
    assert "| 2 | 4x |" in (out / "report.md").read_text()


@pytest.mark.parametrize("kill", [dict(phase="retrain", round=1, epoch=2), dict(phase="search", round=2, step=2),
                                  dict(phase="admm", round=2, epoch=2)])
def test_resume_after_a_kill_mid_pipeline_gives_the_same_result(trained, uninterrupted, tmp_path, kill):
    model, splits = trained
    report, _ = uninterrupted
    with pytest.raises(Killed):
        autocompress(model, splits, CONFIG, out=tmp_path, callback=kill_when(**kill))
    seen = []
    again = autocompress(model, splits, CONFIG, out=tmp_path, resume=True, callback=seen.append)
    if kill["round"] == 2:  # round 1 was finished: it is loaded, not redone
        assert not [e for e in seen if e["round"] == 1]
    if kill["phase"] in ("admm", "retrain"):  # training continues from the last epoch checkpoint
        epochs = [e["epoch"] for e in seen if e["phase"] == kill["phase"] and e["round"] == kill["round"]]
        assert epochs == [kill["epoch"]]
    if kill["phase"] == "search":  # the search replays its log: no step before the kill is evaluated again
        assert [e["cached"] for e in seen if e["phase"] == "search"][:3] == [False] * 3
    assert [r.rates for r in again.rounds] == [r.rates for r in report.rounds]
    assert again.seconds >= sum(r.seconds["total_wall"] for r in again.rounds)  # loaded rounds keep their time
    for a, b in zip(again.model.state_dict().values(), report.model.state_dict().values()):
        assert torch.allclose(a.float(), b.float(), atol=1e-6)
    assert again.stats == report.stats


def test_exactly_one_final_target():
    with pytest.raises(ValueError, match="exactly one of target_rate, target_macs, target_latency"):
        CompressConfig(target_rate=4.0, target_macs=2.0)
    with pytest.raises(ValueError, match="unknown scheme 'colum'; expected one of"):
        CompressConfig(target_rate=4.0, scheme="colum")


def test_latency_target_reports_predicted_and_measured_cost_per_round(trained, tmp_path):
    """A latency objective is injected (here an analytic cost: MACs over kept rows x columns, and a 'measurement'
    10% above it); each round meets its cost goal by prediction and reports both numbers."""
    from dataclasses import replace

    from compress.search import LatencyObjective

    model, splits = trained
    cost, kept_cost = mac_cost(model, splits.input_shape)
    objective = LatencyObjective(predict=cost, measure=lambda m: 1.1 * cost(m), unit="M MACs", predict_kept=kept_cost)
    config = replace(CONFIG, target_rate=None, target_latency=3.0, latency_retries=0)  # no check before training
    report = autocompress(model, splits, config, out=tmp_path, latency=objective, arch="small_cnn")
    dense = cost(model)
    for r, factor in zip(report.rounds, round_targets(3.0, 2)):
        latency = r.latency
        assert latency["goal"] == pytest.approx(dense / factor)
        assert latency["predicted"] <= latency["goal"] * 1.001  # purification only removes more
        assert latency["measured"] == pytest.approx(1.1 * latency["predicted"])
        assert latency["prediction_error"] == pytest.approx(1 / 1.1 - 1)
    aimed = [r.target[1] for r in report.rounds]
    assert aimed == pytest.approx([round_targets(3.0, 2)[0], 1.1 * round_targets(3.0, 2)[1]])  # corrected by round 1
    assert report.rounds[1].latency["measured"] <= report.rounds[1].latency["goal"] * 1.001
    assert "cost measured on the compiled model (M MACs)" in (tmp_path / "report.md").read_text()


def test_a_latency_round_measures_its_searched_rates_before_training_and_searches_again_on_a_miss(trained, tmp_path):
    """The 'device' measures 1.1x what the table predicts: the first search misses its goal by 10%, is measured
    before any training, and a second search aimed 1.1x further meets the goal; a resumed run reuses the
    measurements instead of measuring again."""
    from dataclasses import replace

    from compress.search import LatencyObjective

    model, splits = trained
    cost, kept_cost = mac_cost(model, splits.input_shape)
    measured = []

    def measure(m):
        measured.append(cost(m))
        return 1.1 * measured[-1]

    objective = LatencyObjective(predict=cost, measure=measure, unit="M MACs", predict_kept=kept_cost)
    config = replace(CONFIG, target_rate=None, target_latency=2.0, rounds=1)
    with pytest.raises(Killed):
        autocompress(model, splits, config, out=tmp_path, latency=objective, arch="small_cnn",
                     callback=kill_when(phase="admm", epoch=1))
    checks = json.loads((tmp_path / "round-1" / "latency-checks.json").read_text())
    goal = cost(model) / 2.0
    assert len(checks) == 2 and (tmp_path / "round-1" / "search-2.jsonl").is_file()
    assert checks[0]["measured"] > goal * 1.05 and checks[0]["measured"] == pytest.approx(1.1 * checks[0]["predicted"])
    assert checks[1]["aim"] == pytest.approx(2.0 * 1.1)
    assert checks[1]["measured"] <= goal * 1.05
    calls = len(measured)
    report = autocompress(model, splits, config, out=tmp_path, latency=objective, arch="small_cnn", resume=True)
    assert len(measured) == calls + 1  # only the round's final measurement; the checks were replayed
    r = report.rounds[0]
    assert r.latency_checks == checks
    assert r.latency["measured"] <= r.latency["goal"] * 1.05
    assert "check 2 before training" in (tmp_path / "report.md").read_text()
