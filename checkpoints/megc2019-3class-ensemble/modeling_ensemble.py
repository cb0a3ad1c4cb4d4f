"""An ensemble of this package's flow classifiers as one transformers model.

The members are whole classifiers (EPIR, STSTNet, OFF-ApexNet, SSSNet) kept in one module list, so one
`model.safetensors` holds them all and `save_pretrained` / `from_pretrained` / `push_to_hub` and both pipelines treat
the ensemble like any single model. Its logits are the log of the mean of the members' class probabilities: a softmax
of them gives that mean, so every consumer of logits (pipelines, metrics, the LOSO runner) reads it unchanged.

Test-time flip is not a member's business here: the pipelines and the LOSO runner average the model's probabilities
on the flow and on its mirror, as for any model. Both averages are equal-weight means of probabilities, so averaging
the ensemble with its mirror is exactly averaging each member with its own mirror (as each member's LOSO run
predicts), then the members.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers.modeling_outputs import ImageClassifierOutput
from transformers.utils import auto_docstring, can_return_tuple

from .configuration_ensemble import EnsembleConfig
from .flow_classification import CheckedWeightsLoading, check_flow_pixel_values, weighted_cross_entropy
from .hub_card import ModelCardMixin
from .modeling_epir import EPIRForImageClassification
from .offapexnet import OffApexNetForImageClassification
from .sssnet import SSSNetForImageClassification
from .ststnet import STSTNetForImageClassification

MEMBER_CLASSIFIERS: dict[str, type[PreTrainedModel]] = {
    model.config_class.model_type: model for model in (EPIRForImageClassification, STSTNetForImageClassification,
                                                       OffApexNetForImageClassification, SSSNetForImageClassification)}
"""The classifier that each member `model_type` is built as."""


def mean_probability_logits(member_logits: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
    """Logits whose softmax is the mean of the members' class probabilities: log(mean_m softmax(logits_m)).

    `member_logits` is `(num_members, ..., num_labels)` or a sequence of `(..., num_labels)` tensors. The one
    definition the model, the LOSO runner and the pooling of finished runs share, so that an ensemble trained fold by
    fold and one pooled from its members' saved logits give the same numbers, bit for bit.
    """
    stacked = torch.stack(list(member_logits)) if not isinstance(member_logits, torch.Tensor) else member_logits
    return stacked.float().softmax(-1).mean(0).log()


@auto_docstring(custom_intro="Ensemble classification outputs: `ImageClassifierOutput` plus each member's logits.")
@dataclass
class EnsembleClassifierOutput(ImageClassifierOutput):
    r"""
    loss (`torch.FloatTensor` of shape `()`, *optional*, returned when `labels` is provided):
        Negative log-likelihood of the labels under the ensemble's averaged class probabilities (the members are
        trained one by one, each with its own loss, not through the ensemble).
    logits (`torch.FloatTensor` of shape `(batch_size, config.num_labels)`):
        Log of the mean of the members' class probabilities.
    member_logits (`torch.FloatTensor` of shape `(num_members, batch_size, config.num_labels)`):
        Each member's own logits, in the order of `config.members`.
    """

    member_logits: torch.FloatTensor | None = None


class EnsemblePreTrainedModel(CheckedWeightsLoading, ModelCardMixin, PreTrainedModel):
    config_class = EnsembleConfig
    config: EnsembleConfig
    base_model_prefix = "ensemble"
    main_input_name = "pixel_values"
    input_modalities = ("image",)
    accepts_loss_kwargs = False


@auto_docstring(custom_intro="""
    Equal-weight ensemble of flow classifiers: the log of the mean of the members' class probabilities. Each member
    initialises its own weights; train the members one by one (`examples/run_loso.py --model_type me-ensemble`) and
    join them with `from_members`.
    """)
class EnsembleForImageClassification(EnsemblePreTrainedModel):
    def __init__(self, config: EnsembleConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.members = nn.ModuleList(MEMBER_CLASSIFIERS[member.model_type](member)
                                     for member in config.member_configs())
        self.post_init()

    @classmethod
    def from_members(cls, members: Sequence[PreTrainedModel]) -> EnsembleForImageClassification:
        """The ensemble of trained `members` (their configs and weights, copied), in eval mode like a loaded model."""
        members = list(members)
        ensemble = cls(EnsembleConfig(members=[member.config for member in members]))
        for slot, member in zip(ensemble.members, members):
            slot.load_state_dict(member.state_dict())
        return ensemble.to(next(members[0].parameters()).device).eval()

    @can_return_tuple
    @auto_docstring
    def forward(self, pixel_values: torch.Tensor, labels: torch.Tensor | None = None,
                **kwargs) -> EnsembleClassifierOutput:
        r"""
        pixel_values (`torch.FloatTensor` of shape `(batch_size, num_channels, image_size, image_size)`):
            Onset→apex optical flow (u, v, optical strain) of cropped faces, as `EPIRImageProcessor` returns it.
        labels (`torch.LongTensor` of shape `(batch_size,)`, *optional*):
            Class ids in `[0, config.num_labels - 1]`; when given, the loss is computed.
        """
        check_flow_pixel_values(pixel_values, self.config.num_channels, self.config.image_size)
        member_logits = torch.stack([member(pixel_values=pixel_values).logits.float() for member in self.members])
        logits = mean_probability_logits(member_logits)
        loss = None if labels is None else weighted_cross_entropy(logits, labels, None, 0.0)
        return EnsembleClassifierOutput(loss=loss, logits=logits, member_logits=member_logits)


__all__ = ["EnsembleClassifierOutput", "EnsembleForImageClassification", "EnsemblePreTrainedModel",
           "mean_probability_logits"]
