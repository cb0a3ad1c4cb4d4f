"""The loader on the real MEGC2019 composite flow release (skipped when the folder is absent).

The expected counts are the specification of the release (its README table and issue 4), not
numbers measured from the data.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from dataset_scripts import load_me_dataset, prepare_model_inputs

pytestmark = pytest.mark.real_data  # the `composite_dir` fixture skips when EPIR_COMPOSITE_DIR is unset or absent

SPEC = {  # part: (subjects, negative, positive, surprise)
    "casme2": (24, 88, 32, 25),
    "samm": (28, 92, 26, 15),
    "smic": (16, 70, 51, 43),
}


@pytest.fixture(scope="module")
def composite(tmp_path_factory, composite_dir):
    return load_me_dataset("megc2019_composite_flow", composite_dir, cache_dir=tmp_path_factory.mktemp("cache"))


def test_counts_match_the_release_specification(composite):
    assert len(composite) == 442
    assert len(set(composite["subject"])) == 68
    assert len(set(composite["sample_id"])) == 442
    names = composite.features["label"].names
    assert names == ["negative", "positive", "surprise"]
    per_part = Counter(zip(composite["dataset"], (names[i] for i in composite["label"])))
    for part, (subjects, negative, positive, surprise) in SPEC.items():
        assert (per_part[(part, "negative")], per_part[(part, "positive")], per_part[(part, "surprise")]) == (
            negative, positive, surprise)
        assert len({s for s, d in zip(composite["subject"], composite["dataset"]) if d == part}) == subjects


def test_flows_become_model_inputs(composite):
    from epir_hf.image_processing_epir import EPIRImageProcessor

    first = composite[0]["flow"]
    assert first.size == (28, 28) and first.mode == "RGB"
    inputs = prepare_model_inputs(composite, EPIRImageProcessor(), num_proc=2)
    pixels = np.asarray(inputs.with_format("numpy")["pixel_values"][:])
    assert pixels.shape == (442, 3, 28, 28) and np.isfinite(pixels).all()
    assert inputs["subject"] == composite["subject"]
