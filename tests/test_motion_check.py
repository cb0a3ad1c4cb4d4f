"""The motion check's facial regions."""

import numpy as np
import pytest

from epir_hf.facial_regions import REGION_NAMES, FaceLayout, RegionalMotion


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
