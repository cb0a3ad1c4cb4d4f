"""benchmarks/bench_ensemble.py: it says how it measured, and README's choice between the two release checkpoints
quotes its committed measurements (benchmarks/bench_ensemble.json) and the committed LOSO runs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from _loso_testing import load_script

REPO_ROOT = Path(__file__).resolve().parents[1]
MEASURED = REPO_ROOT / "benchmarks" / "bench_ensemble.json"


@pytest.fixture(scope="module")
def bench():
    return load_script("benchmarks/bench_ensemble.py")


def test_the_benchmark_times_both_checkpoints_and_says_how(bench, capsys):
    measured = bench.main(["--repeats", "1", "--threads", "1"])
    out = capsys.readouterr().out
    assert re.search(r"\d+ CPU cores available, 1 torch threads, torch \S+ \(\w+ kernels\); 1-minute load average", out)
    assert "median of 1 calls after 3 warm-up" in out and "timed in turn, call by call" in out
    assert set(measured["checkpoints"]) == {"EPIR", "ensemble"}
    for row in measured["checkpoints"].values():
        assert set(row["model_ms"]) == {"1", "64"} and min(row["model_ms"].values()) > 0 < row["pipeline_pair_ms"]
        assert f"{row['honest_uf1_mean']:.4f} ± {row['honest_uf1_std']:.4f}" in out


def test_readme_quotes_the_committed_measurements_and_runs(bench):
    committed = json.loads(MEASURED.read_text())
    assert "2 CPU cores available, 2 torch threads" in committed["machine"]
    epir, ensemble = committed["checkpoints"]["EPIR"], committed["checkpoints"]["ensemble"]
    parameters = {name: sum(p.numel() for p in model.parameters()) for name, model in (
        ("EPIR", load_model(bench.CHECKPOINTS["EPIR"][0])), ("ensemble", load_model(bench.CHECKPOINTS["ensemble"][0])))}
    assert (epir["parameters"], ensemble["parameters"]) == (parameters["EPIR"], parameters["ensemble"])
    uf1 = {name: bench.honest_uf1(run) for name, (_, run) in bench.CHECKPOINTS.items()}
    assert (epir["honest_uf1_mean"], ensemble["honest_uf1_mean"]) == (uf1["EPIR"][0], uf1["ensemble"][0])
    readme = " ".join((REPO_ROOT / "README.md").read_text().split())
    expected = (f"honest UF1 {uf1['ensemble'][0]:.4f} ± {uf1['ensemble'][1]:.4f} against {uf1['EPIR'][0]:.4f} ± "
                f"{uf1['EPIR'][1]:.4f}), EPIR for size and speed ({parameters['EPIR'] / 1e6:.2f}M parameters against "
                f"{parameters['ensemble'] / 1e6:.2f}M; on 2 CPU cores, model {epir['model_ms']['1']:.0f} against "
                f"{ensemble['model_ms']['1']:.0f} ms per pair, {epir['model_ms']['64'] / 64:.1f} against "
                f"{ensemble['model_ms']['64'] / 64:.1f} per flow at batch 64, with TV-L1 flow "
                f"{epir['pipeline_pair_ms']:.0f} against {ensemble['pipeline_pair_ms']:.0f} ms per pair; "
                "`benchmarks/bench_ensemble.py`)")
    assert expected in readme, expected


def load_model(folder: str):
    from transformers import AutoModelForImageClassification

    import epir_hf  # noqa: F401

    return AutoModelForImageClassification.from_pretrained(REPO_ROOT / folder)
