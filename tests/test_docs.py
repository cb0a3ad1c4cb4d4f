"""The front door: README and model card within their sizes, the card parseable by the Hub with honest entries only."""

import functools
import re
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


def results_of(run: Path, metric) -> dict:
    """The results of the complete run in `run`, recomputed from its committed folds."""
    from epir_hf.training import compute_results
    from epir_hf.training.results import read_fold_records
    from epir_hf.training.run_config import RunConfig

    results = compute_results(read_fold_records(run), RunConfig.from_output_dir(run), metric=metric)
    assert results["folds_completed"] == results["folds_total"], run
    return results


def test_model_index_values_are_recomputed_from_the_committed_predictions():
    """Every model-index number is the seed table of the committed per-fold predictions in results/, to 4 decimals."""
    import pytest

    from epir_hf.training import load_metric
    from epir_hf.training.folds import completed_folds
    from epir_hf.training.run_config import RunConfig
    from epir_hf.training.seed_table import seed_table

    folders = [HEADLINE_RUN / f"seed{seed}" for seed in HEADLINE_SEEDS]
    configs = [RunConfig.from_output_dir(folder) for folder in folders]
    done = [len(completed_folds(folder, config.subjects)) for folder, config in zip(folders, configs)]
    if any(count < len(config.subjects) for count, config in zip(done, configs)):
        pytest.skip(f"the headline runs are still being re-run: {done} of {len(configs[0].subjects)} folds per seed")
    metric = load_metric()
    runs = [results_of(folder, metric) for folder in folders]
    assert all(config.protocol == "honest" for config in configs)
    table = seed_table(runs)["overall"]
    card = ModelCard.load(REPO_ROOT / "model_card.md")
    for result in card.data.eval_results:
        assert "mean of seeds 1-3" in result.metric_name, result.metric_name
        mean = table[CARD_METRICS[result.metric_type]]["mean"]
        assert result.metric_value == round(mean, 4), (result.metric_name, result.metric_value, mean)


# A README or card column and where its number lives in a results.json's "metrics": (section, corpus or None, metric).
RESULT_COLUMNS = {
    "UF1": ("overall", None, "uf1"), "UAR": ("overall", None, "uar"), "acc": ("overall", None, "accuracy"),
    "CASME II UF1": ("per_corpus", "casme2", "uf1"), "SAMM UF1": ("per_corpus", "samm", "uf1"),
    "SMIC UF1": ("per_corpus", "smic", "uf1"), "last-epoch UF1": ("last_epoch", None, "uf1"),
}


def rows_citing_results(text: str) -> list[tuple[str, dict[str, str]]]:
    """Table rows whose first cell names a folder of results/ in backticks, as (folder, {column: cell}); the cells lose
    their Markdown emphasis (`*0.8753*`, `**0.6968 ± 0.0193**`)."""
    rows, header = [], None
    for line in text.splitlines():
        if not line.startswith("|"):
            header = None
            continue
        cells = [cell.strip().strip("*").strip() for cell in line.strip("|").split("|")]
        folder = re.search(r"`((?:megc|e28)[^`]*)`", cells[0])
        if header is None:
            header = cells
        elif folder:
            rows.append((folder.group(1), dict(zip(header, cells))))
    return rows


def cited_figures(folder: Path, metric) -> dict:
    """{column: cell text} as the run in `folder` gives it: one run's figures, or for a folder of `seed*` runs their
    mean ± std (the seed table)."""
    from epir_hf.training.seed_table import seed_table

    def text(figure: float | dict[str, float]) -> str:
        return f"{figure['mean']:.4f} ± {figure['std']:.4f}" if isinstance(figure, dict) else f"{figure:.4f}"

    seeds = sorted(folder.glob("seed*"))
    if seeds:
        table = seed_table([results_of(run, metric) for run in seeds])
        sections = {"overall": table["overall"], "per_corpus": table["per_corpus"]}
    else:
        metrics = results_of(folder, metric)["metrics"]
        sections = dict(metrics)
        if "last_epoch" in metrics:  # an oracle-epoch run also scores its models after their last epoch
            sections["last_epoch"] = metrics["last_epoch"]["overall"]
    return {column: text((sections[section][corpus] if corpus else sections[section])[name])
            for column, (section, corpus, name) in RESULT_COLUMNS.items() if section in sections}


@functools.cache
def recomputed_figures(folder: Path) -> dict:
    """`cited_figures` of `folder`, computed once per test session (several tests check the same runs)."""
    from epir_hf.training import load_metric

    return cited_figures(folder, load_metric())


def test_rows_naming_a_results_folder_are_recomputed_from_its_predictions():
    """A README or card row naming a run folder shows that run's figures (for a folder of seeds, their mean ± std),
    recomputed from its committed folds, to 4 decimals."""
    cited = {document: rows_citing_results((REPO_ROOT / document).read_text())
             for document in ("README.md", "model_card.md")}
    headline_and_oracle_runs = {"megc2019-honest-60ep", "megc2019-oracle-60ep", "megc2019-oracle-100ep-constant"}
    for document, rows in cited.items():
        assert headline_and_oracle_runs <= {folder for folder, _ in rows}, (document, rows)
    for document, rows in cited.items():
        for folder, cells in rows:
            checked = [column for column in cells if column in RESULT_COLUMNS]
            assert checked, (document, folder, cells)
            for column in checked:
                expected = recomputed_figures(REPO_ROOT / "results" / folder).get(column, "(not computed for this run)")
                assert cells[column] == expected, (document, folder, column, cells[column], expected)


def test_results_readme_states_each_runs_recomputed_uf1_and_uar():
    """results/README.md's row of a run (or of its seeds) states its UF1 and UAR (mean ± std for seeds), and the UF1 of
    each corpus it names, as its committed folds give them."""
    checked = []
    for line in (REPO_ROOT / "results" / "README.md").read_text().splitlines():
        named = re.match(r"\| `([^`/]+)[^`]*`", line)
        folder = REPO_ROOT / "results" / named.group(1) if named else None
        if folder is None or not ((folder / "run_config.json").is_file() or list(folder.glob("seed*"))):
            continue
        figures = recomputed_figures(folder)
        for column in ("UF1", "UAR"):
            assert figures[column] in line, (folder.name, column, figures[column])
        for corpus in ("CASME II", "SAMM", "SMIC"):  # a corpus's UF1, its mean over seeds for a row of seeds
            if f"{corpus} 0." in line:
                mean = figures[f"{corpus} UF1"].split(" ± ")[0]
                assert f"{corpus} {mean}" in line, (folder.name, corpus, mean)
        checked.append(folder.name)
    assert {"megc2019-honest-60ep", "e28-lodo-epir", "e28-lodo-ststnet-own"} <= set(checked), checked
