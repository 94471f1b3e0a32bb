"""k-NN metrics (precision, recall, density, coverage) agree across sample counts (issue 10, item 6).

The cause of "precision 1.00 at --num 1000, 0 at 5000" for a 3-step run: the real
reference had --num images, so every N drew a different real manifold (k-NN balls
shrink as N grows), and the biggest balls, those of isolated real images, held the
collapsed generator's one point at small N and lost it at large N. Now precision,
recall and density use one fixed real set with the outlier balls pruned.
"""

from __future__ import annotations

import math

import pytest
import torch

from gankit.data import to_float
from gankit.evaluation import evaluate, evaluator
from gankit.evaluation import metrics as M

F, MODES = 16, 10
NS = (200, 1000, 3000)


def _real(n: int, seed: int) -> torch.Tensor:
    """10 Gaussian clusters on a sphere of radius 6, plus 3 % isolated wide-spread outliers."""
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(MODES, F, generator=torch.Generator().manual_seed(99))
    centers = 6 * centers / centers.norm(dim=1, keepdim=True)
    x = centers[torch.randint(MODES, (n,), generator=g)] + torch.randn(n, F, generator=g)
    out = torch.rand(n, generator=g) < 0.03
    x[out] = 4 * torch.randn(int(out.sum()), F, generator=g)
    return x.double()


def _collapsed(n: int, seed: int) -> torch.Tensor:
    """A generator stuck on one mode: real-looking samples of cluster 0 only."""
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(MODES, F, generator=torch.Generator().manual_seed(99))
    centers = 6 * centers / centers.norm(dim=1, keepdim=True)
    return (centers[0] + torch.randn(n, F, generator=g)).double()


REF = _real(4000, seed=0)  # the fixed real manifold
# Off the data (norm ~10, clusters at 6): only the wide balls of outliers reach it.
OFF = (9 / 4 * torch.randn(F, generator=torch.Generator().manual_seed(5))).double()


def _knn(fake, m):
    return M.manifold_metrics(REF, fake, prune=evaluator.PRUNE, coverage_real=REF[:m])


def _se(p: float, m: int) -> float:
    return math.sqrt(max(p * (1 - p), 0.01) / m)


def test_the_old_protocol_fails_on_a_constant_point():
    """Reference = N and no pruning: an off-data point is in or out depending on N (the reported bug)."""
    const = OFF.repeat(200, 1)
    assert [M.precision_recall(REF[:n], const)[0] for n in (200, 1000, 4000)] == [0.0, 1.0, 1.0]
    assert M.precision_recall(REF, const, prune=evaluator.PRUNE)[0] == 0.0


@pytest.mark.parametrize("m", NS)
def test_constant_generator_scores_near_zero_at_every_n(m):
    const = OFF.repeat(m, 1)
    r = _knn(const, m)
    assert r["precision"] == 0.0 and r["recall"] == 0.0
    assert r["coverage"] < 0.02 and r["density"] < 0.5


def test_held_out_real_agree_across_n():
    held = _real(max(NS), seed=1)
    rs = {m: _knn(held[:m], m) for m in NS}
    for m, r in rs.items():
        assert r["precision"] > 0.6 and r["recall"] > 0.6, (m, r)
        assert 0.8 < r["density"] < 1.2 and r["coverage"] > 0.9, (m, r)
    for name in ("precision", "recall", "coverage"):
        lo, hi = rs[NS[0]][name], rs[NS[-1]][name]
        assert abs(lo - hi) < 4 * (_se(lo, NS[0]) + _se(hi, NS[-1])), (name, lo, hi)


def test_collapsed_generator_agrees_across_n():
    rs = {m: _knn(_collapsed(m, seed=2), m) for m in NS}
    for m, r in rs.items():
        assert r["precision"] > 0.6, (m, r)          # its samples look real...
        assert r["recall"] < 0.2 and r["coverage"] < 0.2, (m, r)  # ...but cover one mode of ten
    for name in ("precision", "recall", "coverage"):
        lo, hi = rs[NS[0]][name], rs[NS[-1]][name]
        assert abs(lo - hi) < 4 * (_se(lo, NS[0]) + _se(hi, NS[-1])), (name, lo, hi)


def test_prune_drops_only_the_largest_balls():
    r = torch.arange(100, dtype=torch.float64)
    kept = M._prune(r, 0.95)
    assert (kept >= 0).sum() == 95 and torch.equal(kept[:95], r[:95])  # the 0.95 quantile is 94.05
    assert torch.equal(M._prune(r, None), r)
    with pytest.raises(ValueError, match="prune"):
        M._prune(r, 0.0)


def test_end_to_end_constant_images_through_the_classifier(tiny_data_cfg, fitted, replay):
    """A uniform-grey generator through the real feature extractor: precision 0 at every num."""
    grey = to_float(torch.full((128, 1, 28, 28), 128, dtype=torch.uint8))
    for num in (32, 64, 128):
        r = evaluate(replay(grey), num=num, data_cfg=tiny_data_cfg, metrics="precision,recall,density,coverage")
        assert r["metrics"]["precision"]["value"] == 0.0, num
        assert r["metrics"]["precision"]["floor"] > 0.5, num
        assert r["manifold_reference_num"] == 256  # the whole tiny train split, whatever num is
        assert any("below 500" in w for w in r["warnings"])


def test_no_warning_at_or_above_the_minimum(tiny_data_cfg, fitted, replay, monkeypatch):
    monkeypatch.setattr(evaluator, "KNN_MIN_NUM", 64)
    grey = to_float(torch.full((128, 1, 28, 28), 128, dtype=torch.uint8))
    r = evaluate(replay(grey), num=64, data_cfg=tiny_data_cfg, metrics="precision")
    assert r["warnings"] == []
    assert evaluate(replay(grey), num=64, data_cfg=tiny_data_cfg, metrics="fid")["warnings"] == []


def test_table_and_help_state_the_protocol(tiny_data_cfg, fitted, replay, capsys):
    from gankit.cli import main
    from gankit.evaluation import format_table
    grey = to_float(torch.full((128, 1, 28, 28), 128, dtype=torch.uint8))
    text = format_table(evaluate(replay(grey), num=64, data_cfg=tiny_data_cfg, metrics="precision,coverage"))
    assert "one fixed set of 256 real train images" in text and "warning: --num 64 is below 500" in text
    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert evaluator.MANIFOLD_REF_NUM == 10000 and "fixed set of 10,000 real train images" in help_text
    assert f"below --num {evaluator.KNN_MIN_NUM} the k-NN metrics are flagged" in help_text
