"""RunConfig: the typed record of a run's settings that resume and merge compare."""

from __future__ import annotations

import json

import pytest

from epir_hf.training import RunConfig
from epir_hf.training.results import write_fold_record

SETTINGS = {"protocol": "honest", "seed": 1, "dataset": "synthetic", "subjects": ["s1", "s2"],
            "label_names": ["a", "b"], "model_config": {"hidden_size": 8}, "training": {"learning_rate": 0.001},
            "recipe": {"balance": "loss"}}


def test_json_round_trip_and_differences_by_path(tmp_path):
    config = RunConfig(**SETTINGS)
    config.to_json(tmp_path / "run_config.json")
    assert RunConfig.from_output_dir(tmp_path) == config
    other = RunConfig(**{**SETTINGS, "seed": 2, "training": {"learning_rate": 0.01}})
    assert config.differences(other) == ["seed: 1 → 2", "training.learning_rate: 0.001 → 0.01"]


def test_a_record_written_before_fold_by_existed_resumes_a_subject_run(tmp_path):
    (tmp_path / "run_config.json").write_text(json.dumps(SETTINGS))  # no fold_by key: an older run's record
    RunConfig(**SETTINGS).record_in(tmp_path)  # same settings: accepted
    write_fold_record(tmp_path, {"subject": "s1"})  # a record with work under it refuses other settings
    with pytest.raises(ValueError, match="fold_by: 'subject' → 'dataset'"):
        RunConfig(**SETTINGS, fold_by="dataset").record_in(tmp_path)


def test_records_that_are_not_run_settings_are_named(tmp_path):
    path = tmp_path / "run_config.json"
    path.write_text(json.dumps({**SETTINGS, "sede": 3}))
    with pytest.raises(ValueError, match=r"run_config.json is not a LOSO run record \(unknown keys \['sede'\]\)"):
        RunConfig.from_json(path)
    path.write_text(json.dumps({key: value for key, value in SETTINGS.items() if key != "subjects"}))
    with pytest.raises(ValueError, match=r"missing keys \['subjects'\]"):
        RunConfig.from_json(path)
    with pytest.raises(FileNotFoundError, match="not a LOSO output dir"):
        RunConfig.from_output_dir(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="Unknown protocol 'best'"):
        RunConfig(**{**SETTINGS, "protocol": "best"})
