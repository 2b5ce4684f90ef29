"""Counting with zeros: structured (skipped rows/columns) and unstructured (skipped single weights)."""
import torch
from torch import nn

from compress.counting import count_model


def test_zero_filters_and_columns_are_skipped():
    model = nn.Sequential(nn.Conv2d(4, 8, 3, padding=1, bias=False), nn.Flatten(), nn.Linear(8 * 6 * 6, 5))
    with torch.no_grad():
        w = model[0].weight  # (8, 4, 3, 3): matrix 8 x 36
        w[2] = 0  # one filter
        w[5] = 0  # another
        w[:, 1, 0, 0] = 0  # one column
        w[:, 3] = 0  # a whole input channel: 9 columns
        w[0, 0, 0, 0] = 0  # one single weight
    counts = count_model(model, (4, 6, 6))
    conv = counts.layers[0]
    assert (conv.rows, conv.cols) == (8, 36)
    assert (conv.kept_rows, conv.kept_cols) == (6, 26)
    assert conv.nonzero_weights == 6 * 26 - 1
    assert conv.structured_macs == 36 * 6 * 26
    assert conv.nonzero_macs == 36 * (6 * 26 - 1)
    assert counts.weights == 288 + 8 * 36 * 5
    assert counts.nonzero_weights == 6 * 26 - 1 + 8 * 36 * 5
    assert abs(counts.compression_rate - counts.weights / counts.nonzero_weights) < 1e-12
    assert counts.nonzero_params == counts.params - (288 - (6 * 26 - 1))
