"""EPIR model configuration."""

import math

from transformers import PreTrainedConfig

EPIR_DEFAULT_LABELS = {0: "negative", 1: "positive", 2: "surprise"}


class EPIRConfig(PreTrainedConfig):
    r"""
    Configuration of an EPIR model (efficient Transformer for micro-expression recognition, arXiv 2604.08106).

    The input is the onset→apex optical flow of a cropped face as 3 channels (u, v, optical strain). Every EPIR
    component has a switch so that it can be ablated back to its plain-ViT equivalent.

    Args:
        image_size (`int`, defaults to 28): side of the square flow image.
        patch_size (`int`, defaults to 4): side of the non-overlapping patches (49 tokens at 28×28).
        num_channels (`int`, defaults to 3): flow channels (u, v, strain).
        hidden_size, num_hidden_layers, num_attention_heads, intermediate_size, hidden_act: Transformer size.
        hidden_dropout_prob, attention_probs_dropout_prob (`float`): dropout rates.
        initializer_range (`float`): std of the truncated-normal initialisation.
        layer_norm_eps (`float`): epsilon of every LayerNorm.
        use_dnspt (`bool`): dual-norm shifted patch tokenization; `False` = a Conv2d patch embedding.
        shift_directions (`int`, 4 or 8): 4 = the diagonals (SPT); 8 = diagonals + axial shifts (refined).
        shift_amount (`int`, *optional*): pixels of each shift; defaults to `patch_size // 2`.
        use_self_token_suppression (`bool`): mask each token's attention to itself and learn the temperature;
            `False` = standard scaled dot-product attention.
        use_token_integration (`bool`): merge tokens between blocks by bipartite soft matching.
        token_merge_schedule (`list[int]`): tokens merged after each block (one entry per layer).
        use_dtsm (`bool`): dynamic token selection after block `dtsm_layer`.
        dtsm_layer (`int`): index of the block after which DTSM runs.
        dtsm_keep_ratio (`float` in (0, 1]): share of the remaining patch tokens DTSM keeps.
        label_smoothing (`float` in [0, 1)): label smoothing of the cross-entropy term.
        class_weights (`list[float]`, *optional*): per-class weights of the cross-entropy term.
        contrastive_weight (`float` >= 0): weight of the supervised contrastive term (0 = off).
        contrastive_temperature (`float` > 0): temperature of the supervised contrastive term.
        projection_dim (`int`): output size of the contrastive projection MLP.

    Example:

    ```python
    >>> from epir_hf import EPIRConfig, EPIRForImageClassification
    >>> model = EPIRForImageClassification(EPIRConfig())
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
        _require(self.class_weights is None or
                 (len(self.class_weights) == self.num_labels and all(w > 0 for w in self.class_weights)),
                 "class_weights", f"None or {self.num_labels} positive numbers", self.class_weights)
        schedule = self.token_merge_schedule
        _require(len(schedule) == self.num_hidden_layers and all(isinstance(r, int) and r >= 0 for r in schedule),
                 "token_merge_schedule", f"{self.num_hidden_layers} non-negative integers (one per layer)", schedule)
        self.token_counts()

    @property
    def num_patches(self) -> int:
        return (self.image_size // self.patch_size) ** 2

    def token_counts(self) -> list[int]:
        """Tokens (CLS included) entering each block, after integration and DTSM of the previous gaps.

        Raises a `ValueError` when the merge schedule asks for more merges than bipartite matching can make.
        """
        patches = self.num_patches
        counts = []
        for layer, merges in enumerate(self.token_merge_schedule):
            counts.append(patches + 1)
            if self.use_token_integration and merges:
                mergeable = math.ceil(patches / 2) if patches > 1 else 0
                _require(merges <= mergeable and merges < patches, "token_merge_schedule",
                         f"at most {min(mergeable, patches - 1)} merges after block {layer} "
                         f"({patches} patch tokens remain there)", self.token_merge_schedule)
                patches -= merges
            if self.use_dtsm and layer == self.dtsm_layer:
                kept = dtsm_kept_count(patches, self.dtsm_keep_ratio)
                patches = kept + (1 if kept < patches else 0)
        return counts


def dtsm_kept_count(num_tokens: int, keep_ratio: float) -> int:
    """Number of patch tokens DTSM keeps: the ratio rounded up, so at least one token always survives."""
    return max(1, math.ceil(num_tokens * keep_ratio - 1e-9))


def _default_merge_schedule(num_layers: int) -> list[int]:
    """The published schedule [8, 8, 6, 4, 0] for 5 blocks; no merging for other depths unless configured."""
    return [8, 8, 6, 4, 0] if num_layers == 5 else [0] * num_layers


def _require(condition: bool, field: str, expected: str, value) -> None:
    if not condition:
        raise ValueError(f"EPIRConfig.{field} must be {expected}; got {value!r}.")


__all__ = ["EPIRConfig"]
