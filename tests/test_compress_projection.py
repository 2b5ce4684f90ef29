"""Per-layer projections keep exactly kept(n, rate) rows/columns/weights, and the largest ones."""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from compress.pruning.projection import (column_mask, filter_mask, hybrid_mask, kept, project, unstructured_mask)

shapes = st.tuples(st.integers(1, 12), st.integers(1, 6), st.sampled_from([1, 3]))
rates = st.floats(0.0, 0.95)


def conv_weight(shape, seed):
    f, c, k = shape
    return torch.randn(f, c, k, k, generator=torch.Generator().manual_seed(seed))


@settings(max_examples=60, deadline=None)
@given(shapes, rates, st.integers(0, 10_000))
def test_filter_mask_keeps_the_largest_rows(shape, rate, seed):
    w = conv_weight(shape, seed)
    rows = filter_mask(w, rate).reshape(w.shape[0], -1)
    assert (rows.all(1) | ~rows.any(1)).all()  # whole rows
    keep = rows.any(1)
    assert int(keep.sum()) == kept(w.shape[0], rate)
    norms = w.reshape(w.shape[0], -1).norm(dim=1)
    if (~keep).any():
        assert norms[keep].min() >= norms[~keep].max()


@settings(max_examples=60, deadline=None)
@given(shapes, rates, st.integers(0, 10_000))
def test_column_mask_keeps_the_largest_columns(shape, rate, seed):
    w = conv_weight(shape, seed)
    cols = column_mask(w, rate).reshape(w.shape[0], -1)
    assert (cols == cols[:1]).all()  # the same columns in every row
    keep = cols[0]
    assert int(keep.sum()) == kept(keep.numel(), rate)
    norms = w.reshape(w.shape[0], -1).norm(dim=0)
    if (~keep).any():
        assert norms[keep].min() >= norms[~keep].max()


@settings(max_examples=40, deadline=None)
@given(shapes, rates, rates, st.integers(0, 10_000))
def test_hybrid_mask_is_rows_times_columns(shape, filter_rate, column_rate, seed):
    w = conv_weight(shape, seed)
    m = hybrid_mask(w, (filter_rate, column_rate)).reshape(w.shape[0], -1)
    rows, cols = m.any(1), m.any(0)
    assert int(rows.sum()) == kept(w.shape[0], filter_rate)
    assert int(cols.sum()) == kept(cols.numel(), column_rate)
    assert torch.equal(m, rows[:, None] & cols[None, :])


@settings(max_examples=40, deadline=None)
@given(shapes, rates, st.integers(0, 10_000))
def test_unstructured_mask_keeps_the_largest_weights(shape, rate, seed):
    w = conv_weight(shape, seed)
    m = unstructured_mask(w, rate)
    assert int(m.sum()) == kept(w.numel(), rate)
    if (~m).any():
        assert w[m].abs().min() >= w[~m].abs().max()


def test_column_rate_counts_only_live_columns():
    w = torch.randn(4, 10)
    live = torch.tensor([True] * 6 + [False] * 4)
    m = column_mask(w, 0.5, live)[0]
    assert int(m.sum()) == 3 and not m[6:].any()


def test_linear_weights_project_too():
    w = torch.randn(10, 64)
    assert int(filter_mask(w, 0.3).any(1).sum()) == 7
    assert int(column_mask(w, 0.25)[0].sum()) == 48


def test_rate_semantics_round_and_keep_one():
    assert kept(64, 0.5) == 32 and kept(10, 0.25) == 8 and kept(3, 0.9) == 1


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5])
def test_bad_rate_is_named(rate):
    with pytest.raises(ValueError, match=str(rate)):
        filter_mask(torch.randn(4, 4), rate)


def test_unknown_scheme_lists_the_allowed_set():
    with pytest.raises(ValueError, match="'colum'.*filter, column, filter\\+column, unstructured"):
        project(torch.randn(4, 4), "colum", 0.5)


def test_hybrid_needs_a_pair():
    with pytest.raises(ValueError, match="pair"):
        project(torch.randn(4, 4), "filter+column", 0.5)
