"""Configuration of an ensemble of this package's flow classifiers (`model_type="me-ensemble"`).

Under one honest protocol no single model of this package is best, and their errors differ: averaging the class
probabilities of EPIR and the CNN baselines scores higher than any of them alone. The ensemble's config is the list
of its members' configs, each of a registered type, so that one folder (one `config.json`, one weights file) holds
the whole ensemble, saves and loads like any transformers model, and rebuilds every member exactly.
"""

from __future__ import annotations

import copy
from dataclasses import field
from typing import Any

from transformers import PreTrainedConfig

from .configuration_epir import EPIRConfig, SavedPipelinesMixin, check_field_types, check_label_maps, require
from .offapexnet import OffApexNetConfig
from .sssnet import SSSNetConfig
from .ststnet import STSTNetConfig

MEMBER_CONFIGS: dict[str, type[PreTrainedConfig]] = {
    config.model_type: config for config in (EPIRConfig, STSTNetConfig, OffApexNetConfig, SSSNetConfig)}
"""The model types an ensemble can hold, by `model_type`."""

# Keys that say where a member config came from (a folder, a saved pipeline), not what the member computes.
_PROVENANCE_KEYS = ("transformers_version", "auto_map", "custom_pipelines", "architectures", "_name_or_path")


class EnsembleConfig(SavedPipelinesMixin, PreTrainedConfig):
    r"""
    Configuration of `EnsembleForImageClassification`: equal-weight members whose class probabilities are averaged.

    Args:
        members (`list[dict]`):
            The members' configs, as config objects or their dicts (`config.to_dict()`), each with a `model_type` of
            `MEMBER_CONFIGS` (epir, ststnet, offapexnet, sssnet). They are validated by their own classes and kept as
            dicts; `member_configs()` rebuilds the config objects. Every member must have the same classes
            (`id2label`) and read the same input (`num_channels`, `image_size`), since they score the same flow.

    The ensemble's `id2label` / `label2id` are its members' (given ones must equal them); `num_channels` and
    `image_size` are read from the members.

    Example:

    ```python
    >>> from epir_hf import EnsembleConfig, EPIRConfig, STSTNetConfig

    >>> config = EnsembleConfig(members=[EPIRConfig(), STSTNetConfig()])
    >>> [member.model_type for member in config.member_configs()]
    ['epir', 'ststnet']
    ```"""

    model_type = "me-ensemble"

    members: list[dict] = field(default_factory=list)

    def __post_init__(self, **kwargs: Any):
        if isinstance(self.members, (list, tuple)):
            self.members = [_member_dict(index, member) for index, member in enumerate(self.members)]
        check_field_types(self)
        require(self, len(self.members) > 0, "members",
                f"a non-empty list of member configs (model_type one of {', '.join(MEMBER_CONFIGS)})", self.members)
        configs = self.member_configs()
        first = configs[0]
        for index, config in enumerate(configs[1:], 1):
            if config.id2label != first.id2label:
                raise ValueError(f"EnsembleConfig.members must share their classes: member 0 ({first.model_type}) has "
                                 f"id2label {first.id2label}, member {index} ({config.model_type}) has "
                                 f"{config.id2label}.")
            if (config.num_channels, config.image_size) != (first.num_channels, first.image_size):
                raise ValueError(f"EnsembleConfig.members must read the same input: member 0 ({first.model_type}) "
                                 f"reads {_input(first)} flow, member {index} ({config.model_type}) {_input(config)}.")
        if self.id2label is None and kwargs.get("num_labels") is None:
            self.id2label, self.label2id = dict(first.id2label), dict(first.label2id)
        super().__post_init__(**kwargs)
        require(self, self.id2label == first.id2label, "id2label", f"the members' classes {first.id2label}",
                self.id2label)
        check_label_maps(self)

    def member_configs(self) -> list[PreTrainedConfig]:
        """The members' configs as config objects (new copies: changing one does not change the ensemble)."""
        return [MEMBER_CONFIGS[member["model_type"]].from_dict(copy.deepcopy(member)) for member in self.members]

    @property
    def num_channels(self) -> int:
        return self.members[0]["num_channels"]

    @property
    def image_size(self) -> int:
        return self.members[0]["image_size"]


def _member_dict(index: int, member: PreTrainedConfig | dict) -> dict:
    """A member as the dict its own config class validates and writes; a `ValueError` names the member."""
    what = f"EnsembleConfig.members[{index}]"
    model_type = member.model_type if isinstance(member, PreTrainedConfig) else (
        member.get("model_type") if isinstance(member, dict) else None)
    if model_type not in MEMBER_CONFIGS:
        raise ValueError(f"{what} must be a config (or config dict) with a model_type of "
                         f"{', '.join(MEMBER_CONFIGS)}; got {_describe(member)}.")
    if isinstance(member, dict):
        try:
            member = MEMBER_CONFIGS[model_type].from_dict(copy.deepcopy(member))
        except ValueError as error:
            raise ValueError(f"{what}: {error}") from None
    elif not isinstance(member, MEMBER_CONFIGS[model_type]):
        raise ValueError(f"{what} is a {type(member).__name__}; a {model_type!r} member must be a "
                         f"{MEMBER_CONFIGS[model_type].__name__}.")
    settings = member.to_dict()
    for key in _PROVENANCE_KEYS:
        settings.pop(key, None)
    return settings


def _input(config: PreTrainedConfig) -> str:
    return f"{config.num_channels}×{config.image_size}×{config.image_size}"


def _describe(member: object) -> str:
    if isinstance(member, dict):
        return f"a dict with model_type {member.get('model_type')!r}"
    return f"{type(member).__name__} {member!r}" if not isinstance(member, PreTrainedConfig) else (
        f"a {type(member).__name__} (model_type {member.model_type!r})")


__all__ = ["MEMBER_CONFIGS", "EnsembleConfig"]
