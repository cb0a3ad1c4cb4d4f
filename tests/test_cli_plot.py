"""`epir-hf plot`: the documentation's figures regenerate from results/ and draw the committed numbers; figures of
any run are deterministic; bad input ends in one line naming it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_compare import write_run

from epir_hf.cli import plot as plot_cli
from epir_hf.cli.main import cli, main
from epir_hf.plots.figures import DOC_FIGURES, MODELS
from epir_hf.plots.runs import load_run
from epir_hf.training.results import write_fold_record

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS = REPO_ROOT / "results"
COMMITTED = REPO_ROOT / "docs" / "figures"
SCREENSHOTS = {"demo.png"}  # not drawn from results: the demo's page, saved by tests/test_demo.py's browser test


def committed_results(run: str) -> list[dict]:
    """The results.json of a run, or of each seed run of a row, in seed order."""
    folder = RESULTS / run
    paths = [folder / "results.json"] if (folder / "results.json").is_file() else [
        folder / f"seed{seed}" / "results.json" for seed in (1, 2, 3)]
    return [json.loads(path.read_text()) for path in paths]


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory) -> tuple[Path, dict]:
    """`epir-hf plot --figures DIR` run from the repository root, and the numbers each figure drew."""
    out = tmp_path_factory.mktemp("figures")
    drawn = {}

    def recording(*args, **kwargs):
        drawn.update(write_doc_figures(*args, **kwargs))
        return drawn

    write_doc_figures = plot_cli.write_doc_figures
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(REPO_ROOT)
        patch.setattr(plot_cli, "write_doc_figures", recording)
        assert main(["plot", "--figures", str(out)]) == 0
    return out, drawn


def test_the_command_regenerates_each_committed_figure_at_its_size(regenerated):
    out, _ = regenerated
    names = sorted(figure.filename for figure in DOC_FIGURES)
    assert sorted(path.name for path in out.glob("*.png")) == names
    assert sorted(path.name for path in COMMITTED.glob("*.png") if path.name not in SCREENSHOTS) == names
    for name in names:
        new, committed = Image.open(out / name), Image.open(COMMITTED / name)
        assert new.size == committed.size, name
        assert "Software" not in new.info and "Software" not in committed.info  # no version, no time: deterministic
        pixels = np.asarray(new.convert("RGB"), dtype=float)
        assert (pixels.min(axis=-1) < 200).mean() > 0.02, f"{name} is (nearly) blank"


def test_the_confusion_matrices_are_the_committed_ones_summed_over_seeds(regenerated):
    drawn = regenerated[1]["confusion_ensemble.png"]
    runs = committed_results(MODELS[-1][0])
    assert drawn["counts"]["overall"] == np.sum([results["confusion_matrix"] for results in runs], axis=0).tolist()
    assert set(drawn["shares"]) == {"overall", *runs[0]["metrics"]["per_corpus"]}
    for group, shares in drawn["shares"].items():
        scores = [results["metrics"]["overall"] if group == "overall" else results["metrics"]["per_corpus"][group]
                  for results in runs]
        # Each row's share on the diagonal is the class's recall, averaged over the seeds.
        assert np.diag(shares) == pytest.approx(np.mean([s["per_class_recall"] for s in scores], axis=0), abs=1e-12)
        assert np.sum(drawn["counts"][group]) == sum(s["num_samples"] for s in scores)


def test_the_bars_are_the_seed_tables_of_summary_json(regenerated):
    drawn = regenerated[1]["models_per_corpus.png"]
    assert list(drawn) == [label for _, label in MODELS]
    for run, label in MODELS:
        summary = json.loads((RESULTS / run / "summary.json").read_text())
        for group, figures in drawn[label].items():
            expected = summary["overall"] if group == "overall" else summary["per_corpus"][group]
            for metric in ("uf1", "uar"):
                assert figures[metric]["mean"] == pytest.approx(expected[metric]["mean"], abs=1e-12), (run, group)
                assert figures[metric]["std"] == pytest.approx(expected[metric]["std"], abs=1e-12), (run, group)


def test_the_oracle_curves_end_at_the_runs_oracle_and_last_epoch_scores(regenerated):
    drawn = regenerated[1]["honest_vs_oracle.png"]
    (results,) = committed_results("megc2019-oracle-60ep")
    oracle, last_epoch = results["metrics"]["overall"], results["metrics"]["last_epoch"]["overall"]
    assert drawn["oracle"] == oracle and drawn["last_epoch"] == last_epoch
    assert drawn["epochs"] == list(range(1, int(results["training"]["num_train_epochs"]) + 1))
    assert drawn["best_epoch_so_far"][-1] == pytest.approx(oracle["accuracy"], abs=1e-12)
    assert drawn["all_at_epoch"][-1] == pytest.approx(last_epoch["accuracy"], abs=1e-12)
    assert np.all(np.diff(drawn["best_epoch_so_far"]) >= 0)
    assert np.all(np.asarray(drawn["best_epoch_so_far"]) >= np.asarray(drawn["all_at_epoch"]))


def test_the_command_lines_docs_cli_md_lists_write_the_same_images(regenerated, monkeypatch, tmp_path):
    text = (REPO_ROOT / "docs" / "cli.md").read_text().replace("\\\n", " ")
    lines = [line.split() for line in text.splitlines() if line.startswith("    epir-hf plot results/")]
    assert sorted(Path(line[line.index("--out") + 1]).name for line in lines) == sorted(
        figure.filename for figure in DOC_FIGURES)
    monkeypatch.chdir(REPO_ROOT)
    for line in lines:
        index = line.index("--out") + 1
        written = tmp_path / Path(line[index]).name
        assert main([*line[1:index], str(written), *line[index + 1:]]) == 0
        assert written.read_bytes() == (regenerated[0] / written.name).read_bytes(), written.name


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> dict[str, Path]:
    """A row of seeds 1-3 and a single run (fold files only: the figures score them)."""
    root = tmp_path_factory.mktemp("runs")
    for seed in (1, 2, 3):
        write_run(root / "row" / f"seed{seed}", seed, 0.3)
    return {"row": root / "row", "single": write_run(root / "single", 1, 0.3)}


def test_figures_of_any_run_are_deterministic_and_bars_of_one_run_have_no_std(synthetic, tmp_path):
    for attempt in ("a", "b"):
        assert main(["plot", str(synthetic["row"]), "--out", str(tmp_path / f"confusion_{attempt}.png")]) == 0
    assert (tmp_path / "confusion_a.png").read_bytes() == (tmp_path / "confusion_b.png").read_bytes()
    drawn = plot_cli.plot_runs("corpora", [load_run(synthetic["single"], "one"), load_run(synthetic["row"])],
                               tmp_path / "corpora.png")
    assert list(drawn) == ["one", "row"] and list(drawn["one"]) == ["overall", "c1", "c2"]
    assert drawn["one"]["overall"]["uf1"]["std"] is None and drawn["row"]["overall"]["uf1"]["std"] > 0


def test_help_fits_one_screen(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    with pytest.raises(SystemExit):
        main(["plot", "--help"])
    assert len(capsys.readouterr().out.splitlines()) <= 24


@pytest.mark.parametrize("arguments, message", [
    (lambda runs, tmp: [str(tmp)], "{tmp} is neither a LOSO run folder"),
    (lambda runs, tmp: [str(runs["single"]), "--figure", "oracle"],
     "{single} has no per-epoch test accuracy (epoch_test_accuracy, last_epoch_predictions) in its folds"),
    (lambda runs, tmp: [str(runs["row"]), "--figure", "oracle"], "{row} holds 3 seed runs; the honest-vs-oracle"),
    (lambda runs, tmp: [str(runs["row"]), str(runs["single"]), "--figure", "confusion"],
     "the confusion figure draws one run (or one folder of seed runs); got 2"),
    (lambda runs, tmp: [str(runs["row"]), str(runs["single"]), "--labels", "a"], "--labels names 1 runs, but 2 RUNs"),
    (lambda runs, tmp: [str(runs["row"]), str(runs["row"])], "several runs are labelled row"),
    (lambda runs, tmp: [str(runs["single"]), "--out", str(tmp / "figure.jpg")], "--out must name a .png file"),
    (lambda runs, tmp: [str(runs["single"]), "--out", str(tmp / "no" / "f.png")], "the folder of --out does not"),
    (lambda runs, tmp: [], "give RUNs, --figures DIR or --model (with --sample), one of them; got none."),
    (lambda runs, tmp: ["--figures", str(tmp)], "no results/ folder here"),
    (lambda runs, tmp: ["--model", str(tmp)], "--model needs --sample"),
    (lambda runs, tmp: ["--figures", str(tmp), "--out", "x.png", "--labels", "a"], "--labels, --out cannot go with"),
])
def test_bad_input_ends_in_one_line_naming_it(synthetic, tmp_path, monkeypatch, arguments, message):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["epir-hf", "plot", *arguments(synthetic, tmp_path)])
    with pytest.raises(SystemExit) as exited:
        cli()
    expected = message.format(tmp=tmp_path, **synthetic)
    assert str(exited.value).startswith(f"epir-hf: error: {expected}") and "\n" not in str(exited.value)


def test_an_incomplete_run_is_refused_naming_it(synthetic, tmp_path):
    partial = write_run(tmp_path / "partial", 1, 0.3)
    (partial / "folds" / "s00.json").unlink()
    with pytest.raises(ValueError, match=f"^{partial} is incomplete: 1 of 12 folds missing"):
        main(["plot", str(partial)])
    write_fold_record(partial, json.loads((synthetic["single"] / "folds" / "s00.json").read_text()))
    assert main(["plot", str(partial), "--out", str(tmp_path / "whole.png")]) == 0
