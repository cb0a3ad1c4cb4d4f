"""PyTorch EPIR model: DNSPT tokens → Transformer blocks with self-token suppression, token integration and DTSM."""

import math
from dataclasses import dataclass

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.modeling_outputs import BaseModelOutputWithPooling, ImageClassifierOutput
from transformers.processing_utils import Unpack
from transformers.utils import TransformersKwargs, auto_docstring
from transformers.utils.generic import can_return_tuple

from .attention import SelfSuppressedAttention
from .configuration_epir import EPIRConfig
from .contrastive import ContrastiveProjection, supervised_contrastive_loss
from .dnspt import DualNormShiftedPatchTokenizer
from .dtsm import select_tokens
from .flow_classification import CheckedWeightsLoading, check_flow_pixel_values, weighted_cross_entropy
from .hub_card import ModelCardMixin
from .token_integration import integrate_tokens


@auto_docstring(custom_intro="EPIR encoder outputs: `BaseModelOutputWithPooling` plus the token bookkeeping.")
@dataclass
class EPIRModelOutput(BaseModelOutputWithPooling):
    r"""
    last_hidden_state (`torch.FloatTensor` of shape `(batch_size, sequence_length, hidden_size)`):
        Final-LayerNorm tokens after the last block; `sequence_length` is `token_counts[-1]` (CLS first).
    pooler_output (`torch.FloatTensor` of shape `(batch_size, hidden_size)`):
        The CLS token of `last_hidden_state`.
    hidden_states (`tuple(torch.FloatTensor)`, *optional*, returned when `output_hidden_states=True`):
        The tokens entering each block, then the tokens after the last block (before the final LayerNorm). Their
        lengths follow `token_counts`, since token integration and DTSM shrink the sequence between blocks.
    attentions (`tuple(torch.FloatTensor)`, *optional*, returned when `output_attentions=True`):
        Attention probabilities of each block, of shape `(batch_size, num_heads, tokens, tokens)` with `tokens` the
        block's entry of `token_counts`.
    token_counts (`tuple[int]`):
        Tokens (CLS included) entering each block.
    kept_patch_mask (`torch.BoolTensor` of shape `(batch_size, num_patches)`, *optional*):
        Original patches (row-major over the patch grid) covered by the tokens DTSM kept; `None` when DTSM is off.
        It shows which facial regions drove the prediction.
    """

    token_counts: tuple[int, ...] | None = None
    kept_patch_mask: torch.BoolTensor | None = None


@auto_docstring(custom_intro="EPIR classification outputs: `ImageClassifierOutput` plus the token bookkeeping.")
@dataclass
class EPIRImageClassifierOutput(ImageClassifierOutput):
    r"""
    loss (`torch.FloatTensor` of shape `()`, *optional*, returned when `labels` is provided):
        Cross-entropy (with the configured class weights and label smoothing) plus `contrastive_weight` times the
        supervised contrastive loss of the batch.
    logits (`torch.FloatTensor` of shape `(batch_size, config.num_labels)`):
        Classification scores (before softmax).
    hidden_states (`tuple(torch.FloatTensor)`, *optional*, returned when `output_hidden_states=True`):
        As in `EPIRModelOutput`.
    attentions (`tuple(torch.FloatTensor)`, *optional*, returned when `output_attentions=True`):
        As in `EPIRModelOutput`.
    token_counts (`tuple[int]`):
        Tokens (CLS included) entering each block.
    kept_patch_mask (`torch.BoolTensor` of shape `(batch_size, num_patches)`, *optional*):
        Original patches covered by the tokens DTSM kept; `None` when DTSM is off.
    """

    token_counts: tuple[int, ...] | None = None
    kept_patch_mask: torch.BoolTensor | None = None


class EPIREmbeddings(nn.Module):
    """Patch tokens (DNSPT, or a plain Conv2d patch embedding when ablated) + CLS token + learned positions."""

    def __init__(self, config: EPIRConfig):
        super().__init__()
        if config.use_dnspt:
            self.patch_embeddings = DualNormShiftedPatchTokenizer(
                config.num_channels, config.patch_size, config.hidden_size, config.shift_directions,
                config.shift_amount, config.layer_norm_eps)
        else:
            self.patch_embeddings = nn.Conv2d(config.num_channels, config.hidden_size, config.patch_size,
                                              stride=config.patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, config.hidden_size))
        self.position_embeddings = nn.Parameter(torch.zeros(1, config.num_patches + 1, config.hidden_size))
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        tokens = self.patch_embeddings(pixel_values)
        if tokens.dim() == 4:
            tokens = tokens.flatten(2).transpose(1, 2)
        cls = self.cls_token.expand(tokens.shape[0], -1, -1)
        return self.dropout(torch.cat([cls, tokens], dim=1) + self.position_embeddings)


class EPIRMLP(nn.Module):
    """Position-wise feed-forward network of a block: fc1 → activation → dropout → fc2."""

    def __init__(self, config: EPIRConfig):
        super().__init__()
        self.fc1 = nn.Linear(config.hidden_size, config.intermediate_size)
        self.act = ACT2FN[config.hidden_act]
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.fc2 = nn.Linear(config.intermediate_size, config.hidden_size)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.dropout(self.act(self.fc1(hidden_states))))


class EPIRLayer(nn.Module):
    """Pre-norm Transformer block whose attention also hands its keys and CLS attention to the reduction steps."""

    def __init__(self, config: EPIRConfig):
        super().__init__()
        self.layernorm_before = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.attention = SelfSuppressedAttention(config.hidden_size, config.num_attention_heads,
                                                 config.attention_probs_dropout_prob,
                                                 config.use_self_token_suppression)
        self.layernorm_after = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.mlp = EPIRMLP(config)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states: torch.Tensor, sizes: torch.Tensor, output_attentions: bool,
                output_cls_attention: bool):
        attention = self.attention(self.layernorm_before(hidden_states), sizes, output_attentions,
                                   output_cls_attention)
        hidden_states = hidden_states + self.dropout(attention.output)
        hidden_states = hidden_states + self.dropout(self.mlp(self.layernorm_after(hidden_states)))
        return hidden_states, attention


class EPIREncoder(nn.Module):
    """Cascaded blocks; between them, token integration then (once) DTSM shrink the token set as
    `config.token_schedule()` prescribes."""

    def __init__(self, config: EPIRConfig):
        super().__init__()
        self.config = config
        self.layer = nn.ModuleList(EPIRLayer(config) for _ in range(config.num_hidden_layers))

    def forward(self, hidden_states: torch.Tensor, output_attentions: bool = False,
                output_hidden_states: bool = False) -> EPIRModelOutput:
        batch, length, _ = hidden_states.shape
        sizes = hidden_states.new_ones(batch, length)
        sources = torch.eye(length - 1, dtype=hidden_states.dtype, device=hidden_states.device).expand(batch, -1, -1)
        all_hidden_states, all_attentions, token_counts, kept_patch_mask = [], [], [], None
        for layer, step in zip(self.layer, self.config.token_schedule()):
            if output_hidden_states:
                all_hidden_states.append(hidden_states)
            token_counts.append(hidden_states.shape[1])
            hidden_states, attention = layer(hidden_states, sizes, output_attentions, step.keep is not None)
            if output_attentions:
                all_attentions.append(attention.probs)
            cls_attention = attention.cls_attention
            if step.merges:
                hidden_states, sizes, sources, cls_attention = integrate_tokens(
                    hidden_states, sizes, sources, attention.keys, step.merges, cls_attention)
            if step.keep is not None:
                hidden_states, sizes, sources, kept_patch_mask = select_tokens(
                    hidden_states, sizes, sources, cls_attention, step.keep)
        if output_hidden_states:
            all_hidden_states.append(hidden_states)
        return EPIRModelOutput(
            last_hidden_state=hidden_states,
            hidden_states=tuple(all_hidden_states) if output_hidden_states else None,
            attentions=tuple(all_attentions) if output_attentions else None,
            token_counts=tuple(token_counts),
            kept_patch_mask=kept_patch_mask,
        )


@auto_docstring
class EPIRPreTrainedModel(CheckedWeightsLoading, ModelCardMixin, PreTrainedModel):
    config_class = EPIRConfig
    config: EPIRConfig
    base_model_prefix = "epir"
    main_input_name = "pixel_values"
    input_modalities = ("image",)
    _no_split_modules = ["EPIREmbeddings", "EPIRLayer"]
    # The loss is a per-batch mean (the contrastive term needs the whole batch), so Trainer must not rescale it by
    # `num_items_in_batch` as it does for models that take loss kwargs.
    accepts_loss_kwargs = False

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, nn.Linear):
            init.trunc_normal_(module.weight, mean=0.0, std=self.config.initializer_range)
        elif isinstance(module, EPIREmbeddings):
            init.trunc_normal_(module.position_embeddings, mean=0.0, std=self.config.initializer_range)
            init.trunc_normal_(module.cls_token, mean=0.0, std=self.config.initializer_range)
        elif isinstance(module, SelfSuppressedAttention) and module.suppress_self:
            init.constant_(module.log_temperature, 0.5 * math.log(module.head_dim))

    def save_pretrained(self, save_directory, *args, **kwargs):
        """Also map `AutoModel` in a saved classifier, so remote-code users can load the bare encoder from it."""
        if self._auto_class is not None:
            self.config.auto_map = {**(getattr(self.config, "auto_map", None) or {}),
                                    "AutoModel": f"{EPIRModel.__module__.rsplit('.', 1)[-1]}.EPIRModel"}
        return super().save_pretrained(save_directory, *args, **kwargs)

    def check_pixel_values(self, pixel_values: torch.Tensor) -> None:
        """Reject inputs that are not (B, num_channels, image_size, image_size) float flow tensors, naming the shape."""
        check_flow_pixel_values(pixel_values, self.config.num_channels, self.config.image_size)


@auto_docstring(custom_intro="The bare EPIR encoder; `pooler_output` is the final-LayerNorm CLS representation.")
class EPIRModel(EPIRPreTrainedModel):
    def __init__(self, config: EPIRConfig):
        super().__init__(config)
        self.embeddings = EPIREmbeddings(config)
        self.encoder = EPIREncoder(config)
        self.layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.post_init()

    @can_return_tuple
    @auto_docstring
    def forward(self, pixel_values: torch.Tensor, output_attentions: bool | None = None,
                output_hidden_states: bool | None = None, **kwargs: Unpack[TransformersKwargs]) -> EPIRModelOutput:
        r"""
        pixel_values (`torch.FloatTensor` of shape `(batch_size, num_channels, image_size, image_size)`):
            Onset→apex optical flow (u, v, optical strain) of cropped faces, as `EPIRImageProcessor` returns it.
        """
        self.check_pixel_values(pixel_values)
        output_attentions = bool(output_attentions if output_attentions is not None else
                                 self.config.output_attentions)
        output_hidden_states = bool(output_hidden_states if output_hidden_states is not None else
                                    self.config.output_hidden_states)
        encoded = self.encoder(self.embeddings(pixel_values.to(self.dtype)), output_attentions, output_hidden_states)
        last_hidden_state = self.layernorm(encoded.last_hidden_state)
        return EPIRModelOutput(
            last_hidden_state=last_hidden_state,
            pooler_output=last_hidden_state[:, 0],
            hidden_states=encoded.hidden_states,
            attentions=encoded.attentions,
            token_counts=encoded.token_counts,
            kept_patch_mask=encoded.kept_patch_mask,
        )


@auto_docstring(custom_intro="""
    EPIR with a linear classification head on the CLS representation. Its loss is the cross-entropy plus
    `config.contrastive_weight` times a supervised contrastive term on a projection of the same representation.
    """)
class EPIRForImageClassification(EPIRPreTrainedModel):
    def __init__(self, config: EPIRConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.epir = EPIRModel(config)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.projection = (ContrastiveProjection(config.hidden_size, config.projection_dim)
                           if config.contrastive_weight > 0 else None)
        self.post_init()

    @can_return_tuple
    @auto_docstring
    def forward(self, pixel_values: torch.Tensor, labels: torch.Tensor | None = None,
                output_attentions: bool | None = None, output_hidden_states: bool | None = None,
                **kwargs: Unpack[TransformersKwargs]) -> EPIRImageClassifierOutput:
        r"""
        pixel_values (`torch.FloatTensor` of shape `(batch_size, num_channels, image_size, image_size)`):
            Onset→apex optical flow (u, v, optical strain) of cropped faces, as `EPIRImageProcessor` returns it.
        labels (`torch.LongTensor` of shape `(batch_size,)`, *optional*):
            Class ids in `[0, config.num_labels - 1]`; when given, the loss is computed.
        """
        outputs: EPIRModelOutput = self.epir(pixel_values, output_attentions=output_attentions,
                                             output_hidden_states=output_hidden_states, return_dict=True)
        logits = self.classifier(outputs.pooler_output)
        loss = None if labels is None else self.compute_loss(logits, outputs.pooler_output, labels)
        return EPIRImageClassifierOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions,
            token_counts=outputs.token_counts, kept_patch_mask=outputs.kept_patch_mask)

    def compute_loss(self, logits: torch.Tensor, pooled: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Cross-entropy (class weights, label smoothing) plus the weighted supervised contrastive term; with
        `config.problem_type == "multi_label_classification"` (action-unit pretraining) a binary cross-entropy per
        label instead, since a sample shows several action units at once."""
        if self.config.problem_type == "multi_label_classification":
            if self.projection is not None:
                raise ValueError("multi-label training has no classes for the contrastive term: set "
                                 "contrastive_weight=0.")
            if labels.shape != logits.shape:
                raise ValueError(f"multi-label labels must be a {tuple(logits.shape)} tensor of 0/1 per label; got "
                                 f"shape {tuple(labels.shape)}.")
            return nn.functional.binary_cross_entropy_with_logits(logits, labels.to(logits))
        loss = weighted_cross_entropy(logits, labels, self.config.class_weights, self.config.label_smoothing)
        if self.projection is not None:
            contrastive = supervised_contrastive_loss(self.projection(pooled), labels.to(logits.device).long(),
                                                      self.config.contrastive_temperature)
            loss = loss + self.config.contrastive_weight * contrastive
        return loss


__all__ = ["EPIRPreTrainedModel", "EPIRModel", "EPIRForImageClassification", "EPIRModelOutput",
           "EPIRImageClassifierOutput"]
