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
