"""EPIR for Hugging Face transformers: importing this package registers every EPIR class
with the Auto classes and the pipeline registry."""

from transformers import AutoConfig, AutoImageProcessor, AutoModel, AutoModelForImageClassification
from transformers.pipelines import PIPELINE_REGISTRY

from .configuration_epir import EPIRConfig
from .modeling_epir import (
    EPIRForImageClassification,
    EPIRImageClassifierOutput,
    EPIRModel,
    EPIRModelOutput,
    EPIRPreTrainedModel,
)
from .image_processing_epir import EPIRImageProcessor
from .pipeline_epir import MicroExpressionRecognitionPipeline, save_for_hub

AutoConfig.register(EPIRConfig.model_type, EPIRConfig, exist_ok=True)
AutoModel.register(EPIRConfig, EPIRModel, exist_ok=True)
AutoModelForImageClassification.register(EPIRConfig, EPIRForImageClassification, exist_ok=True)
# Saving then writes `auto_map` and copies the code, so users without epir_hf can load with trust_remote_code=True.
EPIRConfig.register_for_auto_class()
EPIRModel.register_for_auto_class("AutoModel")
EPIRForImageClassification.register_for_auto_class("AutoModelForImageClassification")
# The processor is OpenCV/numpy code whatever backend transformers would pick, so both names map to it.
AutoImageProcessor.register(EPIRConfig, image_processor_classes={"pil": EPIRImageProcessor,
                                                                 "torchvision": EPIRImageProcessor}, exist_ok=True)
EPIRImageProcessor.register_for_auto_class("AutoImageProcessor")
PIPELINE_REGISTRY.register_pipeline("micro-expression-recognition", pipeline_class=MicroExpressionRecognitionPipeline,
                                    pt_model=AutoModelForImageClassification, type="image")

__all__ = [
    "EPIRConfig",
    "EPIRForImageClassification",
    "EPIRImageProcessor",
    "EPIRImageClassifierOutput",
    "EPIRModel",
    "EPIRModelOutput",
    "EPIRPreTrainedModel",
    "MicroExpressionRecognitionPipeline",
    "save_for_hub",
]
