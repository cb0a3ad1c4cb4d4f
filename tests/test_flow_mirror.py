"""The flow mirror (flip + negated u) and the prediction that averages a sample with its mirror."""

from __future__ import annotations

import pytest
import torch

from epir_hf import EPIRConfig
from epir_hf.flow_mirror import FlowMirror, average_with_mirror
from epir_hf.training.trainer import build_model, predict_logits


@pytest.mark.parametrize("center", [0.0, 1.0, 255.0])
def test_mirroring_twice_is_the_identity_and_only_u_changes_sign(center):
    pixel_values = torch.rand(3, 3, 6, 6) * 2 - 1
    mirror = FlowMirror(u_flip_center=center)
    mirrored = mirror(pixel_values)
    torch.testing.assert_close(mirror(mirrored), pixel_values)
    torch.testing.assert_close(mirrored[:, 0], center - pixel_values[:, 0].flip(-1))
    torch.testing.assert_close(mirrored[:, 1:], pixel_values[:, 1:].flip(-1))
    assert not torch.equal(mirrored, pixel_values)


def test_mirror_of_a_bad_shape_is_a_clear_error():
    with pytest.raises(ValueError, match=r"\[B, 3, H, W\]; got \(3, 6, 6\)"):
        FlowMirror()(torch.zeros(3, 6, 6))


def test_average_with_mirror_averages_probabilities_not_logits():
    logits, mirrored = torch.tensor([[8.0, 0.0, 0.0]]), torch.tensor([[0.0, 1.0, 0.0]])
    averaged = average_with_mirror(logits, mirrored).softmax(-1)
    torch.testing.assert_close(averaged, (logits.softmax(-1) + mirrored.softmax(-1)) / 2)
    # A logit average would give class 0 about 0.96; the probability average (0.61) keeps the second view's say.
    assert averaged[0, 0] < 0.7


def test_predict_logits_with_mirror_is_the_mean_of_both_views():
    config = EPIRConfig(hidden_size=32, num_hidden_layers=3, num_attention_heads=2, intermediate_size=64,
                        projection_dim=16)
    model = build_model(config, seed=0)
    pixel_values = torch.rand(5, 3, 28, 28) * 2 - 1
    mirror = FlowMirror()
    with torch.no_grad():
        plain = model.eval()(pixel_values=pixel_values).logits
        reflected = model(pixel_values=mirror(pixel_values)).logits
    model.train()
    single = predict_logits(model, pixel_values, batch_size=2)
    averaged = predict_logits(model, pixel_values, batch_size=2, mirror=mirror)
    assert model.training  # the caller's mode is restored
    torch.testing.assert_close(torch.from_numpy(single), plain)
    torch.testing.assert_close(torch.from_numpy(averaged).softmax(-1), (plain.softmax(-1) + reflected.softmax(-1)) / 2)
