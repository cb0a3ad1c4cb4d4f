"""The front door: README and model card within their sizes, the card parseable by the Hub with honest entries only."""

from pathlib import Path

from huggingface_hub import ModelCard

REPO_ROOT = Path(__file__).resolve().parents[1]
SETUP_COMMANDS = (
    "pip install torch==2.13.0 -e . && accelerate launch examples/run_loso.py --output_dir runs/quickstart",
    'pip install torch==2.13.0 -e ".[test]" && python -m pytest',
)


def test_readme_is_short_and_keeps_the_two_setup_commands():
    readme = (REPO_ROOT / "README.md").read_text()
    assert len(readme) <= 12_000
    for command in SETUP_COMMANDS:
        assert f"```bash\n{command}\n```" in readme
    assert (REPO_ROOT / ".ci" / "run").read_text().count("python -m pytest") == 1


def test_model_card_parses_and_reports_honest_results_only():
    text = (REPO_ROOT / "model_card.md").read_text()
    assert len(text) <= 15_000
    card = ModelCard.load(REPO_ROOT / "model_card.md")
    assert card.data.library_name == "transformers" and card.data.inference is False
    assert card.data.pipeline_tag is None  # no widget that would send single face photos
    results = card.data.eval_results
    assert results, "the card has no model-index entries"
    for result in results:
        described = f"{result.task_name} {result.metric_name}".lower()
        assert "oracle" not in described and "optimistic" not in described, described
        assert "honest" in described or "last epoch" in described, described


def test_documentation_links_resolve():
    for document in ("README.md", "model_card.md"):
        text = (REPO_ROOT / document).read_text()
        for target in ("docs/preprocessing.md", "docs/datasets.md", "docs/loso.md", "docs/experiments.md"):
            if target in text:
                assert (REPO_ROOT / target).is_file(), f"{document} links to missing {target}"


HEADLINE_RUN = REPO_ROOT / "results" / "megc2019-honest-60ep"
HEADLINE_SEEDS = (1, 2, 3)
CARD_METRICS = {"f1": "uf1", "recall": "uar", "accuracy": "accuracy"}


def test_model_index_values_are_recomputed_from_the_committed_predictions():
    """Every model-index number is the seed table of the committed per-fold predictions in results/, to 4 decimals."""
    import pytest

    from epir_hf.training import compute_results, load_metric
    from epir_hf.training.folds import completed_folds
    from epir_hf.training.results import read_fold_records
    from epir_hf.training.run_config import RunConfig
    from epir_hf.training.seed_table import seed_table

    folders = [HEADLINE_RUN / f"seed{seed}" for seed in HEADLINE_SEEDS]
    configs = [RunConfig.from_output_dir(folder) for folder in folders]
    done = [len(completed_folds(folder, config.subjects)) for folder, config in zip(folders, configs)]
    if any(count < len(config.subjects) for count, config in zip(done, configs)):
        pytest.skip(f"the headline runs are still being re-run: {done} of {len(configs[0].subjects)} folds per seed")
    metric = load_metric()
    runs = [compute_results(read_fold_records(folder), config, metric=metric)
            for folder, config in zip(folders, configs)]
    assert all(config.protocol == "honest" for config in configs)
    table = seed_table(runs)["overall"]
    card = ModelCard.load(REPO_ROOT / "model_card.md")
    for result in card.data.eval_results:
        assert "mean of seeds 1-3" in result.metric_name, result.metric_name
        mean = table[CARD_METRICS[result.metric_type]][0]
        assert result.metric_value == round(mean, 4), (result.metric_name, result.metric_value, mean)


# A card column and where its number lives in a results.json's "metrics": (section, corpus or None, metric).
RESULT_COLUMNS = {
    "UF1": ("overall", None, "uf1"), "UAR": ("overall", None, "uar"), "acc": ("overall", None, "accuracy"),
    "CASME II UF1": ("per_corpus", "casme2", "uf1"), "SAMM UF1": ("per_corpus", "samm", "uf1"),
    "SMIC UF1": ("per_corpus", "smic", "uf1"), "last-epoch UF1": ("last_epoch", None, "uf1"),
}


def card_rows_citing_results(text: str) -> list[tuple[str, dict[str, str]]]:
    """The card's table rows whose first cell names a folder of results/ in backticks, as (folder, {column: cell})."""
    rows, header = [], None
    for line in text.splitlines():
        if not line.startswith("|"):
            header = None
            continue
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if header is None:
            header = cells
        elif cells[0].startswith("`megc") and "`" in cells[0][1:]:
            rows.append((cells[0][1:cells[0].index("`", 1)], dict(zip(header, cells))))
    return rows


def test_card_rows_naming_a_results_folder_are_recomputed_from_its_predictions():
    """A card row naming a run folder shows that run's figures, recomputed from its committed folds, to 4 decimals."""
    from epir_hf.training import compute_results, load_metric
    from epir_hf.training.results import read_fold_records
    from epir_hf.training.run_config import RunConfig

    rows = card_rows_citing_results((REPO_ROOT / "model_card.md").read_text())
    assert {"megc2019-oracle-60ep", "megc2019-oracle-100ep-constant"} <= {folder for folder, _ in rows}, rows
    metric = load_metric()
    for folder, cells in rows:
        run = REPO_ROOT / "results" / folder
        results = compute_results(read_fold_records(run), RunConfig.from_output_dir(run), metric=metric)
        assert results["folds_completed"] == results["folds_total"], folder
        checked = [column for column in cells if column in RESULT_COLUMNS]
        assert checked, (folder, cells)
        for column in checked:
            section, corpus, name = RESULT_COLUMNS[column]
            figures = results["metrics"][section]
            figures = figures["overall"] if section == "last_epoch" else figures
            figures = figures[corpus] if corpus else figures
            assert cells[column] == f"{figures[name]:.4f}", (folder, column, cells[column], figures[name])
