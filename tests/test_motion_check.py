"""The motion check (`min_motion`, experiment E32): a face that does not move is flagged whatever sensor noise, a
grey-level step, a flicker, an exposure step or a drifting lighting gradient do to its frames; an action unit of a
real size (a 1.2 px lip-corner pull on a 224 px face crop) should not be. The processor does not meet the second
requirement yet (E32): those tests are expected failures, which fail the suite once they pass. Drawn faces are
framed like the corpora's crops;
the `real_data` tests repeat the check on one real apex crop of each corpus of the MEGC2019 composite. Still faces are
changed at 128 px, the flow's working size, as in E32: there the noise is not averaged down by the processor's
resize."""

import csv

import cv2
import numpy as np
import pytest
from test_optical_flow import warp

from dataset_scripts.action_units import action_unit_motion, corpus_framed
from dataset_scripts.synthetic import FaceGeometry, displacement_field, render_face, sample_geometry
from epir_hf import EPIRImageProcessor
from epir_hf.facial_regions import REGION_NAMES, FaceLayout, RegionalMotion
from epir_hf.optical_flow import resize_to

NOISE = 1.5
"""Sensor noise (grey levels) on every frame: a camera never delivers two identical frames of a still face."""
CROP_SIDE = 224
AU12_PEAK = 1.2
"""The lip-corner pull's largest displacement, px of the 224 px crop: a real AU12's size."""
STILL_CHANGES = {
    # name: (onset, apex) of a face `f` that does not move; `x` runs from -1 at the left edge to 1 at the right
    "one grey level brighter": lambda f, x: (f, f + 1.0),
    "two grey levels brighter": lambda f, x: (f, f + 2.0),
    "flicker of two grey levels": lambda f, x: (f - 2.0, f + 2.0),
    "exposure step x1.1": lambda f, x: (f, 1.1 * f),
    "drifting lighting gradient": lambda f, x: ((1.0 - 0.05 * x) * f, (1.0 + 0.05 * x) * f + 2.0),
}
DRAWN_SEEDS = (0, 1, 2)
NOT_SEPARATED = pytest.mark.xfail(strict=True, reason=(
    "E32: the default min_motion (0.5 px, the 99th percentile of still real faces under a 10 % exposure step) is "
    "above what a 1.2 px AU12 on a 224 px crop measures (about 0.2 px); the regional motion does not yet separate a "
    "real action unit from a still face under noise and lighting changes"))


def camera(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """`image` as a camera delivers it: with sensor noise, rounded and clipped to 8 bits."""
    return np.clip(np.rint(image + rng.normal(0.0, NOISE, image.shape)), 0, 255).astype(np.uint8)


def still_pair(face: np.ndarray, change: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    x = np.linspace(-1.0, 1.0, face.shape[1], dtype=np.float32)[None, :]
    onset, apex = STILL_CHANGES[change](face.astype(np.float32), x)
    return camera(onset, rng), camera(apex, rng)


def au12_pair(face: np.ndarray, geometry: FaceGeometry, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """`face` (a crop framed like the corpora's, as `geometry` is) and the same face after an AU12 lip-corner pull of
    both corners peaking at `AU12_PEAK` px."""
    side = face.shape[0]
    field = displacement_field(action_unit_motion(geometry, {"AU12": 1.0}, side), side)
    field *= AU12_PEAK / float(np.hypot(field[..., 0], field[..., 1]).max())
    face = face.astype(np.float32)
    return camera(face, rng), camera(warp(face, field), rng)


def drawn_crop(seed: int, side: int) -> tuple[np.ndarray, FaceGeometry, np.random.Generator]:
    """A drawn face framed like the corpora's crops (eyebrows to chin) at `side` px, its geometry and the generator
    the rest of the test draws from."""
    rng = np.random.default_rng(seed)
    geometry = corpus_framed(sample_geometry(rng))
    return render_face(geometry, rng, side), geometry, rng


def motion(onset: np.ndarray, apex: np.ndarray) -> tuple[float, bool]:
    result = EPIRImageProcessor(do_face_crop=False).process_pair(onset, apex)
    return result.motion, result.reliable_motion


@pytest.mark.parametrize("change", STILL_CHANGES)
def test_a_still_drawn_face_is_flagged_under_noise_and_lighting_changes(change):
    for seed in DRAWN_SEEDS:
        face, _, rng = drawn_crop(seed, 128)
        moved, reliable = motion(*still_pair(face, change, rng))
        assert not reliable, f"face {seed}, {change}: a still face moved {moved:.3f} px"


@NOT_SEPARATED
def test_a_real_sized_lip_corner_pull_on_a_drawn_224_px_face_is_reliable_motion():
    for seed in DRAWN_SEEDS:
        face, geometry, rng = drawn_crop(seed, CROP_SIDE)
        moved, reliable = motion(*au12_pair(face, geometry, rng))
        assert reliable, f"face {seed}: a {AU12_PEAK} px AU12 at {CROP_SIDE} px measured {moved:.3f} px"


@pytest.fixture(scope="module")
def real_crops(composite_dir) -> dict[str, np.ndarray]:
    """The first 224 px apex crop of each corpus of the composite, grayscale."""
    with open(composite_dir / "labels.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    crops = {}
    for part in ("casme2", "samm", "smic"):
        name = next(row for row in rows if row["dataset"] == part)["imagename"]
        crops[name] = cv2.imread(str(composite_dir / "apex" / name), cv2.IMREAD_GRAYSCALE)
        assert crops[name] is not None and crops[name].shape == (CROP_SIDE, CROP_SIDE), name
    return crops


@pytest.mark.real_data
@pytest.mark.parametrize("change", STILL_CHANGES)
def test_a_still_real_face_is_flagged_under_noise_and_lighting_changes(real_crops, change):
    rng = np.random.default_rng(0)
    for name, crop in real_crops.items():
        moved, reliable = motion(*still_pair(resize_to(crop, 128, 128), change, rng))
        assert not reliable, f"{name}, {change}: a still face moved {moved:.3f} px"


@pytest.mark.real_data
@NOT_SEPARATED
def test_a_real_sized_lip_corner_pull_on_a_real_224_px_crop_is_reliable_motion(real_crops):
    rng = np.random.default_rng(0)
    for name, crop in real_crops.items():
        moved, reliable = motion(*au12_pair(crop, corpus_framed(sample_geometry(rng)), rng))
        assert reliable, f"{name}: a {AU12_PEAK} px AU12 at {CROP_SIDE} px measured {moved:.3f} px"


def test_every_facial_region_is_measured_when_the_eyes_lay_a_part_out_past_the_face():
    """Eyes found far apart (those of a real crop: 62 % of its width, where the template has 50 %) scale the layout
    up and lay the chin out below the face; the chin then keeps the face's last row instead of an empty region."""
    layout = FaceLayout(128, ((0.195, 0.273), (0.8125, 0.273)))
    rows, columns = layout.slices((0.35, 0.65, 0.85, 0.98))
    assert (rows.start, rows.stop) == (127, 128) and 0 <= columns.start < columns.stop <= 128
    flow = np.zeros((128, 128, 2), np.float32)
    flow[112:, :, 1] = 1.0  # the bottom of the face moves 1 px down
    regions = dict(zip(REGION_NAMES, RegionalMotion(layout)(flow)))
    assert regions["chin"] == pytest.approx(1.0, abs=0.01) and regions["left_brow"] == 0.0
