import math

import pytest
import torch

from rewardtrain.grades import GRADES, margin_for
from rewardtrain.loss import margins_tensor, pairwise_margin_loss


def _hand(d: float) -> float:
    return math.log(1.0 + math.exp(-d))


# chosen - rejected = 1.0 for every pair; the loss is log(1 + exp(-(1 - m))).
EXPECTED = {
    "none": [_hand(1.0)] * 4,
    "small": [_hand(0.0), _hand(1 / 3), _hand(2 / 3), _hand(1.0)],
    "large": [_hand(-2.0), _hand(-1.0), _hand(0.0), _hand(1.0)],
}


@pytest.mark.parametrize("table", ["none", "small", "large"])
def test_loss_matches_hand_values(table):
    chosen = torch.tensor([1.5, 0.0, 2.0, -1.0])
    rejected = torch.tensor([0.5, -1.0, 1.0, -2.0])
    margin = margins_tensor(list(GRADES), table)
    loss = pairwise_margin_loss(chosen, rejected, margin)
    assert torch.allclose(loss, torch.tensor(EXPECTED[table]), atol=1e-6)


def test_hand_values_written_out():
    # small table, "better" (m = 2/3), gap 1: log(1 + e^(-1/3)) = log(1.71653) = 0.54031
    loss = pairwise_margin_loss(torch.tensor([1.0]), torch.tensor([0.0]), torch.tensor([2 / 3]))
    assert loss.item() == pytest.approx(0.540306, abs=1e-5)
    # large table, "significantly_better" (m = 3), gap 1: log(1 + e^2) = 2.1269...
    loss = pairwise_margin_loss(torch.tensor([1.0]), torch.tensor([0.0]), torch.tensor([3.0]))
    assert loss.item() == pytest.approx(2.126928, abs=1e-5)
    # no margin, gap 0: log 2
    loss = pairwise_margin_loss(torch.tensor([0.3]), torch.tensor([0.3]), torch.tensor([0.0]))
    assert loss.item() == pytest.approx(math.log(2), abs=1e-6)


def test_margin_tables():
    assert [margin_for(g, "small") for g in GRADES] == pytest.approx([1, 2 / 3, 1 / 3, 0])
    assert [margin_for(g, "large") for g in GRADES] == [3, 2, 1, 0]
    assert [margin_for(g, "none") for g in GRADES] == [0, 0, 0, 0]
    assert margin_for(None, "large") == 0.0
    with pytest.raises(ValueError):
        margin_for("much_better", "small")
