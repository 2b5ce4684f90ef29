"""The ridge score model and annealing's proposal screening: learns a real signal, ignores noise, picks its best."""
import copy
from dataclasses import replace

import numpy as np
import pytest

from compress.search import SearchConfig, Target, anneal, prepare, rescale
from compress.search.annealing import _propose, _screened, random_values
from compress.search.quick_eval import Evaluation
from compress.search.surrogate import fit_ridge

CONFIG = SearchConfig(candidates=30, progress=False, seed=0)


def test_ridge_learns_a_linear_signal_from_fewer_samples_than_knobs():
    rng = np.random.default_rng(0)
    x, beta = rng.random((30, 33)), rng.normal(size=33)
    model = fit_ridge(x, x @ beta + rng.normal(0, 0.05, 30))
    fresh = rng.random((200, 33))
    assert np.corrcoef(model.predict(fresh), fresh @ beta)[0, 1] > 0.8


def test_ridge_on_pure_noise_predicts_almost_a_constant():
    rng = np.random.default_rng(1)
    x, y = rng.random((30, 33)), rng.normal(size=30)
    x[:, 5] = 0.25  # a knob that never moved is ignored, not a division by zero
    model = fit_ridge(x, y)
    assert np.std(model.predict(rng.random((200, 33)))) < 0.3 * np.std(y)  # least squares: more than std(y)


@pytest.fixture
def linear_setup(trained):
    """The tiny model's action space and a noiseless score that is linear in the knob values."""
    model, splits = trained
    setup = prepare(model, splits, Target("rate", 3.0), CONFIG, "filter+column")
    weights = np.random.default_rng(7).normal(size=len(setup.space.knobs))

    def evaluate(action):
        return Evaluation(float(np.dot(weights, action.values)), 0.0, 0.0, 0.0)

    return setup, evaluate


def test_screening_evaluates_the_proposal_ranked_highest(linear_setup):
    setup, evaluate = linear_setup
    rng = np.random.default_rng(0)
    seen = [rescale(setup.space, setup.goal, random_values(setup.space, rng)) for _ in range(40)]
    history = [{"values": list(a.values), "score": evaluate(a).score} for a in seen]
    current, config = seen[0], replace(CONFIG, screen=8)
    draw = np.random.default_rng(5)
    replay = copy.deepcopy(draw)
    proposals = [_propose(np.array(current.values), setup.space, setup.goal, replay, config, current.key)
                 for _ in range(config.screen)]
    chosen = _screened(current, setup.space, setup.goal, draw, config, history, {})
    assert chosen.key == max(proposals, key=lambda a: evaluate(a).score).key
    plain = _screened(current, setup.space, setup.goal, copy.deepcopy(replay), replace(config, screen=1), history, {})
    assert plain.key == _propose(np.array(current.values), setup.space, setup.goal, replay, config, current.key).key


@pytest.mark.slow
def test_screened_annealing_climbs_higher_than_plain_annealing(linear_setup):
    setup, evaluate = linear_setup
    for seed in range(3):
        plain, screened = (anneal(setup.space, setup.goal, evaluate, replace(CONFIG, seed=seed, screen=n))
                           for n in (1, 8))
        assert screened.best_eval.score > plain.best_eval.score
        assert all(r["factor"] >= 3.0 for r in screened.history)  # (whole filters: a tiny model may overshoot)
