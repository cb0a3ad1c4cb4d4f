"""The model card (README.md) written into every folder a model of this package saves.

A checkpoint folder is what gets pushed, copied and downloaded, so it has to say for itself what it was trained on
and how: which corpus and subjects, which config and recipe, which seed, when, and with which library versions.
Without that, a trained model cannot be told apart from another, nor reproduced. It also says what the folder holds
(the model alone, or the image processor and pipelines too) and the pip packages its code imports, since
transformers names a missing one by its module (`cv2`, `PIL`), which pip does not know. The card carries the Hub
metadata that matter for a flow model: `inference: false`, because a hosted widget would invite users to upload
face photos, and a single photo has no motion for the model to read anyway.
"""

from __future__ import annotations

import dataclasses
import datetime
import importlib.metadata
import inspect
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from huggingface_hub import ModelCard, ModelCardData
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from transformers.dynamic_module_utils import get_imports
from transformers.utils import logging

if TYPE_CHECKING:
    from transformers import PreTrainedModel

logger = logging.get_logger(__name__)

TASK = "micro-expression-recognition"
ENSEMBLE_TYPE = "me-ensemble"
CARD_TAGS = ["micro-expression-recognition", "optical-flow"]
# What each model type is, for the card's title and introduction: (name, paper, what it is).
MODEL_DESCRIPTIONS = {
    "epir": ("EPIR", "arXiv 2604.08106", "an efficient Transformer for facial micro-expression recognition, "
             "implemented natively for `transformers` by `epir-hf`"),
    "ststnet": ("STSTNet", "Liong et al., FG 2019", "a shallow triple-stream CNN, one of the baselines `epir-hf` "
                "trains under the same protocol as EPIR"),
    "offapexnet": ("OFF-ApexNet", "Gan et al., Signal Processing: Image Communication 2019", "a two-stream CNN over "
                   "the horizontal and vertical flow, one of the baselines `epir-hf` trains under the same protocol "
                   "as EPIR"),
    "sssnet": ("SSSNet", "Varanka et al., 2021", "a shallow single-stream CNN, one of the baselines `epir-hf` trains "
               "under the same protocol as EPIR"),
}
INPUT_NOTE = (
    "It classifies the onset→apex optical flow of a cropped face (channels u, v, optical strain). The card's metadata "
    "set `inference: false`: the model needs two frames of a face (or a clip), and a hosted widget would invite "
    "uploads of single face photos.")
INTENDED_USE = (
    "## Intended use\n\nResearch on micro-expressions recorded in laboratory conditions, from subjects who "
    "consented to that research. Not for lie detection, or for surveillance, hiring, policing or any other decision "
    "about an individual.")
LOSO_NOTE = ("Leave-one-subject-out (LOSO) numbers of this recipe estimate how the recipe does on subjects it has "
             "never seen, not how this checkpoint does: it saw every subject listed above, so none was left out to "
             "test it.")


def library_versions() -> dict[str, str]:
    """Versions of the libraries that decide what a saved model computes (flow included)."""
    versions = {}
    for name in ("torch", "transformers", "epir-hf"):
        versions[name] = _distribution_version(name)
    try:
        import cv2

        versions["opencv"] = cv2.__version__
    except ImportError:
        versions["opencv"] = "not installed"
    versions["datasets"] = _distribution_version("datasets")
    return versions


def _distribution_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _today() -> str:
    return datetime.datetime.now(datetime.UTC).date().isoformat()


@dataclass
class TrainingRecord:
    """How a checkpoint was trained, as its model card reports it.

    Args:
        dataset: name of the training corpus (as `dataset_scripts.load_me_dataset` knows it).
        dataset_kwargs: the options the corpus was loaded with (e.g. its class mapping).
        subjects: ids of the subjects whose samples the model was trained on.
        num_samples: number of training samples.
        label_names: class names, in label-id order.
        seed: the training seed.
        date: ISO date of the training (defaults to today, UTC).
        training: the `TrainingArguments` that change what the model learns (`training_signature`): epochs,
            learning rate, batch size, schedule, optimizer, weight decay...
        recipe: the rest of the recipe: `balance`, `augmentation` (dict or None) and `test_time_mirror`
            (dict or None: the test-time flip).
        versions: library versions of the training environment (defaults to those of this process).
        hub_model_id: the Hub id the folder is published under, used in the card's usage example.
    """

    dataset: str | None = None
    dataset_kwargs: dict[str, Any] = field(default_factory=dict)
    subjects: list[str] | None = None
    num_samples: int | None = None
    label_names: list[str] | None = None
    seed: int | None = None
    date: str = field(default_factory=_today)
    training: dict[str, Any] = field(default_factory=dict)
    recipe: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=library_versions)
    hub_model_id: str | None = None

    @classmethod
    def from_run_config(cls, run_config: dict, **fields: Any) -> TrainingRecord:
        """The record of a run described by `run_config` (the dict `examples/run_loso.py` stores with a run);
        `fields` add or override entries (e.g. `num_samples`, `hub_model_id`)."""
        names = {item.name for item in dataclasses.fields(cls)}
        known = {key: value for key, value in run_config.items() if key in names}
        if "seed" not in known and "seed" in run_config.get("training", {}):
            known["seed"] = run_config["training"]["seed"]
        return cls(**{**known, **fields})


def model_card(model: PreTrainedModel, folder: str | os.PathLike, image_processor: Any = None,
               record: TrainingRecord | None = None, repo_id: str | None = None) -> ModelCard:
    """The filled-in card of `model` saved in `folder`; without a `record` it says that the training is not recorded.

    The folder's files decide what the card says it holds (the model alone, or the processor and pipelines too) and
    which pip packages it lists; `repo_id` (else `record.hub_model_id`) names the folder in the usage example.
    """
    config = model.config
    record_versions = record.versions if record is not None else library_versions()
    members = config.member_configs() if config.model_type == ENSEMBLE_TYPE else []
    for model_type in [config.model_type, *(member.model_type for member in members)]:
        if model_type not in MODEL_DESCRIPTIONS and model_type != ENSEMBLE_TYPE:
            raise ValueError(f"model_card writes cards for the model types {sorted(MODEL_DESCRIPTIONS)} and their "
                             f"ensembles, got a model of type {model_type!r}")
    name, introduction = _introduction(config.model_type, [member.model_type for member in members])
    tags = [*CARD_TAGS, *dict.fromkeys([config.model_type, *(member.model_type for member in members)])]
    data = ModelCardData(library_name="transformers", license="apache-2.0", tags=tags, inference=False)
    labels = [config.id2label[index] for index in sorted(config.id2label)]
    model_id = repo_id or (record.hub_model_id if record is not None else None) or "path/to/this/folder"
    usage = _pipeline_usage(model_id) if runs_pipeline(folder) else _model_usage(model_id, config)
    sections = [
        f"# {name} micro-expression classifier ({', '.join(labels)})",
        f"{introduction} {INPUT_NOTE}",
        usage,
        _requirements_section(pip_requirements(folder)),
        _training_data_section(record),
        _model_section(model, image_processor),
        _recipe_section(record),
        _evaluation_section(record),
        _versions_section(record_versions, saved_on=None if record is not None else _today()),
        INTENDED_USE,
    ]
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n" + "\n\n".join(section for section in sections if section) + "\n")


def _introduction(model_type: str, member_types: list[str]) -> tuple[str, str]:
    """The model's name for the card's title, and the sentence that says what it is (and, for an ensemble, what its
    members are)."""
    if model_type != ENSEMBLE_TYPE:
        name, paper, description = MODEL_DESCRIPTIONS[model_type]
        return name, f"{name} ({paper}) is {description}."
    names = [MODEL_DESCRIPTIONS[member][0] for member in member_types]
    members = [f"{name} ({MODEL_DESCRIPTIONS[member][1]})" for name, member in zip(names, member_types)]
    listed = members[0] if len(members) == 1 else f"{', '.join(members[:-1])} and {members[-1]}"
    return " + ".join(names), (f"An equal-weight ensemble of {listed}, each trained on its own: its class "
                               "probabilities are the mean of its members' (`EnsembleForImageClassification`).")


def runs_pipeline(folder: str | os.PathLike) -> bool:
    """Whether `folder` runs the recognition pipeline by remote code: its config declares the pipeline, whose module
    is in the folder, and the image processor is saved beside it."""
    folder = Path(folder)
    config_file = folder / "config.json"
    if not config_file.is_file() or not (folder / "preprocessor_config.json").is_file():
        return False
    declared = json.loads(config_file.read_text()).get("custom_pipelines") or {}
    module = str(declared.get(TASK, {}).get("impl", "")).rpartition(".")[0]
    return bool(module) and (folder / f"{module}.py").is_file()


def pip_requirements(folder: str | os.PathLike) -> dict[str, str]:
    """{module: pip requirement} for every package the Python files of `folder` import, by transformers' own reading
    of remote code (`get_imports`: what `trust_remote_code=True` checks before loading).

    A module maps to the distribution that installs it here; where several do (OpenCV builds), to the one `epir-hf`
    depends on, with the version range `epir-hf` declares. A module not installed here is listed by its own name,
    with a warning, since no installed distribution tells its pip name.
    """
    imported = {module for path in sorted(Path(folder).glob("*.py")) for module in get_imports(path)}
    declared = _declared_requirements()
    providers = importlib.metadata.packages_distributions()
    requirements = {}
    for module in sorted(imported - set(sys.stdlib_module_names)):
        names = sorted(canonicalize_name(name) for name in providers.get(module, []))
        if not names:
            logger.warning(f"{folder}: its code imports {module!r}, which is not installed here, so the model card "
                           "cannot tell which pip package provides it and lists the module's name")
            requirements[module] = module
            continue
        chosen = next((name for name in names if name in declared), names[0])
        requirements[module] = declared.get(chosen, chosen)
    return requirements


def _declared_requirements() -> dict[str, str]:
    """{canonical name: requirement} of the packages `epir-hf` depends on (none where it is not installed, as for
    remote code)."""
    try:
        specifiers = importlib.metadata.requires("epir-hf") or []
    except importlib.metadata.PackageNotFoundError:
        return {}
    declared = {}
    for specifier in specifiers:
        requirement = Requirement(specifier)
        if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
            declared[canonicalize_name(requirement.name)] = f"{requirement.name}{requirement.specifier}"
    return declared


def _pipeline_usage(model_id: str) -> str:
    return f"""## How to use

The folder holds the model, image processor and pipeline code, so `epir-hf` need not be installed:

```python
from transformers import pipeline

pipe = pipeline("{TASK}", model="{model_id}", trust_remote_code=True)
pipe({{"onset": "onset.png", "apex": "apex.png"}})["predictions"]   # one onset/apex pair
pipe("clip.mp4")                                                   # a clip: the apex frame is spotted
```"""


def _model_usage(model_id: str, config) -> str:
    shape = f"(batch, {config.num_channels}, {config.image_size}, {config.image_size})"
    return f"""## How to use

The folder holds the model alone (weights, config and code; no image processor or pipeline code). It loads without
`epir-hf` and reads flow computed as `EPIRImageProcessor` computes it:

```python
from transformers import AutoModelForImageClassification

model = AutoModelForImageClassification.from_pretrained("{model_id}", trust_remote_code=True)
logits = model(pixel_values).logits   # pixel_values: {shape} flow (u, v, strain)
```

`epir_hf.save_for_hub(model, image_processor, folder)` or `epir_hf.push_to_hub(model, image_processor, repo_id)`
saves or publishes a folder that also runs `pipeline("{TASK}", ...)`."""


def _requirements_section(requirements: dict[str, str]) -> str:
    """The pip command that installs what the code imports, and the modules whose pip package is named otherwise:
    transformers' hint for a missing one (`pip install cv2`) names the module, which pip does not know."""
    if not requirements:
        return ""
    packages = " ".join(f'"{requirement}"' for requirement in sorted(set(requirements.values()), key=str.lower))
    renamed = [f"`{module}` is `{Requirement(requirement).name}`" for module, requirement in requirements.items()
               if canonicalize_name(module) != canonicalize_name(Requirement(requirement).name)]
    note = (f"\n\nWhen one is missing, transformers names its module, not its pip package: {', '.join(renamed)}."
            if renamed else "")
    return f"""## Requirements

Install what the code in this folder imports:

```bash
pip install {packages}
```{note}"""


def _training_data_section(record: TrainingRecord | None) -> str:
    if record is None:
        return ("## Training data\n\nHow this checkpoint was trained is not recorded: its data, recipe, seed and date "
                "are unknown.")
    lines = [f"- **Dataset**: {record.dataset or 'not recorded'}"]
    if record.dataset_kwargs:
        lines.append(f"- **Dataset options**: {_inline(record.dataset_kwargs)}")
    if record.num_samples is not None:
        lines.append(f"- **Samples**: {record.num_samples}")
    if record.subjects:
        lines.append(f"- **Subjects** ({len(record.subjects)}): {', '.join(map(str, record.subjects))}")
    else:
        lines.append("- **Subjects**: not recorded")
    if record.label_names:
        lines.append(f"- **Classes**: {', '.join(record.label_names)}")
    return "## Training data\n\n" + "\n".join(lines)


def _model_section(model: PreTrainedModel, image_processor: Any) -> str:
    config = model.config
    rows = [
        ("classes", ", ".join(f"{index}: {config.id2label[index]}" for index in sorted(config.id2label))),
        ("input", f"{config.num_channels} × {config.image_size}² flow"),
        *(_epir_rows(config) if config.model_type == "epir" else []),
        *(_member_rows(model) if config.model_type == ENSEMBLE_TYPE else [("loss", _loss_summary(config))]),
        ("parameters", f"{_parameters(model):,}"),
    ]
    if image_processor is not None and hasattr(image_processor, "flow_method"):
        rows.append(("optical flow (image processor)", str(image_processor.flow_method)))
    table = "\n".join(f"| {name} | {value} |" for name, value in rows)
    return f"## Model\n\n`{type(model).__name__}`; the full config is `config.json`.\n\n| | |\n|---|---|\n{table}"


def _parameters(model: PreTrainedModel) -> int:
    return sum(parameter.numel() for parameter in model.parameters())


def _member_rows(model: PreTrainedModel) -> list[tuple[str, str]]:
    """One row per member of an ensemble (its parameters and loss), then how their outputs are combined."""
    rows = [(f"member {index}: {MODEL_DESCRIPTIONS[member.config.model_type][0]}",
             f"{_parameters(member):,} parameters; {_loss_summary(member.config)}")
            for index, member in enumerate(model.members)]
    return [*rows, ("output", "log of the mean of the members' class probabilities")]


def _epir_rows(config) -> list[tuple[str, str]]:
    """The switches and sizes that make one EPIR differ from another (the ablations' switches among them)."""
    on_off = {True: "on", False: "off"}
    return [
        ("patches", f"{config.patch_size} px"),
        ("width / blocks / heads / MLP", " / ".join(str(value) for value in (
            config.hidden_size, config.num_hidden_layers, config.num_attention_heads, config.intermediate_size))),
        ("DNSPT", f"{on_off[config.use_dnspt]} ({config.shift_directions} shift directions, "
                  f"{config.shift_amount} px)" if config.use_dnspt else "off (Conv2d patches)"),
        ("self-token suppression", on_off[config.use_self_token_suppression]),
        ("token integration", f"on (merges {config.token_merge_schedule})" if config.use_token_integration
         else "off"),
        ("DTSM", f"on (after block {config.dtsm_layer + 1} of {config.num_hidden_layers}, keeps "
                 f"{config.dtsm_keep_ratio:g})" if config.use_dtsm
         else "off"),
        ("tokens entering each block", " → ".join(map(str, config.token_counts()))),
    ]


def _schedule_summary(training: dict[str, Any]) -> str:
    warmup = training.get("warmup_steps")
    # transformers reads a warmup below 1 as a fraction of the training steps.
    warmup = f"{warmup:.0%} of the steps" if isinstance(warmup, float) and 0 < warmup < 1 else f"{_value(warmup)} steps"
    return f"{_value(training.get('lr_scheduler_type'))}, linear warmup over {warmup}"


def _loss_summary(config) -> str:
    weights = config.class_weights if config.class_weights else "none"
    loss = f"cross-entropy (label smoothing {config.label_smoothing:g}, class weights {weights})"
    if getattr(config, "contrastive_weight", 0.0):
        loss += (f" + {config.contrastive_weight:g} × supervised contrastive (temperature "
                 f"{config.contrastive_temperature:g})")
    return loss


def _recipe_section(record: TrainingRecord | None) -> str:
    if record is None:
        return "## Training recipe\n\nNot recorded."
    training, recipe = record.training, record.recipe
    rows = []
    if training:
        epochs = training.get("num_train_epochs")
        if (training.get("max_steps") or -1) > 0:
            epochs = f"{training['max_steps']} optimizer steps"
        batch = training.get("per_device_train_batch_size")
        if "global_train_batch_size" in training and training["global_train_batch_size"] != batch:
            batch = (f"{training['global_train_batch_size']} ({batch} per device × {training.get('world_size', 1)} "
                     f"processes × {training.get('gradient_accumulation_steps', 1)} accumulation)")
        rows += [
            ("epochs", _value(epochs)),
            ("learning rate", _value(training.get("learning_rate"))),
            ("batch size", _value(batch)),
            ("schedule", _schedule_summary(training)),
            ("optimizer", _value(training.get("optim"))),
            ("weight decay", _value(training.get("weight_decay"))),
            ("max grad norm", _value(training.get("max_grad_norm"))),
        ]
    if recipe:
        rows += [
            ("class balance", _value(recipe.get("balance"))),
            ("augmentation", _inline(recipe["augmentation"]) if recipe.get("augmentation") else "none"),
            ("test-time flip", "on (probabilities averaged with the mirrored flow)"
             if recipe.get("test_time_mirror") else "off"),
            ("starting weights", f"encoder of `{recipe['init_from']['path']}` (weights sha256 "
             f"{recipe['init_from']['sha256'][:12]}…), new head" if recipe.get("init_from")
             else "random initialisation"),
        ]
    rows += [("seed", _value(record.seed)), ("date", record.date)]
    table = "\n".join(f"| {name} | {value} |" for name, value in rows)
    return f"## Training recipe\n\n| | |\n|---|---|\n{table}"


def _evaluation_section(record: TrainingRecord | None) -> str:
    if record is None:
        return ("## Evaluation\n\nNone recorded. LOSO numbers measure a training recipe on held-out subjects, not a "
                "particular checkpoint.")
    return f"## Evaluation\n\n{LOSO_NOTE}"


def _versions_section(versions: dict[str, str], saved_on: str | None) -> str:
    heading = ("Library versions of the training environment" if saved_on is None
               else f"Library versions that saved this folder on {saved_on}")
    table = "\n".join(f"| {name} | {version} |" for name, version in versions.items())
    return f"## Versions\n\n{heading}:\n\n| library | version |\n|---|---|\n{table}"


def _value(value: Any) -> str:
    if value is None:
        return "not recorded"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _inline(mapping: dict[str, Any]) -> str:
    """`key=value` pairs on one line; nested dicts (e.g. the flip's mirror settings) in parentheses."""
    parts = []
    for key, value in mapping.items():
        parts.append(f"{key}=({_inline(value)})" if isinstance(value, dict) else f"{key}={_value(value)}")
    return ", ".join(parts)


class ModelCardMixin:
    """What the models of this package add to transformers' saving: each folder they save carries this card, and a
    push says what it publishes.

    `save_pretrained` writes the card after the weights, config and code, so a folder saved without `save_for_hub`
    (a fine-tuned model, a Trainer checkpoint) still says what it is and what to install. transformers' pushes
    (`push_to_hub`, `save_pretrained(push_to_hub=True)`) put their generic template, or the card already in the
    repository, in place of the saved card just before uploading; both upload through `_upload_modified_files`,
    where this card, naming the repository and keeping the push's `tags`, takes its place again.

    The model's push publishes the model alone, as transformers' `model.push_to_hub` does for any model: a model does
    not own its image processor, and one with other settings (flow method, face crop, motion threshold) would change
    what the model reads without an error. So the push warns that the repository will not run the pipeline, and
    names `epir_hf.push_to_hub(model, image_processor, repo_id)`, which publishes both with the pipeline code. A card
    already in the repository is replaced, as `save_for_hub` replaces one in its folder: it would describe other
    weights.
    """

    def save_pretrained(self, save_directory: str | os.PathLike, *args: Any, **kwargs: Any) -> None:
        arguments = inspect.signature(super().save_pretrained).bind(save_directory, *args, **kwargs).arguments
        super().save_pretrained(save_directory, *args, **kwargs)
        # A push has written its card before uploading; the other processes of a distributed save write nothing.
        if arguments.get("is_main_process", True) and not arguments.get("push_to_hub", False):
            write_model_card(save_directory, self)

    def _upload_modified_files(self, working_dir: str | os.PathLike, repo_id: str, *args: Any, **kwargs: Any):
        # transformers' private step where both of its pushes meet; tests/test_hub_push.py fails if it is renamed.
        readme = os.path.join(working_dir, "README.md")
        pushed_tags = (ModelCard.load(readme).data.tags or []) if os.path.isfile(readme) else []
        card = model_card(self, working_dir, repo_id=repo_id)
        card.data.tags += [tag for tag in pushed_tags if tag not in card.data.tags]
        card.save(readme)
        if not runs_pipeline(working_dir):
            logger.warning(f"{type(self).__name__}.push_to_hub publishes the model alone (weights, config, code and "
                           f"card) to {repo_id}: without the image processor and pipeline code, "
                           f"pipeline(\"{TASK}\", model=\"{repo_id}\", trust_remote_code=True) cannot run from it. "
                           f"epir_hf.push_to_hub(model, image_processor, \"{repo_id}\") publishes all of them.")
        return super()._upload_modified_files(working_dir, repo_id, *args, **kwargs)


def write_model_card(save_directory: str | os.PathLike, model: PreTrainedModel, image_processor: Any = None,
                     record: TrainingRecord | None = None, repo_id: str | None = None) -> None:
    """Write the card of the folder to `save_directory/README.md`, replacing any card already there."""
    model_card(model, save_directory, image_processor, record, repo_id).save(os.path.join(save_directory, "README.md"))


__all__ = ["ModelCardMixin", "TrainingRecord", "library_versions", "model_card", "pip_requirements", "runs_pipeline",
           "write_model_card"]
