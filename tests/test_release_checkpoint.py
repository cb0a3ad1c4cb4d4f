"""The release checkpoint `checkpoints/epir-megc2019-3class/` loads and predicts where epir_hf is not installed.

The input is a drawn face (224×224, the size of the composite's face crops) before and after a brow raise, committed
as two PNGs under `tests/release/`; no corpus image is committed. `tests/release/expected.json` holds the
checkpoint's logits on the pair's flow and the pipeline's scores, written by
`python tests/test_release_checkpoint.py --write` (CPU, float32). A change of the checkpoint, of the processor or of
the model code that moves either by more than 1e-4 fails here; if it is meant, rewrite the file and say so where the
change is recorded.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from test_pipeline import run_without_epir_hf

REPO_ROOT = Path(__file__).resolve().parents[1]
CHECKPOINT = REPO_ROOT / "checkpoints" / "epir-megc2019-3class"
INPUTS = Path(__file__).parent / "release"
TOLERANCE = 1e-4
MAX_WEIGHTS_BYTES = 10 * 2**20

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


def run_release(cwd: Path) -> dict:
    script = REMOTE_USER.format(folder=str(CHECKPOINT), onset=str(INPUTS / "onset.png"), apex=str(INPUTS / "apex.png"))
    done = run_without_epir_hf(script, cwd)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.split("RESULT", 1)[1])


def test_the_release_checkpoint_is_a_complete_small_folder():
    files = {path.name for path in CHECKPOINT.iterdir()}
    for name in ("config.json", "model.safetensors", "preprocessor_config.json", "README.md", "pipeline_epir.py",
                 "modeling_epir.py", "image_processing_epir.py"):
        assert name in files, name
    assert (CHECKPOINT / "model.safetensors").stat().st_size <= MAX_WEIGHTS_BYTES
    config = json.loads((CHECKPOINT / "config.json").read_text())
    assert config["id2label"] == {"0": "negative", "1": "positive", "2": "surprise"}
    processor = json.loads((CHECKPOINT / "preprocessor_config.json").read_text())
    assert processor["do_face_crop"] is True and "face crops" in processor["training_inputs"]


def test_the_release_checkpoint_carries_the_package_code():
    # Users who load the folder by remote code run these copies, not epir_hf: a fix made in the package (a face-crop
    # or a processor bug) reaches them only if the copies follow it.
    package = REPO_ROOT / "epir_hf"
    stale = [path.name for path in sorted(CHECKPOINT.glob("*.py"))
             if not (package / path.name).is_file() or path.read_bytes() != (package / path.name).read_bytes()]
    assert not stale, (f"{stale} in {CHECKPOINT.name} differ from epir_hf/ or are gone from it: copy them over (drop "
                       "the gone ones) when the saved weights stay valid, else re-train the checkpoint with the model "
                       "card's `--train_full` command")


def test_the_release_checkpoint_predicts_through_remote_code(tmp_path):
    expected = json.loads((INPUTS / "expected.json").read_text())
    result = run_release(tmp_path)
    assert result["logits"] == pytest.approx(expected["logits"], abs=TOLERANCE)
    assert [p["label"] for p in result["predictions"]] == [p["label"] for p in expected["predictions"]]
    assert [p["score"] for p in result["predictions"]] == pytest.approx(
        [p["score"] for p in expected["predictions"]], abs=TOLERANCE)
    # the drawn head leaves background around it, so the face is located in the frame, not taken whole
    assert (result["face_region"], result["reliable_motion"]) == (expected["face_region"], True) == ("detected", True)


def write_inputs_and_expected(scratch: Path) -> None:
    """Draw the input pair, then record what the checkpoint gives on it (run with epir_hf importable)."""
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
    result = run_release(scratch)
    expected = {key: result[key] for key in ("logits", "predictions", "face_region", "reliable_motion")}
    (INPUTS / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python tests/test_release_checkpoint.py --write")
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        write_inputs_and_expected(Path(scratch))
