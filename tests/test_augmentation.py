"""Flow-aware augmentation: a mirrored face must show mirrored motion, and nothing may invent flow values."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from epir_hf.flow_mirror import FlowMirror
from epir_hf.training.augmentation import FlowAugmentation


def _minmax_uint8(channel: np.ndarray) -> np.ndarray:
    """The composite-release encoding of one flow channel: min-max normalised to 0..255."""
    return (channel - channel.min()) / (channel.max() - channel.min()) * 255.0


def _to_pixel_values(flow: np.ndarray, mean: float = 0.5, std: float = 0.5) -> torch.Tensor:
    """(u, v, strain) float fields [3, H, W] -> processor pixel_values: (f / 255 - mean) / std."""
    encoded = np.stack([_minmax_uint8(channel) for channel in flow])
    return torch.from_numpy(((encoded / 255.0 - mean) / std).astype(np.float32))


def _asymmetric_flow(rng: np.random.Generator, size: int = 16) -> np.ndarray:
    """A flow field whose left and right halves move differently, so a wrong flip cannot pass unnoticed."""
    u = rng.normal(size=(size, size))
    u[:, size // 2:] += 3.0  # the right half of the face moves to the right
    v = rng.normal(size=(size, size))
    strain = np.abs(rng.normal(size=(size, size)))
    return np.stack([u, v, strain])


def _mirror_physically(flow: np.ndarray) -> np.ndarray:
    """The flow of the mirrored video: mirror every field left-right and reverse horizontal motion."""
    mirrored = flow[:, :, ::-1].copy()
    mirrored[0] = -mirrored[0]
    return mirrored


@pytest.mark.parametrize("mean,std", [(0.5, 0.5), (0.485, 0.229)])
def test_flip_equals_encoding_of_the_mirrored_flow(mean, std):
    rng = np.random.default_rng(0)
    flows = [_asymmetric_flow(rng) for _ in range(4)]
    pixel_values = torch.stack([_to_pixel_values(flow, mean, std) for flow in flows])
    expected = torch.stack([_to_pixel_values(_mirror_physically(flow), mean, std) for flow in flows])

    processor = SimpleNamespace(do_rescale=True, rescale_factor=1 / 255, do_normalize=True,
                                image_mean=[mean] * 3, image_std=[std] * 3)
    augmentation = FlowAugmentation(flip_prob=1.0, max_translate=0.0, max_scale=0.0,
                                    mirror=FlowMirror.from_image_processor(processor))
    flipped = augmentation(pixel_values, torch.Generator().manual_seed(0))
    torch.testing.assert_close(flipped, expected, atol=1e-5, rtol=0)
    # Without the u negation the mirrored image is wrong: guards against a plain image flip.
    assert not torch.allclose(pixel_values.flip(-1), expected, atol=1e-3)


def test_default_processor_flip_center_is_zero():
    processor = SimpleNamespace(do_rescale=True, rescale_factor=1 / 255, do_normalize=True,
                                image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5])
    assert FlowMirror.from_image_processor(processor).u_flip_center == pytest.approx(0.0)


def test_no_op_settings_return_the_input():
    pixel_values = torch.randn(5, 3, 8, 8)
    augmentation = FlowAugmentation(flip_prob=0.0, max_translate=0.0, max_scale=0.0)
    torch.testing.assert_close(augmentation(pixel_values, torch.Generator().manual_seed(0)), pixel_values)


def test_shift_and_zoom_never_invent_values():
    # Bilinear sampling with border padding stays inside each sample's channel range; zero padding would not.
    pixel_values = 0.2 + 0.7 * torch.rand(64, 3, 12, 12)
    augmentation = FlowAugmentation(flip_prob=0.0, max_translate=0.25, max_scale=0.3)
    augmented = augmentation(pixel_values, torch.Generator().manual_seed(1))
    assert not torch.allclose(augmented, pixel_values)
    low = pixel_values.amin(dim=(2, 3), keepdim=True)
    high = pixel_values.amax(dim=(2, 3), keepdim=True)
    assert bool(((augmented >= low - 1e-6) & (augmented <= high + 1e-6)).all())


def test_seeded_generator_is_deterministic():
    pixel_values = torch.randn(8, 3, 10, 10)
    augmentation = FlowAugmentation()
    first = augmentation(pixel_values, torch.Generator().manual_seed(3))
    again = augmentation(pixel_values, torch.Generator().manual_seed(3))
    other = augmentation(pixel_values, torch.Generator().manual_seed(4))
    torch.testing.assert_close(first, again)
    assert not torch.allclose(first, other)


@pytest.mark.parametrize("kwargs,name", [({"flip_prob": 1.5}, "flip_prob"), ({"max_translate": 0.6}, "max_translate"),
                                         ({"max_scale": -0.1}, "max_scale")])
def test_bad_settings_are_clear_errors(kwargs, name):
    with pytest.raises(ValueError, match=name):
        FlowAugmentation(**kwargs)


def test_bad_shape_is_a_clear_error():
    with pytest.raises(ValueError, match=r"\[B, 3, H, W\]"):
        FlowAugmentation()(torch.zeros(3, 8, 8), torch.Generator())
