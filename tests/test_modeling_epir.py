"""Tests of the EPIR model: shapes, each component switch, token bookkeeping, losses, save/load, validation."""

import math
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from epir_hf import EPIRConfig, EPIRForImageClassification, EPIRModel
from epir_hf.attention import SelfSuppressedAttention, attention_bias
from epir_hf.configuration_epir import TokenStep, token_schedule
from epir_hf.contrastive import supervised_contrastive_loss
from epir_hf.dnspt import DualNormShiftedPatchTokenizer, translate
from epir_hf.dtsm import select_tokens
from epir_hf.token_integration import integrate_tokens

ALL_OFF = dict(use_dnspt=False, use_self_token_suppression=False, use_token_integration=False, use_dtsm=False)


def make_model(seed: int = 0, **overrides) -> EPIRForImageClassification:
    torch.manual_seed(seed)
    return EPIRForImageClassification(EPIRConfig(**overrides)).eval()


def flow_batch(batch: int = 2, size: int = 28, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(seed))


def expected_token_counts(patches: int, schedule: list[int], dtsm_layer: int | None, ratio: float) -> list[int]:
    """Tokens entering each block, written out from the specification's rules (independent of the config code)."""
    counts = []
    for layer, merges in enumerate(schedule):
        counts.append(patches + 1)
        patches -= merges
        if layer == dtsm_layer:
            kept = max(1, math.ceil(patches * ratio))
            patches = kept + (kept < patches)
    return counts


@pytest.mark.parametrize("overrides", [
    {},
    ALL_OFF,
    dict(use_dnspt=False),
    dict(shift_directions=4),
    dict(use_self_token_suppression=False),
    dict(use_token_integration=False),
    dict(use_dtsm=False),
    dict(image_size=32, patch_size=4, token_merge_schedule=[16, 8, 8, 4, 0], num_labels=5),
    dict(num_hidden_layers=3, token_merge_schedule=[10, 6, 0], dtsm_layer=0, dtsm_keep_ratio=0.3,
         hidden_size=64, num_attention_heads=2, intermediate_size=128),
])
def test_output_shapes(overrides):
    model = make_model(**overrides)
    config = model.config
    pixel_values = flow_batch(3, config.image_size)
    out = model(pixel_values, output_hidden_states=True, output_attentions=True)
    assert out.logits.shape == (3, config.num_labels)
    assert len(out.hidden_states) == config.num_hidden_layers + 1
    assert len(out.attentions) == config.num_hidden_layers
    assert list(out.token_counts) == config.token_counts()
    for count, attention in zip(out.token_counts, out.attentions):
        assert attention.shape == (3, config.num_attention_heads, count, count)
    base = EPIRModel(config).eval()(pixel_values)
    assert base.pooler_output.shape == (3, config.hidden_size)
    assert base.last_hidden_state.shape[1] == out.hidden_states[-1].shape[1]


def test_default_model_size_and_labels():
    model = make_model()
    params = sum(p.numel() for p in model.parameters())
    assert 2.0e6 <= params <= 2.45e6, params
    assert model.config.id2label == {0: "negative", 1: "positive", 2: "surprise"}


def test_switches_select_components():
    on, off = make_model(), make_model(**ALL_OFF)
    assert isinstance(on.epir.embeddings.patch_embeddings, DualNormShiftedPatchTokenizer)
    assert isinstance(off.epir.embeddings.patch_embeddings, torch.nn.Conv2d)
    assert all(layer.attention.suppress_self for layer in on.epir.encoder.layer)
    assert not any(hasattr(layer.attention, "log_temperature") for layer in off.epir.encoder.layer)
    out_off = off(flow_batch())
    assert set(out_off.token_counts) == {50} and out_off.kept_patch_mask is None
    assert make_model(contrastive_weight=0.0).projection is None


def test_dnspt_concatenates_shifted_copies():
    images = torch.arange(16.0).view(1, 1, 4, 4)
    assert torch.equal(translate(images, 1, 0)[0, 0, 1:], images[0, 0, :3])
    assert torch.equal(translate(images, 0, -1)[0, 0, :, :3], images[0, 0, :, 1:])
    assert translate(images, 1, 1)[0, 0, 0].abs().sum() == 0
    tokenizer = DualNormShiftedPatchTokenizer(3, 4, 32, directions=8, shift=2)
    assert tokenizer.input_norm.normalized_shape == (3 * 9 * 16,)
    assert DualNormShiftedPatchTokenizer(3, 4, 32, directions=4, shift=2).input_norm.normalized_shape == (3 * 5 * 16,)
    assert tokenizer(flow_batch()).shape == (2, 49, 32)


def test_token_counts_follow_schedule():
    schedule = [8, 8, 6, 4, 0]
    out = make_model(token_merge_schedule=schedule)(flow_batch())
    assert list(out.token_counts) == expected_token_counts(49, schedule, dtsm_layer=1, ratio=0.5)
    first, last = out.token_counts[0], out.token_counts[-1]
    assert last <= 0.6 * first
    no_dtsm = make_model(use_dtsm=False)(flow_batch())
    assert list(no_dtsm.token_counts) == [50, 42, 34, 28, 24]


def test_token_schedule_spells_out_each_block():
    assert EPIRConfig().token_schedule() == [
        TokenStep(tokens=50, merges=8, keep=None), TokenStep(tokens=42, merges=8, keep=17),
        TokenStep(tokens=19, merges=6, keep=None), TokenStep(tokens=13, merges=4, keep=None),
        TokenStep(tokens=9, merges=0, keep=None)]
    assert [step.keep for step in EPIRConfig(use_dtsm=False).token_schedule()] == [None] * 5
    assert [step.merges for step in EPIRConfig(use_token_integration=False).token_schedule()] == [0] * 5


def test_encoder_follows_the_config_token_schedule(monkeypatch):
    """The encoder takes its merges and DTSM size from `config.token_schedule()` instead of deriving its own."""
    model = make_model()
    other = token_schedule(49, [2, 2, 2, 2, 0], dtsm_layer=2, keep_ratio=0.25)
    monkeypatch.setattr(EPIRConfig, "token_schedule", lambda self: other)
    out = model(flow_batch())
    assert list(out.token_counts) == [step.tokens for step in other] == [50, 48, 46, 13, 11]
    assert (out.kept_patch_mask.sum(dim=1) >= other[2].keep).all()


@pytest.mark.parametrize("ratio,layer", [(0.25, 0), (0.5, 2), (1.0, 1)])
def test_dtsm_keeps_configured_count(ratio, layer):
    model = make_model(use_token_integration=False, dtsm_layer=layer, dtsm_keep_ratio=ratio)
    out = model(flow_batch(4))
    kept = math.ceil(49 * ratio)
    assert out.kept_patch_mask.shape == (4, 49)
    assert (out.kept_patch_mask.sum(dim=1) == kept).all()
    assert out.token_counts[layer + 1] == 1 + kept + (kept < 49)


def test_select_tokens_fuses_the_rest_by_attention():
    hidden = torch.tensor([[[9.0], [1.0], [2.0], [3.0], [4.0]]])
    sizes = torch.tensor([[1.0, 1.0, 2.0, 1.0, 1.0]])
    sources = torch.eye(4).unsqueeze(0)
    cls_attention = torch.tensor([[0.0, 0.1, 0.5, 0.3, 0.1]])
    states, new_sizes, new_sources, kept_mask = select_tokens(hidden, sizes, sources, cls_attention, keep=2)
    assert states[0, :3, 0].tolist() == [9.0, 2.0, 3.0]
    assert states[0, 3, 0].item() == pytest.approx((1.0 * 0.1 + 4.0 * 0.1) / 0.2)
    assert new_sizes.tolist() == [[1.0, 2.0, 1.0, 2.0]]
    assert kept_mask.tolist() == [[False, True, True, False]]
    assert new_sources.sum(dim=1).tolist() == [[1.0] * 4]


def test_token_integration_merges_most_similar_pairs_by_size():
    # Non-CLS tokens alternate into A = {0, 2, 4} and B = {1, 3, 5}. Keys make A0 ≈ B1 and A4 ≈ B5 identical pairs.
    keys = torch.tensor([[[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.2], [0.3, 1.0, 0.0],
                          [0.0, 0.0, 1.0], [0.0, 0.0, 1.0]]])
    hidden = torch.arange(7.0).view(1, 7, 1)
    sizes = torch.tensor([[1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 3.0]])
    sources = torch.eye(6).unsqueeze(0)
    states, new_sizes, new_sources, _ = integrate_tokens(hidden, sizes, sources, keys, merges=2)
    assert states.shape == (1, 5, 1) and states[0, 0, 0] == 0.0
    assert new_sizes.sum() == sizes.sum()
    assert torch.equal(new_sources.sum(dim=1), torch.ones(1, 6))
    merged = {tuple(torch.nonzero(row).flatten().tolist()): value
              for row, value in zip(new_sources[0], states[0, 1:, 0])}
    assert merged[(0, 1)].item() == pytest.approx((1.0 + 2.0) / 2)
    assert merged[(4, 5)].item() == pytest.approx((5.0 * 1 + 6.0 * 3) / 4)


def test_kept_patch_mask_covers_at_least_one_patch_per_kept_token():
    out = make_model()(flow_batch(3))
    kept_tokens = math.ceil((49 - 8 - 8) * 0.5)
    covered = out.kept_patch_mask.sum(dim=1)
    # Each kept token covers >= 1 patch and at most 1 + merges-so-far patches (two merges of 8 happened before).
    assert ((covered >= kept_tokens) & (covered <= kept_tokens + 16)).all(), covered


def test_self_token_suppression_and_temperature():
    attention = SelfSuppressedAttention(32, 4, 0.0, suppress_self=True)
    assert attention.temperature().item() == pytest.approx(math.sqrt(8))
    hidden, sizes = torch.randn(2, 6, 32), torch.ones(2, 6)
    probs = attention(hidden, sizes, output_attentions=True).probs
    assert torch.allclose(probs.diagonal(dim1=-2, dim2=-1), torch.zeros(2, 4, 6))
    plain = SelfSuppressedAttention(32, 4, 0.0, suppress_self=False)
    assert (plain(hidden, sizes, output_attentions=True).probs.diagonal(dim1=-2, dim2=-1) > 0).all()
    assert attention_bias(torch.ones(1, 3), suppress_self=False) is None


def test_proportional_attention_bias_is_log_size():
    sizes = torch.tensor([[1.0, 2.0, 4.0]])
    bias = attention_bias(sizes, suppress_self=False)
    assert torch.allclose(bias[0, 0, 1], sizes.log()[0])
    both = attention_bias(sizes, suppress_self=True)
    assert torch.isinf(both[0, 0].diagonal()).all() and both[0, 0, 0, 2] == pytest.approx(math.log(4))


@pytest.mark.parametrize("overrides", [{}, ALL_OFF])
def test_sdpa_path_equals_explicit_attention(overrides):
    model = make_model(**overrides)
    pixel_values = flow_batch(4)
    with torch.no_grad():
        fast = model(pixel_values)
        explicit = model(pixel_values, output_attentions=True)
    assert torch.allclose(fast.logits, explicit.logits, atol=1e-5)
    assert torch.equal(fast.kept_patch_mask, explicit.kept_patch_mask) if fast.kept_patch_mask is not None else True


def test_checkpoint_keys_name_every_submodule():
    """Checkpoint keys are part of the release format: every module is named, no positional `nn.Sequential` ids."""
    keys = make_model().state_dict().keys()
    assert {"epir.encoder.layer.0.mlp.fc1.weight", "epir.encoder.layer.0.mlp.fc2.bias",
            "projection.dense.weight", "classifier.weight"} <= set(keys)
    # The block index of the encoder's ModuleList is the only number a key may hold.
    positional = [key for key in keys
                  if any(part.isdigit() for part in key.removeprefix("epir.encoder.layer.").split(".")[1:])]
    assert not positional, positional


def test_return_dict_false_gives_tuples_without_nones():
    model = make_model()
    pixel_values, labels = flow_batch(), torch.tensor([0, 2])
    with torch.no_grad():
        out = model(pixel_values, labels=labels)
        as_tuple = model(pixel_values, labels=labels, return_dict=False)
        base = model.epir(pixel_values, return_dict=False)
    assert len(as_tuple) == 4 and torch.equal(as_tuple[1], out.logits) and as_tuple[2] == out.token_counts
    assert len(base) == 4 and torch.equal(base[1], model.epir(pixel_values).pooler_output)
    model.config.return_dict = False
    assert isinstance(model(pixel_values), tuple)


def test_save_load_gives_identical_logits(tmp_path):
    model = make_model()
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists()
    reloaded = EPIRForImageClassification.from_pretrained(tmp_path).eval()
    pixel_values = flow_batch(3)
    with torch.no_grad():
        assert torch.equal(model(pixel_values).logits, reloaded(pixel_values).logits)
    assert reloaded.config.token_merge_schedule == model.config.token_merge_schedule


def test_auto_classes_resolve_epir(tmp_path):
    from transformers import AutoConfig, AutoModel, AutoModelForImageClassification

    make_model().save_pretrained(tmp_path)
    assert isinstance(AutoConfig.from_pretrained(tmp_path), EPIRConfig)
    assert isinstance(AutoModel.from_pretrained(tmp_path), EPIRModel)
    assert isinstance(AutoModelForImageClassification.from_pretrained(tmp_path), EPIRForImageClassification)


BLOCK_EPIR = textwrap.dedent("""
    import sys
    class _BlockProjectPackages:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("epir_hf", "dataset_scripts"):
                raise ModuleNotFoundError(f"{name} is blocked in this remote-code test")
    sys.meta_path.insert(0, _BlockProjectPackages())
    try:
        import epir_hf
        raise SystemExit("epir_hf is still importable")
    except ModuleNotFoundError:
        pass
""")


def run_without_epir_hf(code: str, cwd) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter in which epir_hf cannot be imported (as for a Hub user without it)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error"}
    return subprocess.run([sys.executable, "-c", BLOCK_EPIR + textwrap.dedent(code)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def assert_remote_code_predicts_like(model, folder, pixel_values: torch.Tensor, extra: str = "") -> None:
    """`model` saved in `folder` loads by remote code where epir_hf cannot be imported, and predicts `pixel_values`
    with the same logits; `extra` runs after the check (with `folder` and `model` defined)."""
    model.save_pretrained(folder)
    torch.save(pixel_values, folder / "x.pt")
    with torch.no_grad():
        torch.save(model(pixel_values).logits, folder / "expected.pt")
    result = run_without_epir_hf(f"""
        import torch
        from transformers import AutoModel, AutoModelForImageClassification
        folder = {str(folder)!r}
        model = AutoModelForImageClassification.from_pretrained(folder, trust_remote_code=True)
        assert "transformers_modules" in type(model).__module__, type(model).__module__
        with torch.no_grad():
            logits = model.eval()(torch.load(folder + "/x.pt")).logits
        assert torch.equal(logits, torch.load(folder + "/expected.pt"))
        {extra}
        print("REMOTE_OK", type(model).__name__)
    """, cwd=folder.parent)
    assert f"REMOTE_OK {type(model).__name__}" in result.stdout, result.stderr[-3000:]


def test_remote_code_load_without_epir_hf(tmp_path):
    assert_remote_code_predicts_like(make_model(), tmp_path / "ckpt", flow_batch(2), extra=(
        'assert type(AutoModel.from_pretrained(folder, trust_remote_code=True)).__name__ == "EPIRModel"'))


def test_push_to_hub_uploads_what_save_pretrained_writes(tmp_path, mocked_hub):
    """push_to_hub saves with save_pretrained into a temporary folder and commits it; only the card differs: the
    pushed one names the repository in its usage example."""
    model = make_model()
    model.push_to_hub("me/epir")
    model.save_pretrained(tmp_path)
    uploaded = {path.name: path.read_bytes() for path in mocked_hub.snapshot("me/epir").iterdir()}
    saved = {path.name: path.read_bytes() for path in tmp_path.iterdir()}
    pushed_card, saved_card = uploaded.pop("README.md").decode(), saved.pop("README.md").decode()
    assert pushed_card == saved_card.replace('"path/to/this/folder"', '"me/epir"')
    assert uploaded == saved


def test_loss_is_finite_and_contrastive_weight_zero_is_plain_cross_entropy():
    pixel_values, labels = flow_batch(6), torch.tensor([0, 1, 2, 0, 1, 2])
    model = make_model(contrastive_weight=0.0, label_smoothing=0.1).train()
    out = model(pixel_values, labels=labels)
    expected = torch.nn.functional.cross_entropy(out.logits, labels, label_smoothing=0.1)
    assert torch.isfinite(out.loss) and torch.allclose(out.loss, expected)
    with_contrastive = make_model(contrastive_weight=0.5).train()
    out = with_contrastive(pixel_values, labels=labels)
    assert torch.isfinite(out.loss)
    ce = torch.nn.functional.cross_entropy(out.logits, labels)
    assert out.loss > ce


def test_contrastive_loss_edge_batches():
    embeddings = torch.nn.functional.normalize(torch.randn(4, 8), dim=-1).requires_grad_()
    no_positive = supervised_contrastive_loss(embeddings, torch.tensor([0, 1, 2, 3]), 0.1)
    assert no_positive.item() == 0.0
    no_positive.backward()
    assert embeddings.grad is not None and torch.equal(embeddings.grad, torch.zeros_like(embeddings))
    single = supervised_contrastive_loss(embeddings[:1], torch.tensor([2]), 0.1)
    assert single.item() == 0.0
    partial = supervised_contrastive_loss(embeddings, torch.tensor([0, 0, 1, 2]), 0.1)
    logits = embeddings @ embeddings.T / 0.1
    denominators = [torch.logsumexp(torch.cat([logits[i, :i], logits[i, i + 1:]]), 0) for i in range(2)]
    manual = -((logits[0, 1] - denominators[0]) + (logits[1, 0] - denominators[1])) / 2
    assert torch.allclose(partial, manual, atol=1e-5)


def test_class_weights_enter_cross_entropy():
    pixel_values, labels = flow_batch(4), torch.tensor([0, 0, 1, 2])
    model = make_model(contrastive_weight=0.0, class_weights=[1.0, 3.0, 0.5])
    out = model(pixel_values, labels=labels)
    weight = torch.tensor([1.0, 3.0, 0.5])
    assert torch.allclose(out.loss, torch.nn.functional.cross_entropy(out.logits, labels, weight=weight))


def separable_toy_batch() -> tuple[torch.Tensor, torch.Tensor]:
    """16 flows whose class is the facial region that moves (upper, lower, left band), plus noise."""
    generator = torch.Generator().manual_seed(3)
    pixel_values = 0.3 * torch.randn(16, 3, 28, 28, generator=generator)
    labels = torch.arange(16) % 3
    regions = [(slice(0, 9), slice(None)), (slice(19, 28), slice(None)), (slice(None), slice(0, 9))]
    for index, label in enumerate(labels.tolist()):
        rows, cols = regions[label]
        pixel_values[index, :, rows, cols] += 1.0
    return pixel_values, labels


def train_steps(seed: int, steps: int) -> tuple[EPIRForImageClassification, list[float]]:
    torch.manual_seed(seed)
    model = EPIRForImageClassification(EPIRConfig(hidden_size=64, num_attention_heads=2, intermediate_size=128))
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3)
    pixel_values, labels = separable_toy_batch()
    model.train()
    losses = []
    for _ in range(steps):
        loss = model(pixel_values, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return model.eval(), losses


def test_fits_separable_toy_batch():
    model, losses = train_steps(seed=0, steps=60)
    pixel_values, labels = separable_toy_batch()
    with torch.no_grad():
        accuracy = (model(pixel_values).logits.argmax(-1) == labels).float().mean().item()
    assert accuracy == 1.0, (accuracy, losses[-5:])
    assert losses[-1] < losses[0]


def test_seeded_training_is_bit_identical():
    first, first_losses = train_steps(seed=7, steps=3)
    second, second_losses = train_steps(seed=7, steps=3)
    assert first_losses == second_losses
    for (name, a), (_, b) in zip(first.state_dict().items(), second.state_dict().items()):
        assert torch.equal(a, b), name


@pytest.mark.parametrize("overrides,field", [
    (dict(image_size=30), "image_size"),
    (dict(patch_size=0), "patch_size"),
    (dict(hidden_size=100, num_attention_heads=3), "hidden_size"),
    (dict(num_attention_heads=0), "num_attention_heads"),
    (dict(num_hidden_layers=0, token_merge_schedule=[]), "num_hidden_layers"),
    (dict(shift_directions=6), "shift_directions"),
    (dict(shift_amount=28), "shift_amount"),
    (dict(dtsm_keep_ratio=0.0), "dtsm_keep_ratio"),
    (dict(dtsm_keep_ratio=1.5), "dtsm_keep_ratio"),
    (dict(dtsm_layer=4), "dtsm_layer"),
    (dict(token_merge_schedule=[8, 8, 6, 4]), "token_merge_schedule"),
    (dict(token_merge_schedule=[8, -1, 6, 4, 0]), "token_merge_schedule"),
    (dict(token_merge_schedule=[26, 0, 0, 0, 0]), "token_merge_schedule"),
    (dict(token_merge_schedule=[20, 20, 0, 0, 0], use_dtsm=False), "token_merge_schedule"),
    (dict(hidden_dropout_prob=1.0), "hidden_dropout_prob"),
    (dict(label_smoothing=-0.1), "label_smoothing"),
    (dict(contrastive_weight=-1.0), "contrastive_weight"),
    (dict(contrastive_temperature=0.0), "contrastive_temperature"),
    (dict(class_weights=[1.0, 2.0]), "class_weights"),
    (dict(num_labels=1), "num_labels"),
])
def test_config_validation_names_the_field(overrides, field):
    with pytest.raises(ValueError, match=rf"EPIRConfig\.{field} must be"):
        EPIRConfig(**overrides)


def test_schedule_validation_is_skipped_when_integration_is_off():
    config = EPIRConfig(use_token_integration=False, token_merge_schedule=[40, 40, 40, 40, 40])
    assert config.token_counts() == expected_token_counts(49, [0] * 5, dtsm_layer=1, ratio=0.5)


@pytest.mark.parametrize("pixel_values,message", [
    (torch.randn(3, 28, 28), r"shape \(batch_size, 3, 28, 28\)"),
    (torch.randn(2, 1, 28, 28), r"got \(2, 1, 28, 28\)"),
    (torch.randn(2, 3, 32, 32), r"got \(2, 3, 32, 32\)"),
    (torch.zeros(2, 3, 28, 28, dtype=torch.uint8), "floating-point"),
    (torch.randn(0, 3, 28, 28), r"got \(0, 3, 28, 28\)"),
    ([[0.0]], "torch.Tensor"),
])
def test_forward_rejects_bad_pixel_values(pixel_values, message):
    with pytest.raises(ValueError, match=message):
        make_model()(pixel_values)


def test_forward_rejects_bad_labels():
    with pytest.raises(ValueError, match=r"class ids in \[0, 2\]"):
        make_model()(flow_batch(2), labels=torch.tensor([0, 3]))
    with pytest.raises(ValueError, match="labels must be a \\(2,\\) tensor"):
        make_model()(flow_batch(2), labels=torch.tensor([0, 1, 2]))
