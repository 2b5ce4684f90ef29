"""Simulated annealing: sensible temperatures, every candidate on target, seeded, resumable after a kill."""
import copy
import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from compress.pruning import layer_weights, project_masks, purify_and_compact
from compress.counting import count_model
from compress.search import (LatencyObjective, QuickEvalConfig, SearchConfig, Target, acceptance_probability, accept,
                             anneal, cool, initial_values, prepare, rescale, search, settle,
                             uniform_action)
from compress.train import recalibrate_bn
from compress.train import evaluate

FAST = SearchConfig(candidates=12, progress=False, seed=3)
QUICK = QuickEvalConfig(val_images=None, recalibrate_batches=2, recalibrate_batch_size=64)


pytestmark = pytest.mark.usefixtures("one_thread")


class Killed(Exception):
    pass


def test_the_temperature_is_in_accuracy_units():
    config = SearchConfig()
    p_start = acceptance_probability(0.01, config.t_start)  # one point of accuracy worse, at the start
    assert 0.3 < p_start < 0.9
    rng = np.random.default_rng(0)
    decisions = [accept(0.01, config.t_start, rng) for _ in range(400)]
    assert 0 < sum(decisions) < 400  # sometimes accepted, sometimes rejected
    assert acceptance_probability(0.01, config.t_stop) < 1e-6  # at the end, worse moves are refused
    assert acceptance_probability(-0.01, config.t_stop) == 1.0  # better moves always pass
    assert acceptance_probability(0.01, 100.0) > 0.999  # NNI's T = 100 accepts almost everything


def test_cooling_is_geometric_and_ends_at_the_stop_threshold():
    config = SearchConfig(candidates=50)
    assert config.explore_steps == 12
    t = config.t_start
    for _ in range(config.candidates - config.explore_steps - 1):  # annealing steps after the sampling
        t = cool(t, config)
    assert t == pytest.approx(config.t_stop)
    with pytest.raises(ValueError, match="cooling 1.5 out of range"):
        SearchConfig(cooling=1.5)


def test_every_candidate_meets_the_target_and_the_seed_fixes_the_result(trained):
    model, splits = trained
    target = Target("rate", 3.0)
    results = [search(model, splits, target, FAST, quick=QUICK) for _ in range(2)]
    for r in results[0].history:
        assert r["holds"] and 3.0 <= r["factor"] <= 3.0 * 1.01
    assert [h["key"] for h in results[0].history] == [h["key"] for h in results[1].history]
    assert results[0].best.rates == results[1].best.rates
    other = search(model, splits, target, replace(FAST, seed=4), quick=QUICK)
    assert [h["key"] for h in other.history] != [h["key"] for h in results[0].history]
    top = max(results[0].history, key=lambda h: h["score"])  # the best candidate, settled on its compacted model
    setup = prepare(model, splits, target, FAST, "filter+column", QUICK)
    assert results[0].best.key == settle(setup.space, setup.goal, setup.space.action(np.array(top["values"]))).key
    sampled = results[0].history[:FAST.explore_steps]
    first_move = results[0].history[FAST.explore_steps]
    assert first_move["T"] == FAST.t_start  # annealing starts after the sampling, from its best candidate
    assert first_move["accepted"] or first_move["current"] == max(h["score"] for h in sampled)


def test_the_pick_is_settled_so_its_compacted_model_meets_the_target(trained):
    """Rates that leave channels with no column to read lose those filters in purification too: the analytic
    count overshoots the target, the settled action's compacted model (counted independently) meets it."""
    model, splits = trained
    target = Target("rate", 3.0)
    setup = prepare(model, splits, target, FAST, "filter+column", QUICK)
    values = np.where([k.kind == "column" for k in setup.space.knobs], 0.9, 0.0)  # columns only, steep
    action = rescale(setup.space, setup.goal, values)
    assert target.within(setup.goal.achieved(action)) and setup.goal.final(action) > 3.0 * 1.01

    def compacted_rate(a):
        work = copy.deepcopy(model).eval()
        project_masks(setup.structure, layer_weights(work), a.scheme, a.layer_rates()).apply(work)
        small = purify_and_compact(work, setup.structure, torch.randn(2, *splits.input_shape)).model
        return count_model(model, splits.input_shape).weights / count_model(small, splits.input_shape).nonzero_weights

    assert compacted_rate(action) == pytest.approx(setup.goal.final(action))
    settled = settle(setup.space, setup.goal, action)
    assert 3.0 <= compacted_rate(settled) <= 3.0 * 1.01


def test_the_uniform_action_is_a_start_so_the_search_never_ends_below_it(trained):
    model, splits = trained
    setup = prepare(model, splits, Target("macs", 2.0), FAST, "filter+column", QUICK)
    result = anneal(setup.space, setup.goal, setup.evaluator, FAST)
    uniform = uniform_action(setup.space, setup.goal)
    assert result.history[2]["key"] == list(uniform.key)  # after the sensitivity and experience-guided starts
    assert result.history[0]["key"] != result.history[2]["key"]
    assert result.best_eval.score >= setup.evaluator(uniform).score


def test_the_baselines_run_in_the_same_loop(trained):
    model, splits = trained
    setup = prepare(model, splits, Target("rate", 3.0), FAST, "filter+column", QUICK)
    uniform = anneal(setup.space, setup.goal, setup.evaluator, replace(FAST, method="uniform"))
    settled = settle(setup.space, setup.goal, uniform_action(setup.space, setup.goal))
    assert uniform.steps == 1 and uniform.best.key == settled.key
    random = anneal(setup.space, setup.goal, setup.evaluator, replace(FAST, method="random"))
    assert random.steps == FAST.candidates and all(h["holds"] for h in random.history)
    assert all(h["T"] == FAST.t_start for h in random.history)  # sampling only, no annealing moves
    top = max(random.history, key=lambda h: h["score"])
    assert random.best.key == settle(setup.space, setup.goal, setup.space.action(np.array(top["values"]))).key
    size = anneal(setup.space, setup.goal, setup.evaluator, replace(FAST, method="size"))
    start = settle(setup.space, setup.goal, rescale(setup.space, setup.goal, initial_values(setup.space, FAST)))
    assert size.steps == 1 and size.best.key == start.key and size.best.key != uniform.best.key
    with pytest.raises(ValueError, match="unknown search method 'grid'"):
        SearchConfig(method="grid")


def test_quick_eval_scores_the_projected_recalibrated_model_on_validation_only(trained):
    model, splits = trained
    no_test = replace(splits, test=splits.test.subset(np.arange(0)), _loaders={})  # touching test would raise
    setup = prepare(model, no_test, Target("rate", 2.0), FAST, "filter+column", QUICK)
    action = setup.space.action(np.full(len(setup.space.knobs), 0.4))
    first = setup.evaluator(action)
    assert setup.evaluator(action) is first and setup.evaluator.evaluations == 1  # cached
    manual = copy.deepcopy(model)
    project_masks(setup.structure, layer_weights(manual), "filter+column", action.layer_rates()).apply(manual)
    recalibrate_bn(manual, setup.evaluator.calibration)
    expected = evaluate(manual, splits.loader("val", 500))
    assert first.accuracy == pytest.approx(expected["accuracy"])
    assert first.loss == pytest.approx(expected["loss"], rel=1e-4)
    assert torch.equal(model.features[0].weight, trained[0].features[0].weight)  # the model is untouched


def test_quick_eval_finetune_steps_train_the_pruned_copy_and_keep_its_zeros(trained):
    """With ``finetune_steps`` the projected copy takes SGD steps first: its loss falls below the one-shot loss of
    the same action, the pruned entries stay zero, the model is untouched and a second evaluator agrees."""
    model, splits = trained
    tuned_config = replace(QUICK, finetune_steps=8, finetune_lr=0.02)
    one_shot = prepare(model, splits, Target("rate", 4.0), FAST, "filter+column", QUICK)
    action = one_shot.space.action(np.full(len(one_shot.space.knobs), 0.6))
    tuned = [prepare(model, splits, Target("rate", 4.0), FAST, "filter+column", tuned_config).evaluator
             for _ in range(2)]
    first = tuned[0](action)
    assert first.loss < one_shot.evaluator(action).loss, (first, one_shot.evaluator(action))
    assert tuned[1](action).loss == pytest.approx(first.loss, rel=1e-5)
    masks = project_masks(one_shot.structure, layer_weights(model), "filter+column", action.layer_rates())
    work = tuned[0].project(action)
    assert all(bool((p[~m] == 0).all()) for layer, params in masks.layers.items()
               for p, m in ((getattr(work.get_submodule(layer), n), m) for n, m in params.items()))
    assert torch.equal(model.features[0].weight, trained[0].features[0].weight)


def test_resume_after_a_kill_mid_search_continues_and_matches(trained, tmp_path):
    model, splits = trained
    target, config = Target("rate", 3.0), replace(FAST, candidates=10)
    full = search(model, splits, target, config, quick=QUICK, log_path=tmp_path / "full.jsonl")

    def kill_at_6(record):
        if record["step"] == 6:
            raise Killed

    setup = prepare(model, splits, target, config, "filter+column", QUICK)
    with pytest.raises(Killed):
        anneal(setup.space, setup.goal, setup.evaluator, config, tmp_path / "run.jsonl", callback=kill_at_6)
    with (tmp_path / "run.jsonl").open("a") as f:
        f.write('{"kind": "step", "step": 7, "T"')  # the process died while writing a line
    fresh = prepare(model, splits, target, config, "filter+column", QUICK)
    resumed = anneal(fresh.space, fresh.goal, fresh.evaluator, config, tmp_path / "run.jsonl", resume=True)
    settled = int(resumed.best.key not in {tuple(h["key"]) for h in resumed.history})  # the pick, settled
    assert fresh.evaluator.evaluations <= 3 + settled  # only steps 7, 8, 9 can need an evaluation
    assert fresh.evaluator.evaluations == settled + len({tuple(h["key"]) for h in resumed.history[7:]}
                                                        - {tuple(h["key"]) for h in resumed.history[:7]})
    assert [h["key"] for h in resumed.history] == [h["key"] for h in full.history]
    assert [h["accepted"] for h in resumed.history] == [h["accepted"] for h in full.history]
    assert resumed.best.rates == full.best.rates
    lines = [json.loads(line) for line in (tmp_path / "run.jsonl").read_text().splitlines()]
    assert [r["kind"] for r in lines] == ["header", "sensitivity"] + ["step"] * 10 + ["final"]


def test_resume_refuses_a_log_from_another_search(trained, tmp_path):
    model, splits = trained
    search(model, splits, Target("rate", 3.0), replace(FAST, candidates=2), quick=QUICK, log_path=tmp_path / "s.jsonl")
    with pytest.raises(ValueError, match=r"different search \(target.factor: 3.0 -> 2.0"):
        search(model, splits, Target("rate", 2.0), replace(FAST, candidates=2), quick=QUICK,
               log_path=tmp_path / "s.jsonl", resume=True)


def test_a_latency_on_modules_is_measured_on_the_projected_model(trained):
    model, splits = trained
    calls = []

    def fake_latency(module):  # stands in for a measured time: proportional to the pruned model's MACs
        calls.append(module)
        return 1e-6 * count_model(module, splits.input_shape).structured_macs + 1e-3

    setup = prepare(model, splits, Target("latency", 1.5), FAST, "filter+column", QUICK, latency=fake_latency,
                    latency_on="module")
    action = rescale(setup.space, setup.goal, initial_values(setup.space, FAST))
    assert len(calls) > 2 and setup.goal.achieved(action) >= 1.5
    assert setup.goal.achieved(action) == pytest.approx(
        (1e-6 * count_model(model, splits.input_shape).macs + 1e-3) / (1e-6 * action.macs + 1e-3))


def test_a_latency_objective_with_kept_counts_is_asked_for_counts_not_models(trained):
    model, splits = trained
    seen = []

    def per_layer_counts(kept):  # stands in for a latency table: cost proportional to kept weights
        seen.append(dict(kept))
        return 1e-6 * sum(rows * cols for rows, cols in kept.values()) + 1e-3

    def never(module):
        raise AssertionError("the search must not project models when it has kept counts")

    objective = LatencyObjective(predict=never, predict_kept=per_layer_counts)
    setup = prepare(model, splits, Target("latency", 1.5), FAST, "filter+column", QUICK, latency=objective)
    action = rescale(setup.space, setup.goal, initial_values(setup.space, FAST))
    assert set(seen[-1]) == set(setup.cost.layers) and setup.goal.achieved(action) >= 1.5
    assert seen[-1] == dict(zip(setup.cost.layers, setup.cost.kept_table(action.rates, "filter+column")))
    assert setup.goal.achieved(action) == pytest.approx(
        (1e-6 * setup.cost.dense_weights + 1e-3) / (1e-6 * action.weights + 1e-3))
