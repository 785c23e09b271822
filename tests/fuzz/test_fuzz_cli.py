"""The fuzz suite: damaged ONNX models, data files, network files, checkpoints and NIR graphs through
every command that reads them (fuzzlib.py says how a run is judged). Every run must end in a clean
error (exit 2, one message) or, on valid input, a correct result — never a traceback, an exit 0 on
garbage, a partial output, a pickle load or a hang.

The fast slice runs every mutation once (fixed seeds) through the commands that do not train, and
a few derandomized Hypothesis draws more; ``-m slow`` adds the training commands and more draws.
``python bench/fuzz_cli.py`` is the long run.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import fuzzlib
import numpy as np
import pytest
from conftest import examples
from hypothesis import given, settings
from hypothesis import strategies as st

MODELS = ("digits_cnn", "digits_mlp", "gemm")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> fuzzlib.Corpus:
    return fuzzlib.Corpus.build(tmp_path_factory.mktemp("corpus"))


def _run(mutant: fuzzlib.Mutant, commands_for, oracle=None) -> list[str]:
    """Run ``mutant`` through its commands; the failures, described."""
    failures = []
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        path = mutant.write(work)
        valid = mutant.valid
        if valid is None:
            valid = oracle(path)[0] if oracle else True
        for name, args, outputs in commands_for(path, work / "out"):
            check = None
            if valid and mutant.kind.startswith("onnx/"):
                check = lambda text, p=path: fuzzlib.imports_correctly(p)  # noqa: E731
            outcome = fuzzlib.run_command(
                args, outputs, fuzzlib.valid_for(mutant, name, valid), check, 300, name, mutant.kind
            )
            if outcome.verdict not in fuzzlib.GOOD:
                failures.append(f"{outcome.verdict} | {name} | {mutant.kind} {mutant.note}\n{outcome.detail}")
    return failures


def _onnx_runs(corpus, model: str, full: bool):
    data = corpus.model_data[model]
    return lambda path, out: fuzzlib.onnx_commands(path, data, corpus, out, full)


def test_every_onnx_mutation(corpus):
    failures = []
    for model in MODELS:
        rng = np.random.default_rng(0)
        for mutant in fuzzlib.onnx_mutants(corpus.models[model].read_bytes(), rng):
            failures += _run(mutant, _onnx_runs(corpus, model, False), fuzzlib.onnx_oracle)
    assert not failures, "\n\n".join(failures)


#: A bundled model, an ONNX mutation and its seed.
ONNX_DRAWS = {
    "model": st.sampled_from(MODELS),
    "mutation": st.sampled_from(fuzzlib.ONNX_MUTATIONS),
    "seed": st.integers(0, 2**32 - 1),
}


@settings(derandomize=True, max_examples=examples(12), deadline=None)
@given(**ONNX_DRAWS)
def test_random_onnx_mutations(corpus, model, mutation, seed):
    _mutate_and_run(corpus, model, mutation, seed)


def _mutate_and_run(corpus, model: str, mutation, seed: int) -> None:
    """One ONNX mutation of ``model`` with ``seed`` through the ONNX commands; no failure."""
    mutant = mutation(corpus.models[model].read_bytes(), np.random.default_rng(seed))
    if mutant is not None:
        failures = _run(mutant, _onnx_runs(corpus, model, False), fuzzlib.onnx_oracle)
        assert not failures, "\n\n".join(failures)


def _data(corpus):
    with np.load(corpus.data) as archive:
        return archive["x"], archive["y"]


def test_every_data_mutation(corpus):
    x, y = _data(corpus)
    failures = []
    for mutant in fuzzlib.data_mutants(x, y, np.random.default_rng(0)):
        failures += _run(mutant, lambda p, out: fuzzlib.data_commands(p, corpus, out), _data_oracle)
    assert not failures, "\n\n".join(failures)


def _data_oracle(path: Path) -> tuple[bool, str]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            x, y = archive["x"], archive["y"]
    except Exception as exc:  # noqa: BLE001
        return False, str(exc)
    ok = x.dtype.kind == "f" and np.all(np.isfinite(x)) and y.dtype.kind in "iu" and np.all((y >= 0) & (y < 10))
    return bool(ok and x.shape[1:] == (1, 8, 8) and y.shape == (len(x),)), ""


def test_every_network_file_mutation(corpus):
    failures = []
    for net in corpus.nets.values():
        for mutant in fuzzlib.network_mutants(net, np.random.default_rng(0)):
            failures += _run(mutant, lambda p, out: fuzzlib.network_commands(p, corpus, out))
    assert not failures, "\n\n".join(failures)


@settings(derandomize=True, max_examples=examples(6), deadline=None)
@given(seed=st.integers(0, 2**32 - 1), index=st.integers(0, 1000))
def test_random_network_file_mutations(corpus, seed, index):
    net = list(corpus.nets.values())[index % len(corpus.nets)]
    mutants = fuzzlib.network_mutants(net, np.random.default_rng(seed))
    mutant = mutants[index % len(mutants)]
    failures = _run(mutant, lambda p, out: fuzzlib.network_commands(p, corpus, out))
    assert not failures, "\n\n".join(failures)


def test_every_damaged_checkpoint(corpus):
    failures = []
    for mutant in fuzzlib.network_mutants(corpus.checkpoint, np.random.default_rng(0), checkpoint=True):
        if not mutant.valid:  # a valid checkpoint trains (-m slow)
            failures += _run(mutant, lambda p, out: fuzzlib.checkpoint_commands(p, corpus, out))
    assert not failures, "\n\n".join(failures)


def test_every_nir_mutation(corpus):
    if corpus.nir is None:
        pytest.skip("the nir package is not installed")
    failures = []
    for mutant in fuzzlib.nir_mutants(corpus.nir, np.random.default_rng(0)):
        failures += _run(mutant, lambda p, out: fuzzlib.nir_commands(p, corpus, out))
    assert not failures, "\n\n".join(failures)


def test_outputs_that_cannot_be_written(corpus, tmp_path):
    failures = []
    for name, args, outputs in fuzzlib.output_path_cases(corpus, tmp_path):
        outcome = fuzzlib.run_command(args, outputs, False, None, 300, name, "output_path")
        if outcome.verdict != "clean_error":
            failures.append(f"{outcome.verdict} | {' '.join(args)}\n{outcome.detail}")
        else:
            assert "cannot write" in outcome.detail or "is a directory" in outcome.detail, outcome.detail
    assert not [p for p in tmp_path.rglob(".*") if p.is_file()], "temporary files left behind"
    assert not failures, "\n\n".join(failures)


# -- the training commands (slow: they compile and run the trainer) ------------------------------


@pytest.mark.slow
def test_training_commands_on_every_mutation(corpus):
    failures = []
    x, y = _data(corpus)
    for model in MODELS:
        for mutant in fuzzlib.onnx_mutants(corpus.models[model].read_bytes(), np.random.default_rng(1)):
            failures += _run(mutant, _onnx_runs(corpus, model, True), fuzzlib.onnx_oracle)
    for mutant in fuzzlib.data_mutants(x, y, np.random.default_rng(1)):
        failures += _run(mutant, lambda p, out: fuzzlib.data_commands(p, corpus, out, full=True), _data_oracle)
    for net in corpus.nets.values():
        for mutant in fuzzlib.network_mutants(net, np.random.default_rng(1)):
            failures += _run(mutant, lambda p, out: fuzzlib.network_commands(p, corpus, out, full=True))
    for mutant in fuzzlib.network_mutants(corpus.checkpoint, np.random.default_rng(1), checkpoint=True):
        failures += _run(mutant, lambda p, out: fuzzlib.checkpoint_commands(p, corpus, out))
    assert not failures, "\n\n".join(failures)


@pytest.mark.slow
@settings(derandomize=True, max_examples=examples(60), deadline=None)
@given(**ONNX_DRAWS)
def test_many_random_onnx_mutations(corpus, model, mutation, seed):
    _mutate_and_run(corpus, model, mutation, seed)
