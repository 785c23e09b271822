"""The losses on a spiking network's output, against independent oracles: their gradients against
central finite differences of their values, the soft-target loss against its definition (a
Kullback–Leibler divergence at a temperature), and the labels' cross-entropy unchanged by a
teacher it does not weigh."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from eventsim.training.losses import output_loss, soft_target_loss, softmax_cross_entropy

seeds = st.integers(0, 2**32 - 1)


def kl_reference(logits: np.ndarray, teacher: np.ndarray, tau: float) -> float:
    """τ² · mean KL(softmax(teacher/τ) ‖ softmax(logits/τ)), written out plainly."""
    total = 0.0
    for s, t in zip(logits, teacher, strict=True):
        q = np.exp(t / tau - np.max(t / tau))
        q /= q.sum()
        log_p = s / tau - np.max(s / tau)
        log_p -= np.log(np.exp(log_p).sum())
        total += sum(qi * (np.log(qi) - lp) for qi, lp in zip(q, log_p, strict=True) if qi > 0)
    return tau * tau * total / len(logits)


def finite_differences(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[i] += eps
        down[i] -= eps
        grad[i] = (f(up) - f(down)) / (2 * eps)
    return grad


@given(seeds, st.integers(1, 4), st.integers(2, 6), st.floats(0.25, 8.0), st.floats(0.1, 20.0))
def test_soft_target_loss_is_the_tempered_kl_and_its_gradient_matches_finite_differences(seed, n, k, tau, spread):
    rng = np.random.default_rng(seed)
    logits, teacher = rng.normal(0, spread, (2, n, k))
    value, grad = soft_target_loss(logits, teacher, tau)
    np.testing.assert_allclose(value, kl_reference(logits, teacher, tau), rtol=1e-9, atol=1e-12)
    numeric = finite_differences(lambda z: soft_target_loss(z, teacher, tau)[0], logits)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7)


@given(seeds, st.integers(1, 4), st.integers(2, 6), st.floats(0.25, 8.0))
def test_soft_target_loss_vanishes_when_the_logits_match_the_teacher_up_to_a_shift(seed, n, k, tau):
    rng = np.random.default_rng(seed)
    teacher = rng.normal(0, 5, (n, k))
    shifted = teacher + rng.normal(0, 5, (n, 1))  # softmax ignores a constant per sample
    value, grad = soft_target_loss(shifted, teacher, tau)
    assert abs(value) < 1e-9 and np.abs(grad).max() < 1e-9
    other = teacher + rng.normal(0, 1, (n, k))
    assert soft_target_loss(other, teacher, tau)[0] >= -1e-12  # a divergence, to rounding


@given(seeds, st.sampled_from(["sum", "max"]), st.floats(0.0, 1.0), st.floats(0.5, 6.0), st.integers(1, 4))
def test_mixed_loss_gradient_by_the_output_matches_finite_differences(seed, loss, distill, tau, steps):
    rng = np.random.default_rng(seed)
    n, k = 3, 4
    output = np.cumsum(rng.normal(0, 2, (steps, n, k)), axis=0)  # o(t) accumulates
    y = rng.integers(0, k, n)
    teacher = rng.normal(0, 4, (n, k))
    options = {"soft": teacher, "distill": distill, "temperature": tau}
    value, grad = output_loss(output, y, loss, **options)
    numeric = finite_differences(lambda o: output_loss(o, y, loss, **options)[0], output)
    np.testing.assert_allclose(grad, numeric, rtol=1e-4, atol=1e-6)  # the gradient is float32
    labels_only, _ = output_loss(output, y, loss)
    teacher_only, _ = output_loss(output, y, loss, soft=teacher, distill=1.0, temperature=tau)
    np.testing.assert_allclose(value, (1 - distill) * labels_only + distill * teacher_only, rtol=1e-12)


def test_labels_alone_give_the_plain_cross_entropy_and_a_teacher_alone_reads_no_labels():
    rng = np.random.default_rng(0)
    output = np.cumsum(rng.normal(0, 1, (3, 5, 4)), axis=0)
    y = rng.integers(0, 4, 5)
    value, grad = output_loss(output, y, "sum")
    ce, g = softmax_cross_entropy(output[-1] / 3, y)
    assert value == ce
    np.testing.assert_allclose(grad[-1], g / 3, rtol=1e-6)
    assert not grad[:-1].any()
    teacher = rng.normal(0, 3, (5, 4))
    a = output_loss(output, y, "sum", soft=teacher, distill=1.0, temperature=2.0)
    b = output_loss(output, (y + 1) % 4, "sum", soft=teacher, distill=1.0, temperature=2.0)
    assert a[0] == b[0] and np.array_equal(a[1], b[1])
