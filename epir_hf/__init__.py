"""EPIR for Hugging Face transformers: importing this package registers every EPIR class, the CNN baselines
STSTNet, OFF-ApexNet and SSSNet, and their ensemble with the Auto classes and the pipeline registry."""

from transformers import AutoConfig, AutoImageProcessor, AutoModel, AutoModelForImageClassification
from transformers.pipelines import PIPELINE_REGISTRY

from .configuration_ensemble import MEMBER_CONFIGS, EnsembleConfig
from .configuration_epir import EPIRConfig
from .image_processing_epir import EPIRImageProcessor
from .modeling_ensemble import EnsembleClassifierOutput, EnsembleForImageClassification, EnsemblePreTrainedModel
from .modeling_epir import (
    EPIRForImageClassification,
    EPIRImageClassifierOutput,
    EPIRModel,
    EPIRModelOutput,
    EPIRPreTrainedModel,
)
from .offapexnet import OffApexNetConfig, OffApexNetForImageClassification, OffApexNetPreTrainedModel
from .pipeline_epir import MicroExpressionRecognitionPipeline, push_to_hub, save_for_hub
from .pipeline_spotting import MicroExpressionSpottingPipeline
from .sssnet import SSSNetConfig, SSSNetForImageClassification, SSSNetPreTrainedModel
from .ststnet import STSTNetConfig, STSTNetForImageClassification, STSTNetPreTrainedModel

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
# The baselines and the ensemble: the same Auto classes and remote-code export, so the LOSO runner builds any of them
# from its config.
for _config, _classifier in ((STSTNetConfig, STSTNetForImageClassification),
                             (OffApexNetConfig, OffApexNetForImageClassification),
                             (SSSNetConfig, SSSNetForImageClassification),
                             (EnsembleConfig, EnsembleForImageClassification)):
    AutoConfig.register(_config.model_type, _config, exist_ok=True)
    AutoModelForImageClassification.register(_config, _classifier, exist_ok=True)
    _config.register_for_auto_class()
    _classifier.register_for_auto_class("AutoModelForImageClassification")
PIPELINE_REGISTRY.register_pipeline("micro-expression-recognition", pipeline_class=MicroExpressionRecognitionPipeline,
                                    pt_model=AutoModelForImageClassification, type="image")
PIPELINE_REGISTRY.register_pipeline("micro-expression-spotting", pipeline_class=MicroExpressionSpottingPipeline,
                                    pt_model=AutoModelForImageClassification, type="video")

CONFIG_CLASSES = {**MEMBER_CONFIGS, EnsembleConfig.model_type: EnsembleConfig}
"""The models this package trains and evaluates, by `model_type`."""

__all__ = [
    "CONFIG_CLASSES",
    "EPIRConfig",
    "EPIRForImageClassification",
    "EPIRImageProcessor",
    "EPIRImageClassifierOutput",
    "EPIRModel",
    "EPIRModelOutput",
    "EPIRPreTrainedModel",
    "EnsembleClassifierOutput",
    "EnsembleConfig",
    "EnsembleForImageClassification",
    "EnsemblePreTrainedModel",
    "MicroExpressionRecognitionPipeline",
    "MicroExpressionSpottingPipeline",
    "OffApexNetConfig",
    "OffApexNetForImageClassification",
    "OffApexNetPreTrainedModel",
    "SSSNetConfig",
    "SSSNetForImageClassification",
    "SSSNetPreTrainedModel",
    "STSTNetConfig",
    "STSTNetForImageClassification",
    "STSTNetPreTrainedModel",
    "push_to_hub",
    "save_for_hub",
]
