"""EPIR model configuration."""

import math
import os
from dataclasses import dataclass
from pathlib import Path

from transformers import PreTrainedConfig
from transformers.utils import logging

logger = logging.get_logger(__name__)

EPIR_DEFAULT_LABELS = {0: "negative", 1: "positive", 2: "surprise"}

CLASS_WEIGHTS_HINT = (
    "class_weights gives one positive weight per label, in label order, or None to weigh the classes equally. To "
    "fine-tune a checkpoint to another label set, load it with from_pretrained(path, num_labels=N, "
    "ignore_mismatched_sizes=True) (and id2label=... to name the labels): the checkpoint's class_weights are then "
    "dropped; set class_weights for the new labels to weigh them.")


@dataclass(frozen=True)
class TokenStep:
    """One block of the token schedule.

    Attributes:
        tokens: tokens entering the block, CLS included.
        merges: patch-token pairs that token integration merges after the block (0: none).
        keep: patch tokens DTSM keeps after the block, once the merges are done; `None` where DTSM does not run.
    """

    tokens: int
    merges: int
    keep: int | None


class SavedPipelinesMixin:
    """Configs that declare `custom_pipelines` only in a folder that holds the pipeline code they name.

    A config loaded from a `save_for_hub` folder keeps that declaration in memory. Saved elsewhere by a plain
    `save_pretrained` (no pipeline code, no image processor), it would make `pipeline()` fail on the folder instead of
    loading the model as an image classifier. `save_for_hub` writes the pipeline code before the config, so its
    folders keep the declaration. EPIR and the CNN baselines share it, so their saved folders behave alike.
    """

    def save_pretrained(self, save_directory: str | os.PathLike, push_to_hub: bool = False, **kwargs) -> None:
        pipelines = getattr(self, "custom_pipelines", None)
        if not pipelines or _pipeline_code_in(save_directory, pipelines):
            return super().save_pretrained(save_directory, push_to_hub=push_to_hub, **kwargs)
        del self.custom_pipelines
        try:
            return super().save_pretrained(save_directory, push_to_hub=push_to_hub, **kwargs)
        finally:
            self.custom_pipelines = pipelines


class EPIRConfig(SavedPipelinesMixin, PreTrainedConfig):
    r"""
    Configuration of an EPIR model (efficient Transformer for micro-expression recognition, arXiv 2604.08106).

    The input is the onset→apex optical flow of a cropped face as 3 channels (u, v, optical strain). Every EPIR
    component has a switch so that it can be ablated back to its plain-ViT equivalent. The defaults are the published
    model (about 2.2M parameters); `num_labels` / `id2label` default to the three MEGC2019 classes
    (negative, positive, surprise).

    Args:
        image_size (`int`, *optional*, defaults to 28):
            Side of the square flow image.
        patch_size (`int`, *optional*, defaults to 4):
            Side of the non-overlapping square patches; `image_size` must be a multiple of it (49 patches at 28×28).
        num_channels (`int`, *optional*, defaults to 3):
            Flow channels (u, v, optical strain).
        hidden_size (`int`, *optional*, defaults to 192):
            Width of the tokens; a multiple of `num_attention_heads`.
        num_hidden_layers (`int`, *optional*, defaults to 5):
            Number of Transformer blocks.
        num_attention_heads (`int`, *optional*, defaults to 4):
            Attention heads of every block.
        intermediate_size (`int`, *optional*, defaults to 640):
            Hidden width of each block's MLP.
        hidden_act (`str`, *optional*, defaults to `"gelu"`):
            Activation of the MLP, a key of `transformers.activations.ACT2FN`.
        hidden_dropout_prob (`float`, *optional*, defaults to 0.0):
            Dropout on the embeddings, inside the MLP and on each residual branch.
        attention_probs_dropout_prob (`float`, *optional*, defaults to 0.0):
            Dropout on the attention probabilities.
        initializer_range (`float`, *optional*, defaults to 0.02):
            Standard deviation of the truncated-normal initialisation of linear weights, CLS token and positions.
        layer_norm_eps (`float`, *optional*, defaults to 1e-06):
            Epsilon of every LayerNorm.
        use_dnspt (`bool`, *optional*, defaults to `True`):
            Dual-norm shifted patch tokenization; `False` gives a plain Conv2d patch embedding.
        shift_directions (`int`, *optional*, defaults to 8):
            Shifted copies DNSPT concatenates: 4 = the diagonals (SPT), 8 = diagonals + axial shifts (refined).
        shift_amount (`int`, *optional*, defaults to `None`):
            Pixels of each DNSPT shift; `None` means `patch_size // 2`.
        use_self_token_suppression (`bool`, *optional*, defaults to `True`):
            Mask each token's attention to itself and learn the softmax temperature per block; `False` gives
            standard scaled dot-product attention.
        use_token_integration (`bool`, *optional*, defaults to `True`):
            Merge similar tokens between blocks by bipartite soft matching.
        token_merge_schedule (`list[int]`, *optional*, defaults to `None`):
            Token pairs merged after each block, one entry per block. `None` means the published `[8, 8, 6, 4, 0]`
            for 5 blocks and no merging for other depths. Ignored when `use_token_integration=False`.
        use_dtsm (`bool`, *optional*, defaults to `True`):
            Dynamic token selection: after block `dtsm_layer`, keep the patch tokens the CLS token attends to most
            and fuse the others into one token.
        dtsm_layer (`int`, *optional*, defaults to 1):
            Index of the block after which DTSM runs; a later block must exist to use its output.
        dtsm_keep_ratio (`float`, *optional*, defaults to 0.5):
            Share, in (0, 1], of the remaining patch tokens DTSM keeps (rounded up, at least one).
        label_smoothing (`float`, *optional*, defaults to 0.0):
            Label smoothing, in [0, 1), of the cross-entropy term.
        class_weights (`list[float]`, *optional*, defaults to `None`):
            Positive per-class weights of the cross-entropy term, one per label; `None` weighs classes equally.
        contrastive_weight (`float`, *optional*, defaults to 0.1):
            Weight of the supervised contrastive term in the loss; 0 removes the term and its projection head.
        contrastive_temperature (`float`, *optional*, defaults to 0.1):
            Temperature (> 0) of the supervised contrastive term.
        projection_dim (`int`, *optional*, defaults to 128):
            Output width of the contrastive projection MLP.

    Example:

    ```python
    >>> from epir_hf import EPIRConfig, EPIRForImageClassification

    >>> config = EPIRConfig()
    >>> config.token_counts()  # tokens (CLS included) entering each block
    [50, 42, 19, 13, 9]
    >>> model = EPIRForImageClassification(config)
    ```"""

    model_type = "epir"

    image_size: int = 28
    patch_size: int = 4
    num_channels: int = 3
    hidden_size: int = 192
    num_hidden_layers: int = 5
    num_attention_heads: int = 4
    intermediate_size: int = 640
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.0
    attention_probs_dropout_prob: float = 0.0
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-6
    use_dnspt: bool = True
    shift_directions: int = 8
    shift_amount: int | None = None
    use_self_token_suppression: bool = True
    use_token_integration: bool = True
    token_merge_schedule: list[int] | None = None
    use_dtsm: bool = True
    dtsm_layer: int = 1
    dtsm_keep_ratio: float = 0.5
    label_smoothing: float = 0.0
    class_weights: list[float] | None = None
    contrastive_weight: float = 0.1
    contrastive_temperature: float = 0.1
    projection_dim: int = 128

    def __post_init__(self, **kwargs):
        if self.id2label is None and kwargs.get("num_labels") is None:
            self.id2label = dict(EPIR_DEFAULT_LABELS)
        if self.id2label is not None and self.label2id is None:
            self.label2id = {label: int(index) for index, label in self.id2label.items()}
        if self.token_merge_schedule is None:
            self.token_merge_schedule = _default_merge_schedule(self.num_hidden_layers)
        if self.shift_amount is None:
            self.shift_amount = self.patch_size // 2
        drop_class_weights_of_replaced_labels(self, kwargs.get("num_labels"))
        super().__post_init__(**kwargs)
        self._check_fields()

    def _check_fields(self) -> None:
        """Raise a `ValueError` naming the first field whose value cannot build a model."""
        _require(self.patch_size > 0, "patch_size", "a positive integer", self.patch_size)
        _require(self.image_size > 0 and self.image_size % self.patch_size == 0, "image_size",
                 f"a positive multiple of patch_size={self.patch_size}", self.image_size)
        _require(self.num_attention_heads > 0, "num_attention_heads", "a positive integer", self.num_attention_heads)
        _require(self.num_channels > 0, "num_channels", "a positive integer", self.num_channels)
        _require(self.hidden_size > 0 and self.hidden_size % self.num_attention_heads == 0, "hidden_size",
                 f"a positive multiple of num_attention_heads={self.num_attention_heads}", self.hidden_size)
        _require(self.num_hidden_layers > 0, "num_hidden_layers", "a positive integer", self.num_hidden_layers)
        _require(self.shift_directions in (4, 8), "shift_directions", "4 (diagonals) or 8 (diagonals + axial)",
                 self.shift_directions)
        _require(0 < self.shift_amount < self.image_size, "shift_amount", f"in [1, {self.image_size - 1}]",
                 self.shift_amount)
        _require(0.0 <= self.hidden_dropout_prob < 1.0, "hidden_dropout_prob", "in [0, 1)", self.hidden_dropout_prob)
        _require(0.0 <= self.attention_probs_dropout_prob < 1.0, "attention_probs_dropout_prob", "in [0, 1)",
                 self.attention_probs_dropout_prob)
        _require(0.0 < self.dtsm_keep_ratio <= 1.0, "dtsm_keep_ratio", "in (0, 1]", self.dtsm_keep_ratio)
        _require(0 <= self.dtsm_layer < self.num_hidden_layers - 1, "dtsm_layer",
                 f"a block index in [0, {self.num_hidden_layers - 2}] (DTSM must feed a later block)", self.dtsm_layer)
        _require(0.0 <= self.label_smoothing < 1.0, "label_smoothing", "in [0, 1)", self.label_smoothing)
        _require(self.contrastive_weight >= 0.0, "contrastive_weight", ">= 0", self.contrastive_weight)
        _require(self.contrastive_temperature > 0.0, "contrastive_temperature", "> 0", self.contrastive_temperature)
        _require(self.projection_dim > 0, "projection_dim", "a positive integer", self.projection_dim)
        _require(self.num_labels >= 2, "num_labels", ">= 2 classes", self.num_labels)
        check_class_weights(self)
        schedule = self.token_merge_schedule
        _require(len(schedule) == self.num_hidden_layers and all(isinstance(r, int) and r >= 0 for r in schedule),
                 "token_merge_schedule", f"{self.num_hidden_layers} non-negative integers (one per layer)", schedule)
        self.token_counts()

    @property
    def num_patches(self) -> int:
        return (self.image_size // self.patch_size) ** 2

    def token_schedule(self) -> list[TokenStep]:
        """What happens to the tokens at each block. The encoder follows this schedule, so the counts validated
        here are the ones a forward pass produces.

        Raises a `ValueError` when the merge schedule asks for more merges than bipartite matching can make.
        """
        merges = self.token_merge_schedule if self.use_token_integration else [0] * self.num_hidden_layers
        return token_schedule(self.num_patches, merges, self.dtsm_layer if self.use_dtsm else None,
                              self.dtsm_keep_ratio)

    def token_counts(self) -> list[int]:
        """Tokens (CLS included) entering each block."""
        return [step.tokens for step in self.token_schedule()]


def token_schedule(num_patches: int, merges: list[int], dtsm_layer: int | None,
                   keep_ratio: float) -> list[TokenStep]:
    """The schedule of `len(merges)` blocks: `merges[i]` token pairs merge after block i, then DTSM runs after block
    `dtsm_layer` (`None`: never).

    Bipartite matching pairs even-position patch tokens with odd-position ones, so at most ceil(n / 2) of n patch
    tokens can merge, and one must remain. DTSM keeps `keep` patch tokens plus one token that fuses the rest, when
    any is left.
    """
    patches, steps = num_patches, []
    for layer, merge in enumerate(merges):
        tokens = patches + 1
        if merge:
            mergeable = math.ceil(patches / 2) if patches > 1 else 0
            _require(merge <= mergeable and merge < patches, "token_merge_schedule",
                     f"at most {min(mergeable, patches - 1)} merges after block {layer} "
                     f"({patches} patch tokens remain there)", list(merges))
            patches -= merge
        keep = None
        if layer == dtsm_layer:
            keep = dtsm_kept_count(patches, keep_ratio)
            patches = keep + (1 if keep < patches else 0)
        steps.append(TokenStep(tokens=tokens, merges=merge, keep=keep))
    return steps


def dtsm_kept_count(num_tokens: int, keep_ratio: float) -> int:
    """Number of patch tokens DTSM keeps: the ratio rounded up, so at least one token always survives."""
    return max(1, math.ceil(num_tokens * keep_ratio - 1e-9))


def _pipeline_code_in(save_directory: str | os.PathLike, pipelines: dict) -> bool:
    """Whether `save_directory` holds the module of every pipeline class `pipelines` names ("module.Class")."""
    modules = {str(info.get("impl", "")).rpartition(".")[0] for info in pipelines.values()}
    return all(module and (Path(save_directory) / f"{module}.py").is_file() for module in modules)


def _default_merge_schedule(num_layers: int) -> list[int]:
    """The published schedule [8, 8, 6, 4, 0] for 5 blocks; no merging for other depths unless configured."""
    return [8, 8, 6, 4, 0] if num_layers == 5 else [0] * num_layers


def drop_class_weights_of_replaced_labels(config: PreTrainedConfig, num_labels: int | None) -> None:
    """Before `num_labels` replaces a label map of another size (`from_pretrained(path, num_labels=N)` on a checkpoint
    of other classes), drop the class weights of the labels it replaces: they weigh classes that are gone."""
    if num_labels is None or config.id2label is None or len(config.id2label) == num_labels:
        return
    if config.class_weights is not None:
        logger.warning(f"num_labels={num_labels} replaces the {len(config.id2label)} labels of this config, so their "
                       "class_weights are dropped (the new classes are weighed equally); set class_weights for the "
                       "new labels to weigh them.")
        config.class_weights = None


def check_class_weights(config: PreTrainedConfig) -> None:
    """A `ValueError` unless `config.class_weights` is None or one finite positive weight per label, saying how to
    fine-tune to another label set (the usual way to end up with weights of other labels)."""
    weights = config.class_weights
    if weights is None:
        return
    numbers = isinstance(weights, (list, tuple)) and all(
        isinstance(weight, (int, float)) and not isinstance(weight, bool) and math.isfinite(weight) and weight > 0
        for weight in weights)
    if not numbers or len(weights) != config.num_labels:
        raise ValueError(f"{type(config).__name__}.class_weights must be None or {config.num_labels} positive "
                         f"numbers, one per label of id2label; got {weights!r}. {CLASS_WEIGHTS_HINT}")


def _require(condition: bool, field: str, expected: str, value) -> None:
    if not condition:
        raise ValueError(f"EPIRConfig.{field} must be {expected}; got {value!r}.")


__all__ = ["EPIRConfig", "SavedPipelinesMixin", "TokenStep", "token_schedule"]
