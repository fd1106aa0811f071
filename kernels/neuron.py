"""``FusedLIFNode``: the fused LIF as a SpikingJelly neuron layer (a thin shell over ``lif``).

A subclass of SpikingJelly's ``LIFNode`` (so of ``BaseNode`` and ``MemoryModule``) with its
constructor, so it drops into SpikingJelly networks and everything that looks for a
``LIFNode`` finds it: ``functional.reset_net`` resets it, ``set_step_mode`` switches it,
monitors (``monitor.OutputMonitor(net, neuron.LIFNode)``), op counters and NIR export see it,
and with ``store_v_seq=True`` it keeps ``v_seq`` ``[T, N, ...]``, the post-reset membrane
potential of every step, with gradients flowing back through it.

Only the stateful forwards (``single_step_forward``, ``multi_step_forward``) run our kernels.
SpikingJelly's explicit-state functional forwards (``*_functional_forward``, used by its
``to_functional_forward`` and memory tools) are inherited: they compute the same LIF with
SpikingJelly's code and the equivalent surrogate object (``surrogate_function``).
"""

from __future__ import annotations

from typing import Any

import torch
from spikingjelly.activation_based import surrogate as sj_surrogate
from spikingjelly.activation_based.neuron import LIFNode

from snn_transfer.kernels.lif import BACKENDS, lif_multi_step
from snn_transfer.kernels.parameters import DEFAULT_ALPHA, LIFParameters, checked
from snn_transfer.kernels.surrogates import SPIKINGJELLY_CLASS, SURROGATES

_SJ_CLASSES = {getattr(sj_surrogate, cls): name for name, cls in SPIKINGJELLY_CLASS.items()}


def surrogate_from_spikingjelly(function: Any) -> tuple[str, float]:
    """``(name, alpha)`` of a SpikingJelly surrogate object with a fused equivalent.

    ``PiecewiseQuadratic``, ``Rect``, ``ATan`` and ``Sigmoid`` keep their alpha;
    ``PiecewiseLeakyReLU(w, c=0)`` is the rectangle with ``alpha = 1 / (2 w)``. Anything else
    (or ``spiking=False``) is a ValueError.
    """
    if not getattr(function, "spiking", True):
        raise ValueError(f"{function!r} has spiking=False; the fused neuron always spikes")
    name = _SJ_CLASSES.get(type(function))
    if name is not None:
        return name, float(function.alpha)
    if type(function) is sj_surrogate.PiecewiseLeakyReLU and float(function.c) == 0.0:
        return "rectangle", 1.0 / (2.0 * float(function.w))
    raise ValueError(
        f"{type(function).__name__} has no fused kernel; use PiecewiseQuadratic, Rect, ATan, "
        f"Sigmoid or PiecewiseLeakyReLU(c=0), or a name: {', '.join(SURROGATES)}"
    )


def _resolve_surrogate(
    function: Any, name: str | None, alpha: float | None
) -> tuple[str, float, Any]:
    """``(name, alpha, SpikingJelly surrogate object)`` from the constructor's arguments."""
    if function is not None and name is not None:
        raise ValueError("give surrogate_function or surrogate, not both")
    if isinstance(function, str):
        function, name = None, function
    if function is not None:
        if alpha is not None:
            raise ValueError("alpha goes with surrogate=NAME; a surrogate object has its own")
        return (*surrogate_from_spikingjelly(function), function)
    name = "sigmoid" if name is None else name
    if name not in SURROGATES:
        raise ValueError(f"surrogate={name!r} is not supported; choose one of {SURROGATES}")
    return name, DEFAULT_ALPHA[name] if alpha is None else float(alpha), None


class FusedLIFNode(LIFNode):
    """LIF neuron layer: input current ``[T, N, ...]`` -> spikes ``[T, N, ...]`` (step mode m).

    Arguments as SpikingJelly's ``LIFNode``: ``tau`` (time steps, > 1), ``decay_input``,
    ``v_threshold``, ``v_reset`` (None: soft reset), ``surrogate_function`` (a SpikingJelly
    surrogate object, see ``surrogate_from_spikingjelly``, or a name), ``detach_reset``,
    ``step_mode`` (``'m'`` or ``'s'``) and ``store_v_seq``. Keyword-only: ``surrogate`` and
    ``alpha`` (a name from ``SURROGATES`` and its alpha, SpikingJelly's default if None)
    instead of an object, and ``backend`` (``'auto'``: the fused CUDA kernels on GPUs when CuPy
    is installed, the torch reference otherwise; ``'cupy'``; ``'torch'``).

    State: ``v`` ``[N, ...]`` float32 (a float after ``reset()``); ``v_seq`` ``[T, N, ...]`` in
    the input dtype, or None. Inputs may be float32, float16 or bfloat16.

    ``surrogate_function`` always holds the SpikingJelly object of the surrogate (the one
    given, or the class of the table for a name), as on a ``LIFNode``.
    """

    def __init__(
        self,
        tau: float = 2.0,
        decay_input: bool = True,
        v_threshold: float = 1.0,
        v_reset: float | None = 0.0,
        surrogate_function: Any = None,
        detach_reset: bool = False,
        step_mode: str = "m",
        store_v_seq: bool = False,
        *,
        surrogate: str | None = None,
        alpha: float | None = None,
        backend: str = "auto",
    ) -> None:
        name, alpha, function = _resolve_surrogate(surrogate_function, surrogate, alpha)
        params = checked(
            LIFParameters(tau, v_threshold, v_reset, decay_input, detach_reset, name, alpha)
        )
        if backend not in BACKENDS:
            raise ValueError(f"backend={backend!r} is not supported; choose one of {BACKENDS}")
        if function is None:
            function = getattr(sj_surrogate, SPIKINGJELLY_CLASS[params.surrogate])(
                alpha=params.alpha
            )
        # checked() made the numbers floats, which LIFNode asserts (without a message)
        super().__init__(
            tau=params.tau,
            decay_input=params.decay_input,
            v_threshold=params.v_threshold,
            v_reset=params.v_reset,
            surrogate_function=function,
            detach_reset=params.detach_reset,
            step_mode=step_mode,
            store_v_seq=store_v_seq,
        )
        self.surrogate, self.alpha, self.backend = params.surrogate, params.alpha, backend

    @property
    def lif_parameters(self) -> LIFParameters:
        """The layer's constants (validated)."""
        return checked(
            LIFParameters(
                self.tau,
                self.v_threshold,
                self.v_reset,
                self.decay_input,
                self.detach_reset,
                self.surrogate,
                self.alpha,
            )
        )

    def _state_for(self, x: torch.Tensor) -> torch.Tensor | float:
        v = self.v
        if isinstance(v, torch.Tensor) and (v.shape != x.shape or v.device != x.device):
            # a new batch shape without reset: start again from the reset value, as LIFNode does
            return 0.0 if self.v_reset is None else self.v_reset
        return v

    def multi_step_forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        """``x_seq`` ``[T, N, ...]`` -> spikes ``[T, N, ...]``; updates ``v`` (and ``v_seq``)."""
        v = self._state_for(x_seq[0])
        out = lif_multi_step(x_seq, v, self.lif_parameters, self.store_v_seq, self.backend)
        self.v = out.v
        self.v_seq = out.v_seq
        return out.spike

    def single_step_forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``[N, ...]`` -> spikes ``[N, ...]``; ``v_seq`` grows by one step if stored."""
        v = self._state_for(x)
        out = lif_multi_step(x.unsqueeze(0), v, self.lif_parameters, self.store_v_seq, self.backend)
        self.v = out.v
        if out.v_seq is not None:
            seq = self.v_seq
            fits = seq is not None and seq.shape[1:] == x.shape and seq.device == x.device
            self.v_seq = torch.cat((seq, out.v_seq)) if fits else out.v_seq
        return out.spike[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.step_mode == "m":
            return self.multi_step_forward(x)
        if self.step_mode == "s":
            return self.single_step_forward(x)
        raise ValueError(f"step_mode must be 's' or 'm', got {self.step_mode!r}")

    def extra_repr(self) -> str:
        reset = "soft" if self.v_reset is None else self.v_reset
        return (
            f"tau={self.tau}, v_threshold={self.v_threshold}, v_reset={reset}, "
            f"decay_input={self.decay_input}, detach_reset={self.detach_reset}, "
            f"surrogate={self.surrogate}(alpha={self.alpha}), step_mode={self.step_mode}, "
            f"store_v_seq={self.store_v_seq}, backend={self.backend}"
        )
