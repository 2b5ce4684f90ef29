"""Plain helpers shared by several test modules (fixtures live in ``conftest.py``)."""
import numpy as np
import torch
from torch import nn

from compress.pruning import LayerRate, layer_weights, project_masks, uniform_rates


def randomise_bn(model: nn.Module, gen: torch.Generator) -> None:
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.running_mean.copy_(torch.randn(c, generator=gen) * 0.5)
                m.running_var.copy_(torch.rand(c, generator=gen) * 1.5 + 0.5)
                m.weight.copy_(torch.randn(c, generator=gen) * 0.3 + 1.0)
                m.bias.copy_(torch.randn(c, generator=gen) * 0.5)


def random_prune(model: nn.Module, structure, seed: int) -> None:
    """Apply a random mixture of structured zeros to ``model`` in place (eval-mode function defined by it)."""
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    randomise_bn(model, gen)
    modules = dict(model.named_modules())
    rate = LayerRate(filter=float(rng.uniform(0.2, 0.6)), column=float(rng.uniform(0.1, 0.5)))
    masks = project_masks(structure, layer_weights(model), "filter+column", uniform_rates(structure, rate))
    with torch.no_grad():
        masks.apply(model)
        for layer in structure.layers():
            w = modules[layer].weight
            if w.dim() != 4 or rng.random() > 0.5:
                continue
            rows = torch.from_numpy(rng.random(w.shape[0]) < 0.15)
            w[rows] = 0  # filters zeroed, BatchNorm left on: a nonzero constant channel
            dead_in = torch.from_numpy(rng.random(w.shape[1]) < 0.15)
            w[:, dead_in] = 0  # input channels emptied in this reader only
        bns = [m for m in modules.values() if isinstance(m, nn.BatchNorm2d)]
        for m in bns:
            m.weight[torch.from_numpy(rng.random(m.num_features) < 0.05)] = 0  # BN output = beta
        blocks = [n for n in modules if n.endswith(".conv1") and n.startswith("layer")]
        for name in rng.choice(blocks, size=min(2, len(blocks)), replace=False) if blocks else []:
            modules[name].weight.zero_()  # a whole block's inner channels die
            if rng.random() < 0.5:
                bn = modules[name.replace("conv1", "bn1")]
                bn.bias.copy_(-bn.bias.abs())  # negative constants: zero after ReLU
