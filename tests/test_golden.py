"""Golden values: seeded tiny EPIR models must keep their checkpoint layout, initial weights and outputs.

A released checkpoint only loads into code that names and shapes its tensors the same way, and a seeded LOSO run
only reproduces if seeding gives the same initial weights. A refactor that changes either, even without touching
the maths (renamed submodules, a different module creation order, another init), fails here.

`tests/golden/epir_tiny.json` was written by `python tests/test_golden.py --write` (CPU, float32; the torch
version is recorded in the file). If a change is meant to alter the architecture or the initialisation, rewrite
the file that way and say so where the change is recorded: checkpoints saved before it no longer load or reproduce.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

GOLDEN = Path(__file__).parent / "golden" / "epir_tiny.json"
# Every EPIR component on, then every one off (Conv2d patches, plain attention, no token reduction).
CASES = {
    "all_on": dict(hidden_size=32, num_hidden_layers=3, num_attention_heads=2, intermediate_size=64,
                   projection_dim=16, token_merge_schedule=[8, 4, 0], dtsm_layer=1, dtsm_keep_ratio=0.5),
    "all_off": dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, dtsm_layer=0,
                    projection_dim=16, use_dnspt=False, use_self_token_suppression=False,
                    use_token_integration=False, use_dtsm=False),
}
MODEL_SEED, INPUT_SEED = 0, 1
LABELS = [0, 1, 2]
TOLERANCE = 1e-5


def compute_case(overrides: dict) -> dict:
    """The values a seeded model gives: its state-dict layout, a parameter checksum and its outputs on a seeded
    input (eval mode, so no dropout)."""
    from epir_hf import EPIRConfig, EPIRForImageClassification

    torch.manual_seed(MODEL_SEED)
    model = EPIRForImageClassification(EPIRConfig(**overrides)).eval()
    size = model.config.image_size
    pixel_values = torch.randn(len(LABELS), 3, size, size, generator=torch.Generator().manual_seed(INPUT_SEED))
    with torch.no_grad():
        outputs = model(pixel_values, labels=torch.tensor(LABELS))
    state = model.state_dict()
    return {
        "state_dict": {name: list(tensor.shape) for name, tensor in state.items()},
        "parameter_sums": {name: tensor.double().sum().item() for name, tensor in state.items()},
        "logits": outputs.logits.tolist(),
        "loss": outputs.loss.item(),
        "token_counts": list(outputs.token_counts),
        "kept_patch_mask": None if outputs.kept_patch_mask is None else outputs.kept_patch_mask.int().tolist(),
    }


@pytest.fixture(scope="module")
def golden() -> dict:
    return json.loads(GOLDEN.read_text())


@pytest.mark.parametrize("case", sorted(CASES))
def test_seeded_tiny_model_matches_golden_values(golden, case):
    expected, actual = golden["cases"][case], compute_case(CASES[case])
    assert actual["state_dict"] == expected["state_dict"], "state-dict names or shapes changed"
    for name, value in expected["parameter_sums"].items():
        assert actual["parameter_sums"][name] == pytest.approx(value, abs=TOLERANCE), f"initial weights of {name}"
    assert actual["token_counts"] == expected["token_counts"]
    assert actual["kept_patch_mask"] == expected["kept_patch_mask"]
    assert torch.allclose(torch.tensor(actual["logits"]), torch.tensor(expected["logits"]), atol=TOLERANCE, rtol=0)
    assert actual["loss"] == pytest.approx(expected["loss"], abs=TOLERANCE)


def test_golden_config_matches_the_config_schedule(golden):
    from epir_hf import EPIRConfig

    for case, overrides in CASES.items():
        assert EPIRConfig(**overrides).token_counts() == golden["cases"][case]["token_counts"]


def write_golden() -> None:
    record = {
        "generated_by": "python tests/test_golden.py --write",
        "torch": torch.__version__,
        "device": "cpu",
        "dtype": "float32",
        "model_seed": MODEL_SEED,
        "input_seed": INPUT_SEED,
        "labels": LABELS,
        "configs": CASES,
        "cases": {case: compute_case(overrides) for case, overrides in CASES.items()},
    }
    GOLDEN.parent.mkdir(exist_ok=True)
    GOLDEN.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {GOLDEN}")


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python tests/test_golden.py --write   (rewrites the golden values)")
    write_golden()
