"""Losses of the transfer method: per-step classification (TET), domain alignment, STR.

Shapes: per-step logits ``[T, B, K]``, per-step features ``[T, B, D]``, labels ``[B]``.

The objective (see :func:`transfer_objective`)::

    L = L_S + L_E + alpha * mean_t( w_t * D_t )

with ``D_t`` the alignment distance at step ``t`` (``1 - |CKA_t|`` by default), ``L_S`` the
static branch's loss, ``L_E`` the event branch's loss with per-step weights ``v_t``. With
spatio-temporal regularization (STR) ``w_t = sigma(eta_t)`` and
``v_t = 1 - (1 - floor) * sigma(eta_t)`` (``floor = loss.str_floor``, 0 in the paper, so
``v_t = 1 - sigma(eta_t)``); without STR (``str_mode='none'``) ``w_t = v_t = 1``; with a fixed
coefficient ``c`` ``w_t = c`` and ``v_t = 1``, so the event head is trained for every ``c``
(the reference gives it no gradient at ``c = 1``).

Why a floor: ``dL/dsigma_t = (alpha D_t - (1 - floor) CE_t) / T`` (TET's small MSE part left
out). When the event branch's loss is large and the biased CKA distance small, every sigma rises
and the event loss is weighted away (to 0.14-0.19 in runs that underfit); with the floor the
event loss keeps at least ``floor`` of its weight whatever sigma does.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from snn_transfer.errors import ConfigError

# --- kernel alignment ------------------------------------------------------------------


def _centred(x: torch.Tensor) -> torch.Tensor:
    return x - x.mean(dim=-2, keepdim=True)


def linear_cka(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Linear CKA between two sets of features of the same samples.

    ``a`` is ``[..., B, D1]``, ``b`` is ``[..., B, D2]`` (leading dimensions, such as time,
    are batched). Biased HSIC with centering (Kornblith et al., 2019):
    ``<HKH, HLH>_F / (||HKH||_F ||HLH||_F + eps)`` with ``K = a a^T``, ``L = b b^T``.
    Computed on ``B x B`` Gram matrices, so it costs ``O(B^2 D)`` and works for any batch
    size. Returns ``[...]``.
    """
    a, b = _centred(a), _centred(b)
    k = a @ a.transpose(-1, -2)
    m = b @ b.transpose(-1, -2)
    hsic = (k * m).sum(dim=(-1, -2))
    return hsic / (k.norm(dim=(-1, -2)) * m.norm(dim=(-1, -2)) + eps)


def debiased_linear_cka(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Linear CKA from the unbiased HSIC estimator (Song et al., 2012); needs ``B >= 4``.

    Same shapes as :func:`linear_cka`. The biased estimator's Gram diagonals dominate when the
    feature dimension is large against the batch: for two *independent* sets of random
    features (B = 32, D = 4,096) it reads about 0.99, so ``1 - CKA`` is near 0 and alignment
    barely pulls. The unbiased one removes the diagonals and reads about 0 there. It can be
    slightly negative; the distance uses ``|CKA|`` as the method does, and the ratio is
    clamped to [-1, 1].
    """
    n = a.shape[-2]
    if n < 4:
        raise ConfigError(f"debiased CKA needs a batch of at least 4 samples, got {n}")
    diagonal = torch.eye(n, dtype=torch.bool, device=a.device)

    def gram(x: torch.Tensor) -> torch.Tensor:
        return (x @ x.transpose(-1, -2)).masked_fill(diagonal, 0.0)

    def hsic(k: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        trace = (k * m).sum(dim=(-1, -2))
        sums = k.sum(dim=(-1, -2)) * m.sum(dim=(-1, -2)) / ((n - 1) * (n - 2))
        cross = (k.sum(dim=-1) * m.sum(dim=-1)).sum(dim=-1) * 2 / (n - 2)
        return (trace + sums - cross) / (n * (n - 3))

    k, m = gram(a), gram(b)
    denominator = (hsic(k, k).clamp_min(0) * hsic(m, m).clamp_min(0)).sqrt() + eps
    return (hsic(k, m) / denominator).clamp(-1.0, 1.0)


def _rbf_gram(x: torch.Tensor, threshold: float) -> torch.Tensor:
    sq = torch.cdist(x, x).pow(2)
    off_diagonal = sq[..., ~torch.eye(sq.shape[-1], dtype=torch.bool, device=sq.device)]
    median = off_diagonal.reshape(*sq.shape[:-2], -1).median(dim=-1).values
    sigma2 = (threshold**2 * median).clamp_min(1e-12)
    return torch.exp(-sq / (2 * sigma2[..., None, None]))


def rbf_cka(
    a: torch.Tensor, b: torch.Tensor, threshold: float = 1.0, eps: float = 1e-7
) -> torch.Tensor:
    """CKA with Gaussian kernels; bandwidth ``threshold * sqrt(median squared distance)``."""
    n = a.shape[-2]
    h = torch.eye(n, device=a.device, dtype=a.dtype) - 1.0 / n
    k = h @ _rbf_gram(a, threshold) @ h
    m = h @ _rbf_gram(b, threshold) @ h
    hsic = (k * m).sum(dim=(-1, -2))
    return hsic / (k.norm(dim=(-1, -2)) * m.norm(dim=(-1, -2)) + eps)


CKA_ESTIMATORS = {"linear": linear_cka, "debiased": debiased_linear_cka, "rbf": rbf_cka}


def cka_distance(a: torch.Tensor, b: torch.Tensor, kernel: str = "linear") -> torch.Tensor:
    """``D = 1 - |CKA(a, b)|`` per leading index (per time step for ``[T, B, D]``);
    ``kernel`` is ``linear`` (the method), ``debiased`` (linear, unbiased HSIC) or ``rbf``."""
    return 1.0 - CKA_ESTIMATORS[kernel](a, b).abs()


# --- distribution distances --------------------------------------------------------------


def mmd(
    a: torch.Tensor, b: torch.Tensor, multipliers: tuple[float, ...] = (0.25, 0.5, 1, 2, 4)
) -> torch.Tensor:
    """Multi-kernel MMD^2 (biased) with Gaussian kernels, per leading index.

    Bandwidths are ``m * s`` for each multiplier ``m``, with ``s`` the mean squared distance
    over the pooled samples (detached), as in DAN (Long et al., 2015).
    """
    pooled = torch.cat([a, b], dim=-2)
    sq = torch.cdist(pooled, pooled).pow(2)
    n = pooled.shape[-2]
    scale = (sq.sum(dim=(-1, -2)) / (n * n - n)).detach().clamp_min(1e-12)
    kernel = sum(torch.exp(-sq / (m * scale[..., None, None])) for m in multipliers)
    na = a.shape[-2]
    kaa = kernel[..., :na, :na].mean(dim=(-1, -2))
    kbb = kernel[..., na:, na:].mean(dim=(-1, -2))
    kab = kernel[..., :na, na:].mean(dim=(-1, -2))
    return kaa + kbb - 2 * kab


def coral(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Deep CORAL: ``||C_a - C_b||_F^2 / (4 d^2)`` with ``C`` the feature covariances.

    Computed in sample space: with centred features ``A``, ``B``,
    ``||A^T A - B^T B||_F^2 = ||A A^T||^2 + ||B B^T||^2 - 2 ||A B^T||^2`` (each norm of a
    ``d x d`` product equals that of the ``B x B`` one, by the cyclic trace), which costs
    ``O(B^2 d)`` instead of the ``O(B d^2)`` of the covariances (``d = 4,096`` for ``tiny``:
    64 MB each).
    """
    d = a.shape[-1]
    scale = max(a.shape[-2] - 1, 1) ** 2
    a, b = _centred(a), _centred(b)
    squared = (a @ a.transpose(-1, -2)).pow(2).sum(dim=(-1, -2))
    squared = squared + (b @ b.transpose(-1, -2)).pow(2).sum(dim=(-1, -2))
    squared = squared - 2 * (a @ b.transpose(-1, -2)).pow(2).sum(dim=(-1, -2))
    return squared.clamp_min(0) / scale / (4 * d * d)


class _ReverseGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return -ctx.scale * grad, None


def reverse_gradient(x: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """Identity forward; multiplies the gradient by ``-scale`` backward (Ganin et al.)."""
    return _ReverseGradient.apply(x, scale)


class DomainClassifier(nn.Module):
    """Predicts the domain (static 0, event 1) of features behind a gradient reversal.

    ``forward(features [..., D]) -> logits [...]``.
    """

    def __init__(self, features: int, hidden: int = 256, scale: float = 1.0) -> None:
        super().__init__()
        self.scale = scale
        self.net = nn.Sequential(nn.Linear(features, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(reverse_gradient(features, self.scale)).squeeze(-1)


def domain_adversarial_loss(static_logits: torch.Tensor, event_logits: torch.Tensor):
    """Binary cross-entropy of the domain classifier, per leading index (``[T]``)."""
    s = F.binary_cross_entropy_with_logits(
        static_logits, torch.zeros_like(static_logits), reduction="none"
    )
    e = F.binary_cross_entropy_with_logits(
        event_logits, torch.ones_like(event_logits), reduction="none"
    )
    return 0.5 * (s.mean(dim=-1) + e.mean(dim=-1))


ALIGNMENTS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "cka": lambda a, b: cka_distance(a, b, "linear"),
    "cka_debiased": lambda a, b: cka_distance(a, b, "debiased"),
    "rbf_cka": lambda a, b: cka_distance(a, b, "rbf"),
    "mmd": mmd,
    "coral": coral,
}

# --- classification ----------------------------------------------------------------------


def per_step_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``CE(z_t, y)`` for every step: ``logits`` ``[T, B, K]``, labels ``[B]`` -> ``[T]``."""
    steps, batch, classes = logits.shape
    flat = F.cross_entropy(
        logits.reshape(steps * batch, classes), labels.repeat(steps), reduction="none"
    )
    return flat.view(steps, batch).mean(dim=1)


def tet_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    *,
    lam: float = 1e-3,
    phi: float = 0.5,
    weights: torch.Tensor | None = None,
    ce: torch.Tensor | None = None,
) -> torch.Tensor:
    """TET: ``(1-lam)/T sum_t v_t CE(z_t, y) + lam/T sum_t v_t MSE(z_t, phi)``.

    ``logits`` ``[T, B, K]``; ``weights`` ``v`` ``[T]`` (ones when None); ``ce`` the per-step
    cross-entropies when already computed (:func:`per_step_cross_entropy`).
    """
    ce = per_step_cross_entropy(logits, labels) if ce is None else ce
    mse = (logits - phi).pow(2).mean(dim=(1, 2))
    if weights is not None:
        ce, mse = ce * weights, mse * weights
    return (1 - lam) * ce.mean() + lam * mse.mean()


def mean_logit_loss(
    logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """Cross-entropy of the logits averaged over time (no TET); ``weights`` ``[T]`` scale it
    by their mean."""
    loss = F.cross_entropy(logits.mean(dim=0), labels)
    return loss if weights is None else loss * weights.mean()


# --- the objective -----------------------------------------------------------------------

STR_MODES = ("learned", "none", "fixed")


@dataclass(frozen=True)
class LossConfig:
    """Constants of the objective; every one is a config value.

    ``alignment``: ``cka`` (the method: linear CKA, biased HSIC), ``cka_debiased``
    (unbiased HSIC), ``rbf_cka``, ``mmd``, ``coral``, ``dann`` or ``none``. ``str_mode``:
    ``learned`` (sigma(eta_t)), ``none``, or ``fixed`` with ``fixed_coefficient``. Without
    alignment there is nothing for STR to trade against, so the event loss is unweighted
    whatever ``str_mode`` says. ``str_floor`` in [0, 1): the least weight the event loss
    keeps under learned STR (0: the paper, where sigma can weight it away entirely).
    """

    alpha: float = 0.5
    tet: bool = True
    lam: float = 1e-3
    phi: float = 0.5
    alignment: str = "cka"
    str_mode: str = "learned"
    fixed_coefficient: float = 0.5
    str_floor: float = 0.0

    def __post_init__(self) -> None:
        if self.alignment not in (*ALIGNMENTS, "dann", "none"):
            raise ConfigError(
                f"loss.alignment = {self.alignment!r}; choose one of "
                f"{', '.join([*ALIGNMENTS, 'dann', 'none'])}"
            )
        if self.str_mode not in STR_MODES:
            raise ConfigError(f"loss.str_mode = {self.str_mode!r}; choose one of {STR_MODES}")
        if not 0.0 <= self.fixed_coefficient <= 1.0:
            raise ConfigError(
                f"loss.fixed_coefficient = {self.fixed_coefficient} is outside [0, 1]"
            )
        if not 0.0 <= self.str_floor < 1.0:
            raise ConfigError(
                f"loss.str_floor = {self.str_floor} is outside [0, 1): the least weight of the "
                "event loss under learned STR (1 would leave sigma nothing to weigh)"
            )
        if self.alpha < 0 or not math.isfinite(self.alpha):
            raise ConfigError(f"loss.alpha = {self.alpha} must be a finite number >= 0")
        if not 0.0 <= self.lam <= 1.0:
            raise ConfigError(f"loss.lam = {self.lam} is outside [0, 1]")
        if not math.isfinite(self.phi):
            raise ConfigError(f"loss.phi = {self.phi!r} must be a finite number")

    @property
    def learned_str(self) -> bool:
        """Whether the STR coefficients are learned: ``learned`` with an alignment term to
        trade against (without one the event loss is unweighted whatever ``str_mode``)."""
        return self.str_mode == "learned" and self.alignment != "none"


def step_weights(
    config: LossConfig, eta: torch.Tensor | None, steps: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(w, v)``: per-step weights ``[T]`` of the alignment term and of the event loss."""
    if config.learned_str:
        if eta is None:
            raise ConfigError("loss.str_mode = 'learned' needs the model's STR coefficients")
        sigma = torch.sigmoid(eta)
        return sigma, 1.0 - (1.0 - config.str_floor) * sigma
    device = None if eta is None else eta.device
    ones = torch.ones(steps, device=device)
    if config.str_mode != "fixed" or config.alignment == "none":
        return ones, ones
    return ones * config.fixed_coefficient, ones


def classification_loss(config: LossConfig, logits, labels, weights=None, ce=None):
    if config.tet:
        return tet_loss(logits, labels, lam=config.lam, phi=config.phi, weights=weights, ce=ce)
    return mean_logit_loss(logits, labels, weights)


def transfer_objective(
    config: LossConfig,
    labels: torch.Tensor,
    event_logits: torch.Tensor,
    static_logits: torch.Tensor | None = None,
    event_features: torch.Tensor | None = None,
    static_features: torch.Tensor | None = None,
    eta: torch.Tensor | None = None,
    domain_distance: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The total loss and its terms.

    Scalars: ``static``, ``event`` (as weighted in the loss), ``align`` (``mean_t w_t D_t``)
    and ``distance`` (``mean_t D_t``). Per step, unweighted, ``[T]``: ``ce_event`` and
    ``ce_static`` (the branches' cross-entropies) and ``distance_t`` (``D_t``), so that the
    sign of ``dL/dsigma_t`` can be read from a run. All detached.

    Without a static branch (``static_logits`` None) this is the baseline: the event loss
    alone, unweighted. ``domain_distance`` ``[T]`` replaces the feature-based distance (the
    domain classifier's loss for ``dann``).
    """
    steps = event_logits.shape[0]
    ce_event = per_step_cross_entropy(event_logits, labels)
    if static_logits is None:
        loss = classification_loss(config, event_logits, labels, ce=ce_event)
        return loss, {"event": loss.detach(), "ce_event": ce_event.detach()}
    align_w, event_w = step_weights(config, eta, steps)
    ce_static = per_step_cross_entropy(static_logits, labels)
    static_loss = classification_loss(config, static_logits, labels, ce=ce_static)
    event_loss = classification_loss(config, event_logits, labels, event_w, ce=ce_event)
    terms = {
        "static": static_loss.detach(),
        "event": event_loss.detach(),
        "ce_event": ce_event.detach(),
        "ce_static": ce_static.detach(),
    }
    loss = static_loss + event_loss
    if config.alignment != "none":
        if domain_distance is None:
            if event_features is None or static_features is None:
                raise ConfigError(f"alignment {config.alignment!r} needs both branches' features")
            domain_distance = ALIGNMENTS[config.alignment](static_features, event_features)
        align = (align_w * domain_distance).mean()
        loss = loss + config.alpha * align
        terms["align"] = align.detach()
        terms["distance"] = domain_distance.detach().mean()
        terms["distance_t"] = domain_distance.detach()
    return loss, terms
