"""Alignment distances, TET and the transfer objective against direct computations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from snn_transfer.errors import ConfigError
from snn_transfer.losses import (
    DomainClassifier,
    LossConfig,
    coral,
    debiased_linear_cka,
    domain_adversarial_loss,
    linear_cka,
    mmd,
    rbf_cka,
    reverse_gradient,
    step_weights,
    tet_loss,
    transfer_objective,
)


def numpy_cka(x: np.ndarray, y: np.ndarray) -> float:
    """The formula literally: <HKH, HLH> / (||HKH|| ||HLH|| + 1e-7)."""
    n = len(x)
    h = np.eye(n) - np.ones((n, n)) / n
    k, m = h @ (x @ x.T) @ h, h @ (y @ y.T) @ h
    return float((k * m).sum() / (np.linalg.norm(k) * np.linalg.norm(m) + 1e-7))


def test_linear_cka_equals_the_formula_and_batches_over_time():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 12, 20))
    y = rng.normal(size=(3, 12, 7)) + x[..., :7]
    got = linear_cka(torch.tensor(x), torch.tensor(y))
    assert got.shape == (3,)
    for t in range(3):
        assert got[t].item() == pytest.approx(numpy_cka(x[t], y[t]), rel=1e-9)


def test_linear_cka_invariances_and_identity():
    rng = np.random.default_rng(1)
    x = torch.tensor(rng.normal(size=(16, 10)))
    y = torch.tensor(rng.normal(size=(16, 10)))
    q, _ = torch.linalg.qr(torch.tensor(rng.normal(size=(10, 10))))
    base = linear_cka(x, y)
    assert linear_cka(x @ q, y).item() == pytest.approx(base.item(), rel=1e-9)
    assert linear_cka(x, 3.5 * y).item() == pytest.approx(base.item(), rel=1e-9)
    assert linear_cka(x, x).item() == pytest.approx(1.0, abs=1e-9)
    # any batch size works, even 2
    assert linear_cka(x[:2], y[:2]).item() == pytest.approx(1.0, abs=1e-6)


def test_rbf_cka_is_one_for_identical_and_lower_for_unrelated():
    rng = np.random.default_rng(2)
    x = torch.tensor(rng.normal(size=(20, 5)))
    assert rbf_cka(x, x).item() == pytest.approx(1.0, abs=1e-6)
    assert rbf_cka(x, torch.tensor(rng.normal(size=(20, 5)))).item() < 0.5


def test_mmd_by_hand_on_two_points():
    a = torch.tensor([[0.0]])
    b = torch.tensor([[2.0]])
    # pooled squared distances: 4 off-diagonal; mean over n*n-n = 2 entries -> scale 4
    got = mmd(a, b, multipliers=(1.0,)).item()
    assert got == pytest.approx(1 + 1 - 2 * np.exp(-4 / 4), rel=1e-6)
    x = torch.randn(30, 4, generator=torch.Generator().manual_seed(0))
    assert mmd(x, x).item() == pytest.approx(0.0, abs=1e-9)


def test_coral_by_hand():
    a = torch.tensor([[1.0, 0.0], [-1.0, 0.0]])  # covariance diag(2, 0)
    b = torch.tensor([[0.0, 1.0], [0.0, -1.0]])  # covariance diag(0, 2)
    assert coral(a, b).item() == pytest.approx((4 + 4) / (4 * 4))


def test_coral_in_sample_space_equals_the_covariance_form():
    g = torch.Generator().manual_seed(3)
    a = torch.randn(2, 12, 40, generator=g, dtype=torch.float64)
    b = torch.randn(2, 12, 40, generator=g, dtype=torch.float64) * 1.5 + 0.3

    def covariance(x):
        xc = x - x.mean(dim=-2, keepdim=True)
        return xc.transpose(-1, -2) @ xc / (x.shape[-2] - 1)

    want = (covariance(a) - covariance(b)).pow(2).sum(dim=(-1, -2)) / (4 * 40 * 40)
    assert torch.allclose(coral(a, b), want, rtol=1e-10)


def test_gradient_reversal_and_domain_loss():
    x = torch.tensor([1.0, -2.0], requires_grad=True)
    (reverse_gradient(x, 0.5) * torch.tensor([3.0, 4.0])).sum().backward()
    assert x.grad.tolist() == [-1.5, -2.0]
    zeros = torch.zeros(2, 4)
    assert domain_adversarial_loss(zeros, zeros).tolist() == pytest.approx([np.log(2)] * 2)
    clf = DomainClassifier(6, hidden=8)
    assert clf(torch.randn(3, 5, 6)).shape == (3, 5)


def test_tet_loss_by_hand():
    logits = torch.tensor([[[2.0, 0.0]], [[0.0, 1.0]]])  # T=2, B=1, K=2
    labels = torch.tensor([0])
    ce = [np.log(1 + np.exp(-2.0)), np.log(1 + np.exp(1.0))]
    mse = [((2 - 0.5) ** 2 + 0.25) / 2, (0.25 + 0.25) / 2]
    want = 0.999 * np.mean(ce) + 0.001 * np.mean(mse)
    assert tet_loss(logits, labels).item() == pytest.approx(want, rel=1e-6)
    w = torch.tensor([0.2, 0.6])
    want_w = 0.999 * np.mean([0.2 * ce[0], 0.6 * ce[1]]) + 0.001 * np.mean(
        [0.2 * mse[0], 0.6 * mse[1]]
    )
    assert tet_loss(logits, labels, weights=w).item() == pytest.approx(want_w, rel=1e-6)


def _outputs(steps=3, batch=6, classes=4, dim=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randint(classes, (batch,), generator=g),
        torch.randn(steps, batch, classes, generator=g, requires_grad=True),
        torch.randn(steps, batch, classes, generator=g, requires_grad=True),
        torch.randn(steps, batch, dim, generator=g, requires_grad=True),
        torch.randn(steps, batch, dim, generator=g, requires_grad=True),
    )


def test_objective_with_str_weights_event_loss_by_one_minus_sigma():
    labels, ze, zs, fe, fs = _outputs()
    eta = torch.tensor([1.0, 0.0, -2.0], requires_grad=True)
    config = LossConfig()
    loss, terms = transfer_objective(config, labels, ze, zs, fe, fs, eta)
    sigma = torch.sigmoid(eta.detach())
    d = 1 - linear_cka(fs.detach(), fe.detach()).abs()
    want = (
        tet_loss(zs.detach(), labels)
        + tet_loss(ze.detach(), labels, weights=1 - sigma)
        + 0.5 * (sigma * d).mean()
    )
    assert loss.item() == pytest.approx(want.item(), rel=1e-6)
    loss.backward()
    assert eta.grad is not None and eta.grad.abs().min() > 0
    for t in (ze, zs, fe, fs):
        assert t.grad is not None and t.grad.abs().sum() > 0
    assert set(terms) == {
        "static",
        "event",
        "align",
        "distance",
        "ce_event",
        "ce_static",
        "distance_t",
    }
    # the per-step terms are unweighted: plain CE_t of each branch and D_t
    for t in range(3):
        ce_e = torch.nn.functional.cross_entropy(ze[t].detach(), labels)
        ce_s = torch.nn.functional.cross_entropy(zs[t].detach(), labels)
        assert terms["ce_event"][t].item() == pytest.approx(ce_e.item(), rel=1e-6)
        assert terms["ce_static"][t].item() == pytest.approx(ce_s.item(), rel=1e-6)
    assert torch.allclose(terms["distance_t"], d)
    # what STR learns: dL/deta_t = sigma'(eta_t) (alpha D_t - (1-lam) CE_t - lam MSE_t) / T
    mse = (ze.detach() - 0.5).pow(2).mean(dim=(1, 2))
    slope = torch.sigmoid(eta.detach()) * (1 - torch.sigmoid(eta.detach()))
    want_grad = slope * (0.5 * d - 0.999 * terms["ce_event"] - 0.001 * mse) / 3
    assert torch.allclose(eta.grad, want_grad, rtol=1e-5, atol=1e-7)


def test_str_floor_keeps_part_of_the_event_loss_and_zero_is_the_paper():
    labels, ze, zs, fe, fs = _outputs(seed=4)
    eta = torch.tensor([4.0, 4.0, 4.0])  # sigma = 0.982: the paper leaves 1.8 % of L_E
    sigma = torch.sigmoid(eta)
    w, v = step_weights(LossConfig(), eta, 3)
    assert torch.allclose(w, sigma) and torch.allclose(v, 1 - sigma)
    w, v = step_weights(LossConfig(str_floor=0.5), eta, 3)
    assert torch.allclose(w, sigma) and torch.allclose(v, 1 - 0.5 * sigma)
    assert v.min().item() > 0.5
    loss, _ = transfer_objective(LossConfig(str_floor=0.5), labels, ze, zs, fe, fs, eta)
    d = 1 - linear_cka(fs, fe).abs()
    want = tet_loss(zs, labels) + tet_loss(ze, labels, weights=1 - 0.5 * sigma)
    want = want + 0.5 * (sigma * d).mean()
    assert loss.item() == pytest.approx(want.item(), rel=1e-6)
    with pytest.raises(ConfigError, match=r"loss.str_floor = 1.0 is outside \[0, 1\)"):
        LossConfig(str_floor=1.0)


def numpy_unbiased_hsic(k: np.ndarray, m: np.ndarray) -> float:
    """Song et al. (2012), eq. 5, with the diagonals of both Gram matrices set to 0."""
    n = len(k)
    k, m = k.copy(), m.copy()
    np.fill_diagonal(k, 0)
    np.fill_diagonal(m, 0)
    one = np.ones(n)
    return float(
        (
            np.trace(k @ m)
            + (one @ k @ one) * (one @ m @ one) / ((n - 1) * (n - 2))
            - 2 / (n - 2) * one @ k @ m @ one
        )
        / (n * (n - 3))
    )


def test_debiased_cka_equals_the_unbiased_formula_and_reads_zero_for_unrelated_features():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2, 12, 9))
    y = rng.normal(size=(2, 12, 4)) + x[..., :4]
    got = debiased_linear_cka(torch.tensor(x), torch.tensor(y))
    for t in range(2):
        k, m = x[t] @ x[t].T, y[t] @ y[t].T
        want = numpy_unbiased_hsic(k, m) / np.sqrt(
            numpy_unbiased_hsic(k, k) * numpy_unbiased_hsic(m, m)
        )
        assert got[t].item() == pytest.approx(want, rel=1e-6)
    # independent random features, B = 32, D = 4096: biased ~0.99, unbiased ~0
    a = torch.randn(32, 4096, generator=torch.Generator().manual_seed(0)).abs()
    b = torch.randn(32, 4096, generator=torch.Generator().manual_seed(1)).abs()
    assert linear_cka(a, b).item() > 0.9
    assert abs(debiased_linear_cka(a, b).item()) < 0.1
    assert debiased_linear_cka(a, a).item() == pytest.approx(1.0, abs=1e-5)
    assert (
        transfer_objective(
            LossConfig(alignment="cka_debiased", str_mode="none"),
            torch.zeros(32, dtype=torch.long),
            torch.zeros(2, 32, 3),
            torch.zeros(2, 32, 3),
            torch.stack([b, b]),
            torch.stack([a, a]),
        )[1]["distance"].item()
        > 0.9
    )
    with pytest.raises(ConfigError, match="at least 4 samples"):
        debiased_linear_cka(a[:3], b[:3])


def test_fixed_coefficient_keeps_training_the_event_head_at_one():
    labels, ze, zs, fe, fs = _outputs(seed=1)
    config = LossConfig(str_mode="fixed", fixed_coefficient=1.0)
    loss, _ = transfer_objective(config, labels, ze, zs, fe, fs, None)
    loss.backward()
    assert ze.grad.abs().sum() > 0
    w, v = step_weights(config, None, 3)
    assert w.tolist() == [1.0] * 3 and v.tolist() == [1.0] * 3


def test_str_off_and_alignment_off_and_baseline():
    labels, ze, zs, fe, fs = _outputs(seed=2)
    off, _ = transfer_objective(LossConfig(str_mode="none"), labels, ze, zs, fe, fs)
    d = (1 - linear_cka(fs, fe).abs()).mean()
    want = tet_loss(zs, labels) + tet_loss(ze, labels) + 0.5 * d
    assert off.item() == pytest.approx(want.item(), rel=1e-6)
    none, terms = transfer_objective(LossConfig(alignment="none", str_mode="none"), labels, ze, zs)
    assert none.item() == pytest.approx((tet_loss(zs, labels) + tet_loss(ze, labels)).item())
    assert "align" not in terms
    base, terms = transfer_objective(LossConfig(), labels, ze)
    assert base.item() == pytest.approx(tet_loss(ze, labels).item())
    assert set(terms) == {"event", "ce_event"}


def test_bad_loss_config_names_the_key():
    with pytest.raises(ConfigError, match="loss.alignment = 'l2'"):
        LossConfig(alignment="l2")
    with pytest.raises(ConfigError, match=r"loss.fixed_coefficient = 1.5 is outside \[0, 1\]"):
        LossConfig(str_mode="fixed", fixed_coefficient=1.5)
