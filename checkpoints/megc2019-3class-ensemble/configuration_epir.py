"""EPIR model configuration."""

import inspect
import math
import os
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from huggingface_hub.dataclasses import type_validator
from transformers import PreTrainedConfig
from transformers.activations import ACT2FN
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
    hidden_dropout_prob: float | int = 0.0
    attention_probs_dropout_prob: float | int = 0.0
    initializer_range: float | int = 0.02
    layer_norm_eps: float | int = 1e-6
    use_dnspt: bool = True
    shift_directions: int = 8
    shift_amount: int | None = None
    use_self_token_suppression: bool = True
    use_token_integration: bool = True
    token_merge_schedule: list[int] | None = None
    use_dtsm: bool = True
    dtsm_layer: int = 1
    dtsm_keep_ratio: float | int = 0.5
    label_smoothing: float | int = 0.0
    class_weights: list[float | int] | None = None
    contrastive_weight: float | int = 0.1
    contrastive_temperature: float | int = 0.1
    projection_dim: int = 128

    def __post_init__(self, **kwargs):
        check_field_types(self)
        set_default_labels(self, kwargs)
        if self.token_merge_schedule is None:
            self.token_merge_schedule = _default_merge_schedule(self.num_hidden_layers)
        if self.shift_amount is None:
            self.shift_amount = self.patch_size // 2
        drop_class_weights_of_replaced_labels(self, kwargs.get("num_labels"))
        super().__post_init__(**kwargs)
        check_label_maps(self)
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
        _require(self.intermediate_size > 0, "intermediate_size", "a positive integer", self.intermediate_size)
        _require(self.hidden_act in ACT2FN, "hidden_act", "an activation name of transformers' ACT2FN (e.g. 'gelu')",
                 self.hidden_act)
        _require(0.0 < self.layer_norm_eps < math.inf, "layer_norm_eps", "a positive number", self.layer_norm_eps)
        _require(0.0 <= self.initializer_range < math.inf, "initializer_range", "a number >= 0",
                 self.initializer_range)
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
        _require(0.0 <= self.contrastive_weight < math.inf, "contrastive_weight", ">= 0", self.contrastive_weight)
        _require(0.0 < self.contrastive_temperature < math.inf, "contrastive_temperature", "> 0",
                 self.contrastive_temperature)
        _require(self.projection_dim > 0, "projection_dim", "a positive integer", self.projection_dim)
        check_classes(self)
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


def require(config: PreTrainedConfig | str, condition: bool, field: str, expected: str, value: object) -> None:
    """Raise the one-line `ValueError` every config of this package gives for a field it cannot use; `config` is
    the config or its class name."""
    if not condition:
        owner = config if isinstance(config, str) else type(config).__name__
        raise ValueError(f"{owner}.{field} must be {expected}; got {value!r}.")


_require = partial(require, "EPIRConfig")


def check_field_types(config: PreTrainedConfig) -> None:
    """Raise a `ValueError` naming the first field of this package's config classes whose value has the wrong type.

    A hand-edited `config.json` can hold "28" for 28 or a number where a list belongs; without this check the
    value reaches a comparison or a layer and fails there with a bare `TypeError`. The types are the classes'
    annotations, checked by huggingface_hub's strict-dataclass validator, the one transformers' own `@strict`
    configs use (`float | int` where a whole number is a valid float). Fields of `PreTrainedConfig` itself are
    transformers' to check.
    """
    for cls in type(config).__mro__:
        if cls is PreTrainedConfig or not issubclass(cls, PreTrainedConfig):
            continue
        for field, expected in inspect.get_annotations(cls, eval_str=True).items():
            value = getattr(config, field)
            try:
                type_validator(field, value, expected)
            except TypeError:
                raise ValueError(f"{type(config).__name__}.{field} must be of type {_type_name(expected)}; got "
                                 f"{value!r}.") from None


def _type_name(annotation: object) -> str:
    """`int`, `list[int] | None`, ...; `float | int` reads as `float`, the int being only its whole values."""
    return annotation.__name__ if isinstance(annotation, type) else str(annotation).replace("float | int", "float")


def set_default_labels(config: PreTrainedConfig, kwargs: dict) -> None:
    """Default the labels to the three MEGC2019 classes unless `id2label` or `num_labels` is given, and derive
    `label2id` from `id2label` when only that is given. Runs before `PreTrainedConfig.__post_init__`, which reads
    the class ids of `id2label` as integers, so ids that are not whole numbers are named here."""
    id2label = config.id2label
    require(config, id2label is None or isinstance(id2label, dict) and all(_is_class_id(i) for i in id2label),
            "id2label", "a {class id: name} mapping with integer ids", id2label)
    if id2label is None and kwargs.get("num_labels") is None:
        config.id2label = dict(EPIR_DEFAULT_LABELS)
    if config.id2label is not None and config.label2id is None:
        config.label2id = {label: int(index) for index, label in config.id2label.items()}


def _is_class_id(key: object) -> bool:
    return isinstance(key, int) and not isinstance(key, bool) or isinstance(key, str) and key.isdigit()


def check_label_maps(config: PreTrainedConfig) -> None:
    """`id2label` numbers the classes 0..num_labels-1 with distinct names and `label2id` is its inverse: the
    classifier's outputs are looked up in the one, training labels in the other."""
    id2label, count = config.id2label, config.num_labels
    require(config, sorted(id2label) == list(range(count)), "id2label", f"a {{class id: name}} mapping with the ids "
            f"0..{count - 1}", id2label)
    names = list(id2label.values())
    require(config, all(isinstance(name, str) for name in names) and len(set(names)) == count, "id2label",
            "a {class id: name} mapping with a distinct name (a string) per class", id2label)
    inverse = {name: index for index, name in id2label.items()}
    require(config, config.label2id == inverse, "label2id", f"the inverse of id2label, {inverse}", config.label2id)


def check_classes(config: PreTrainedConfig) -> None:
    """Raise a `ValueError` when `num_labels` or `class_weights`, which every classifier config of this package
    has, cannot define the classification loss."""
    require(config, config.num_labels >= 2, "num_labels", ">= 2 classes", config.num_labels)
    check_class_weights(config)


__all__ = ["EPIRConfig", "SavedPipelinesMixin", "TokenStep", "token_schedule"]
