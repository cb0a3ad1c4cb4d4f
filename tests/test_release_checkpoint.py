"""The release checkpoints, `checkpoints/epir-megc2019-3class/` (EPIR) and `checkpoints/megc2019-3class-ensemble/`
(EPIR, STSTNet, OFF-ApexNet and SSSNet), load and predict where epir_hf is not installed.

The input is a drawn face (224×224, the size of the composite's face crops) before and after a brow raise, committed
as two PNGs under `tests/release/`; no corpus image is committed. `tests/release/expected.json` (and
`expected-ensemble.json`) holds the checkpoint's logits on the pair's flow and the pipeline's scores, written by
`python tests/test_release_checkpoint.py --write CHECKPOINT` (CPU, float32). A change of the checkpoint, of the
processor or of the model code that moves either by more than 1e-4 fails here; if it is meant, rewrite the file and
say so where the change is recorded.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from test_pipeline import run_without_epir_hf

REPO_ROOT = Path(__file__).resolve().parents[1]
INPUTS = Path(__file__).parent / "release"
TOLERANCE = 1e-4
# checkpoint folder -> (its expected outputs, the largest weights file it may hold, the model code it must carry)
CHECKPOINTS = {
    "epir-megc2019-3class": ("expected.json", 10 * 2**20, ("modeling_epir.py",)),
    "megc2019-3class-ensemble": ("expected-ensemble.json", 21 * 2**20, (
        "modeling_ensemble.py", "configuration_ensemble.py", "modeling_epir.py", "ststnet.py", "offapexnet.py",
        "sssnet.py")),
}

# Runs in a fresh interpreter where neither epir_hf nor dataset_scripts can be imported.
REMOTE_USER = """
import json
from PIL import Image
import numpy as np
import torch
from transformers import AutoImageProcessor, AutoModelForImageClassification, pipeline

folder, onset, apex = {folder!r}, {onset!r}, {apex!r}
processor = AutoImageProcessor.from_pretrained(folder, trust_remote_code=True)
model = AutoModelForImageClassification.from_pretrained(folder, trust_remote_code=True).eval()
pixel_values = processor(images=[(onset, apex)], return_tensors="pt").pixel_values
with torch.no_grad():
    logits = model(pixel_values=pixel_values).logits[0].tolist()
pipe = pipeline("micro-expression-recognition", model=folder, trust_remote_code=True)
result = pipe({{"onset": onset, "apex": apex}})
print("RESULT", json.dumps({{"logits": logits, "predictions": result["predictions"],
                            "face_region": result["face_region"], "reliable_motion": result["reliable_motion"]}}))
"""


def checkpoint_folder(name: str) -> Path:
    return REPO_ROOT / "checkpoints" / name


CHECKPOINT = checkpoint_folder("epir-megc2019-3class")
"""EPIR's release checkpoint, which other tests start from."""


def run_release(name: str, cwd: Path) -> dict:
    script = REMOTE_USER.format(folder=str(checkpoint_folder(name)), onset=str(INPUTS / "onset.png"),
                                apex=str(INPUTS / "apex.png"))
    done = run_without_epir_hf(script, cwd)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.split("RESULT", 1)[1])


@pytest.mark.parametrize("name", CHECKPOINTS)
def test_the_release_checkpoint_is_a_complete_small_folder(name):
    folder, (_, max_weights_bytes, model_code) = checkpoint_folder(name), CHECKPOINTS[name]
    files = {path.name for path in folder.iterdir()}
    for file in ("config.json", "model.safetensors", "preprocessor_config.json", "README.md", "pipeline_epir.py",
                 "pipeline_spotting.py", "image_processing_epir.py", *model_code):
        assert file in files, file
    assert (folder / "model.safetensors").stat().st_size <= max_weights_bytes
    config = json.loads((folder / "config.json").read_text())
    assert config["id2label"] == {"0": "negative", "1": "positive", "2": "surprise"}
    processor = json.loads((folder / "preprocessor_config.json").read_text())
    assert processor["do_face_crop"] is True and "face crops" in processor["training_inputs"]


@pytest.mark.parametrize("name", CHECKPOINTS)
def test_the_release_checkpoint_carries_the_package_code(name):
    # Users who load the folder by remote code run these copies, not epir_hf: a fix made in the package (a face-crop
    # or a processor bug) reaches them only if the copies follow it.
    package, folder = REPO_ROOT / "epir_hf", checkpoint_folder(name)
    stale = [path.name for path in sorted(folder.glob("*.py"))
             if not (package / path.name).is_file() or path.read_bytes() != (package / path.name).read_bytes()]
    assert not stale, (f"{stale} in {name} differ from epir_hf/ or are gone from it: copy them over (drop the gone "
                       "ones) when the saved weights stay valid, else re-train the checkpoint with the model card's "
                       "`--train_full` command")


@pytest.mark.parametrize("name", CHECKPOINTS)
def test_the_release_checkpoint_predicts_through_remote_code(name, tmp_path):
    expected = json.loads((INPUTS / CHECKPOINTS[name][0]).read_text())
    result = run_release(name, tmp_path)
    assert result["logits"] == pytest.approx(expected["logits"], abs=TOLERANCE)
    assert [p["label"] for p in result["predictions"]] == [p["label"] for p in expected["predictions"]]
    assert [p["score"] for p in result["predictions"]] == pytest.approx(
        [p["score"] for p in expected["predictions"]], abs=TOLERANCE)
    # the drawn head leaves background around it, so the face is located in the frame, not taken whole
    assert (result["face_region"], result["reliable_motion"]) == (expected["face_region"], True) == ("detected", True)


def write_inputs_and_expected(checkpoint: str, scratch: Path) -> None:
    """Draw the input pair (the same pair every time: the generator is seeded), then record what `checkpoint` gives
    on it (run with epir_hf importable)."""
    import cv2
    import numpy as np

    from dataset_scripts.synthetic import action_unit_bumps, displacement_field, render_face, sample_geometry

    rng = np.random.default_rng(2026)
    geometry = sample_geometry(rng)
    onset = render_face(geometry, rng, 224)
    field = displacement_field(action_unit_bumps(geometry, "surprise", 224, 2.5), 224)
    ys, xs = np.mgrid[0:224, 0:224].astype(np.float32)
    apex = cv2.remap(onset, xs - field[..., 0], ys - field[..., 1], cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    INPUTS.mkdir(exist_ok=True)
    for name, frame in (("onset", onset), ("apex", apex)):
        cv2.imwrite(str(INPUTS / f"{name}.png"), np.clip(np.rint(frame), 0, 255).astype(np.uint8))
    result = run_release(checkpoint, scratch)
    expected = {key: result[key] for key in ("logits", "predictions", "face_region", "reliable_motion")}
    (INPUTS / CHECKPOINTS[checkpoint][0]).write_text(json.dumps(expected, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "--write" or sys.argv[2] not in CHECKPOINTS:
        sys.exit(f"usage: python tests/test_release_checkpoint.py --write {{{','.join(CHECKPOINTS)}}}")
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        write_inputs_and_expected(sys.argv[2], Path(scratch))
