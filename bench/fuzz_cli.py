"""A long fuzz run of eventsim's commands: thousands of mutated ONNX models, data files, network
files, checkpoints and NIR graphs (tests/fuzz/fuzzlib.py), each through every command that reads
it, seeded; prints the runs per class — clean errors (exit 2, one message), correct results (exit 0
on valid input, checked against onnxruntime where cheap) and failures (tracebacks, exit 0 on
garbage, wrong results, partial outputs, pickle loads, hangs past the per-run limit).

    NUMBA_CACHE_DIR=/tmp/numba-fuzz python bench/fuzz_cli.py --rounds 40 --seed 0 [--full] [--show 3]

``--full`` adds the commands that train (compare, train, finetune, train-ttfs) for every mutant;
without it they run on one round in five.
"""

from __future__ import annotations

import argparse
import collections
import logging
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests" / "fuzz"), str(ROOT / "tests")]

import fuzzlib  # noqa: E402


def fuzz(rounds: int, seed: int, timeout: float, full_every: int, show: int) -> dict:
    rng = np.random.default_rng(seed)
    counts: collections.Counter = collections.Counter()
    by_kind: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    examples: dict[tuple[str, str, str], list] = collections.defaultdict(list)
    no_fix: collections.Counter = collections.Counter()  # eventsim errors that name no fix
    tried = 0
    with tempfile.TemporaryDirectory(prefix="eventsim-fuzz-") as tmp:
        tmp = Path(tmp)
        corpus = fuzzlib.Corpus.build(tmp / "corpus")
        d = np.load(corpus.data)
        x, y = d["x"], d["y"]
        k = 0

        def record(outcome):
            counts[outcome.verdict] += 1
            if outcome.verdict == "clean_error" and "fix:" not in outcome.detail and "Usage:" not in outcome.detail:
                no_fix[outcome.detail.splitlines()[0][:90]] += 1
            by_kind[outcome.kind][outcome.verdict] += 1
            key = (outcome.verdict, outcome.command, outcome.kind)
            if outcome.verdict not in fuzzlib.GOOD and len(examples[key]) < show:
                examples[key].append(outcome.detail)

        def run_all(mutant, commands_for, oracle=None):
            nonlocal k, tried
            k += 1
            work = tmp / f"run{k}"
            work.mkdir()
            path = mutant.write(work)
            tried += 1
            valid = mutant.valid
            if valid is None:
                valid = oracle(path)[0] if oracle else True
            for name, args, outputs in commands_for(path, work):
                check = None
                if valid and name in ("inspect", "convert", "verify") and mutant.kind.startswith("onnx/"):
                    check = lambda text, p=path: fuzzlib.imports_correctly(p)  # noqa: E731
                ok = fuzzlib.valid_for(mutant, name, valid)
                record(fuzzlib.run_command(args, outputs, ok, check, timeout, name, mutant.kind))

        start = time.time()
        for r in range(rounds):
            full = full_every and r % full_every == 0
            for name, model in corpus.models.items():
                data = corpus.model_data[name]
                for mutant in fuzzlib.onnx_mutants(model.read_bytes(), rng):
                    run_all(
                        mutant,
                        lambda p, w, data=data: fuzzlib.onnx_commands(p, data, corpus, w / "out", full),
                        fuzzlib.onnx_oracle,
                    )
            for mutant in fuzzlib.data_mutants(x, y, rng):
                run_all(mutant, lambda p, w: fuzzlib.data_commands(p, corpus, w / "out", full), data_oracle)
            for name, net in corpus.nets.items():
                for mutant in fuzzlib.network_mutants(net, rng):
                    run_all(mutant, lambda p, w: fuzzlib.network_commands(p, corpus, w / "out", full))
            for mutant in fuzzlib.network_mutants(corpus.checkpoint, rng, checkpoint=True):
                if mutant.valid and not full:
                    continue  # a valid checkpoint trains: only on full rounds
                run_all(mutant, lambda p, w: fuzzlib.checkpoint_commands(p, corpus, w / "out"))
            if corpus.nir is not None:
                for mutant in fuzzlib.nir_mutants(corpus.nir, rng):
                    run_all(mutant, lambda p, w: fuzzlib.nir_commands(p, corpus, w / "out"))
            for mutant_args in fuzzlib.output_path_cases(corpus, tmp / f"paths{r}"):
                name, args, outputs = mutant_args
                tried += 1
                record(fuzzlib.run_command(args, outputs, False, None, timeout, name, "output_path"))
            done = sum(counts.values())
            bad = done - counts["clean_error"] - counts["correct"]
            print(f"round {r + 1}/{rounds}: {tried} inputs, {done} runs, {bad} failures, {time.time() - start:.0f} s",
                  file=sys.stderr, flush=True)  # fmt: skip
    return {"tried": tried, "counts": counts, "by_kind": by_kind, "examples": examples, "no_fix": no_fix}


def data_oracle(path: Path) -> tuple[bool, str]:
    """A flipped-bytes data file is valid if numpy still reads it as finite inputs and in-range labels."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            x, y = archive["x"], archive["y"]
        ok = x.dtype.kind == "f" and np.all(np.isfinite(x)) and y.dtype.kind in "iu" and np.all((y >= 0) & (y < 10))
        return bool(ok and x.shape[1:] == (1, 8, 8) and y.shape == (len(x),)), ""
    except Exception as exc:  # noqa: BLE001
        return False, str(exc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=300.0, help="Seconds per command run until a hang.")
    parser.add_argument("--full", action="store_true", help="Run the training commands on every round.")
    parser.add_argument("--show", type=int, default=2, help="Examples per failure, command, mutation.")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)
    result = fuzz(args.rounds, args.seed, args.timeout, 1 if args.full else 5, args.show)
    counts = result["counts"]
    runs = sum(counts.values())
    print(f"inputs tried: {result['tried']}, command runs: {runs}")
    for verdict in fuzzlib.GOOD + fuzzlib.FAILURES:
        print(f"  {verdict:18s} {counts.get(verdict, 0):6d}")
    no_fix = result["no_fix"]
    print(f"  (clean errors of eventsim without a 'fix:' line: {sum(no_fix.values())}; click's usage errors aside)")
    for line, n in no_fix.most_common(args.show * 4):
        print(f"      {n:5d}  {line}")
    failing = {kind: c for kind, c in result["by_kind"].items() if any(v not in fuzzlib.GOOD for v in c)}
    if failing:
        print("\nfailures by mutation:")
        for kind, c in sorted(failing.items()):
            print(f"  {kind:32s} " + ", ".join(f"{v} {n}" for v, n in sorted(c.items())))
        print("\nexamples:")
        for (verdict, command, kind), details in sorted(result["examples"].items()):
            for detail in details:
                print(f"--- {verdict} | {command} | {kind}\n{detail}\n")


if __name__ == "__main__":
    main()
