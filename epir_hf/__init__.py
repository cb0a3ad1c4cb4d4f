"""EPIR for Hugging Face transformers: importing this package registers every EPIR class
with the Auto classes and the pipeline registry."""

from transformers import AutoConfig, AutoModel, AutoModelForImageClassification

from .configuration_epir import EPIRConfig
from .modeling_epir import (
    EPIRForImageClassification,
    EPIRImageClassifierOutput,
    EPIRModel,
    EPIRModelOutput,
    EPIRPreTrainedModel,
)

AutoConfig.register(EPIRConfig.model_type, EPIRConfig, exist_ok=True)
AutoModel.register(EPIRConfig, EPIRModel, exist_ok=True)
AutoModelForImageClassification.register(EPIRConfig, EPIRForImageClassification, exist_ok=True)
# Saving then writes `auto_map` and copies the code, so users without epir_hf can load with trust_remote_code=True.
EPIRConfig.register_for_auto_class()
EPIRModel.register_for_auto_class("AutoModel")
EPIRForImageClassification.register_for_auto_class("AutoModelForImageClassification")

__all__ = [
    "EPIRConfig",
    "EPIRForImageClassification",
    "EPIRImageClassifierOutput",
    "EPIRModel",
    "EPIRModelOutput",
    "EPIRPreTrainedModel",
]
