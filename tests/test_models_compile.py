"""torch.compile of the models: same results as eager, no graph breaks (slow: compiles on CPU)."""

from __future__ import annotations

import pytest
import torch

from snn_transfer.models import TransferModel, create_model

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    torch._dynamo.reset()


def frames(seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(4, 8, 2, 34, 34, generator=gen) > 0.6).float() * 2.0


def test_tiny_and_the_transfer_wrapper_trace_without_graph_breaks():
    torch.manual_seed(0)
    backbone = create_model("tiny", 5, bn_mode="per_step")
    explained = torch._dynamo.explain(backbone)(frames(1), "event", True)
    assert (explained.graph_count, explained.graph_break_count) == (1, 0)
    wrapper = TransferModel(backbone, num_steps=4)
    explained = torch._dynamo.explain(wrapper)(frames(1), frames(2))
    assert (explained.graph_count, explained.graph_break_count) == (1, 0)


def test_compiled_tiny_matches_eager_in_a_training_step():
    torch.manual_seed(0)
    model = create_model("tiny", 5, bn=False)
    compiled = torch.compile(model)
    x = frames(3)
    grads = []
    outputs = []
    for fn in (model, compiled):
        model.zero_grad(set_to_none=True)
        logits, features = fn(x, return_features=True)
        (logits.square().sum() + features.sum()).backward()
        outputs.append((logits.detach(), features.detach()))
        grads.append([p.grad.clone() for p in model.parameters() if p.grad is not None])
    (eager_logits, eager_features), (comp_logits, comp_features) = outputs
    torch.testing.assert_close(comp_logits, eager_logits, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(comp_features, eager_features, rtol=1e-4, atol=1e-4)
    assert len(grads[0]) == len(grads[1]) == 8  # three convs with bias, the event head
    for eager_grad, comp_grad in zip(*grads, strict=True):
        torch.testing.assert_close(comp_grad, eager_grad, rtol=1e-3, atol=1e-3)


def test_compiled_compact_path_matches_the_eager_modules():
    # per-step BatchNorm through the compact path, compiled, against the modules in eager
    torch.manual_seed(0)
    plain = create_model("tiny", 5, bn_mode="per_step", compact=False)
    compact = create_model("tiny", 5, bn_mode="per_step", compact=True)
    compact.load_state_dict(plain.state_dict())
    x = frames(4)
    results = []
    for model, fn in ((plain, plain), (compact, torch.compile(compact))):
        logits, features = fn(x, return_features=True)
        (logits.square().sum() + features.sum()).backward()
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        results.append((logits.detach(), features.detach(), grads, model.state_dict()))
    (logits, features, grads, state), want = results[1], results[0]
    torch.testing.assert_close(logits, want[0], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(features, want[1], rtol=1e-4, atol=1e-4)
    for got, expected in zip(grads, want[2], strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-3, atol=1e-3)
    for name, buffer in want[3].items():
        torch.testing.assert_close(state[name], buffer, rtol=1e-5, atol=1e-6, msg=name)
