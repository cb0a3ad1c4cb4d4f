"""Emotion vocabularies of each corpus and the class sets ("tasks") built on them.

Why: every corpus annotates emotions with its own words, and the literature evaluates each
corpus on several class sets. Keeping the full vocabulary of a corpus (including the emotions a
task drops) lets a loader tell "dropped on purpose" from "a string nobody expected", which is an
error the user must see.

Sources of the mappings:
- CASME II 5-class (happiness, surprise, disgust, repression, others; fear and sadness dropped) and
  SAMM 5-class (anger, contempt, happiness, surprise, other; disgust, fear and sadness dropped):
  the protocols used by most MER papers on these corpora (e.g. the tables of HTNet and EPIR).
- 3-class (negative, positive, surprise): the MEGC2019 composite protocol (See et al., FG 2019):
  negative <- anger, contempt, disgust, fear, sadness, repression; positive <- happiness;
  surprise <- surprise; "others" dropped.
- CAS(ME)^3 part A (Li et al., TPAMI 2022, doi:10.1109/TPAMI.2022.3174895): 7-class = the seven
  annotated emotions; 4-class = negative (anger, disgust, fear, sad), positive (happy), surprise,
  others; 3-class = the 4-class set without "others".
"""

from __future__ import annotations

from dataclasses import dataclass

THREE_CLASSES = ("negative", "positive", "surprise")

_NEGATIVE = ("anger", "contempt", "disgust", "fear", "sadness", "sad", "repression")
_POSITIVE = ("happiness", "happy")


def _three_class(emotion: str) -> str | None:
    if emotion in THREE_CLASSES:  # SMIC and the derived releases are annotated with the classes
        return emotion
    if emotion in _NEGATIVE:
        return "negative"
    if emotion in _POSITIVE:
        return "positive"
    return None


@dataclass(frozen=True)
class Task:
    """A class set: class names (label order) and the class of every known emotion (None = dropped)."""

    name: str
    class_names: tuple[str, ...]
    mapping: dict[str, str | None]

    def describe(self) -> str:
        kept = {e: c for e, c in sorted(self.mapping.items()) if c is not None}
        dropped = sorted(e for e, c in self.mapping.items() if c is None)
        return f"task {self.name!r}: {kept}" + (f", dropped: {dropped}" if dropped else "")


def _task(name: str, vocabulary: tuple[str, ...], classify) -> Task:
    mapping = {emotion: classify(emotion) for emotion in vocabulary}
    class_names = tuple(dict.fromkeys(c for c in (classify(e) for e in vocabulary) if c is not None))
    if name == "3class":
        class_names = THREE_CLASSES  # fixed order, shared with EPIRConfig.id2label
    return Task(name, class_names, mapping)


def _keep(kept: tuple[str, ...]):
    return lambda emotion: emotion if emotion in kept else None


_CASME2 = ("happiness", "surprise", "disgust", "repression", "others", "fear", "sadness")
_SAMM = ("anger", "contempt", "happiness", "surprise", "other", "disgust", "fear", "sadness")
_SMIC = THREE_CLASSES
_CASME3 = ("anger", "disgust", "fear", "happy", "sad", "surprise", "others")


def _casme3_four(emotion: str) -> str | None:
    return "others" if emotion == "others" else _three_class(emotion)


TASKS: dict[str, dict[str, Task]] = {
    "casme2": {
        "3class": _task("3class", _CASME2, _three_class),
        "5class": _task("5class", _CASME2, _keep(("happiness", "surprise", "disgust", "repression", "others"))),
    },
    "samm": {
        "3class": _task("3class", _SAMM, _three_class),
        "5class": _task("5class", _SAMM, _keep(("anger", "contempt", "happiness", "surprise", "other"))),
    },
    "smic": {"3class": _task("3class", _SMIC, _three_class)},
    "casme3": {
        "3class": _task("3class", _CASME3, _three_class),
        "4class": _task("4class", _CASME3, _casme3_four),
        "7class": _task("7class", _CASME3, _keep(_CASME3)),
    },
}
# The composite is labelled per part with that part's own 3-class task; this entry is the union.
TASKS["megc2019_composite"] = {"3class": _task("3class", tuple(dict.fromkeys(_CASME2 + _SAMM + _SMIC)), _three_class)}
# The flow release and the generated corpora (synthetic, synthetic_long) are annotated with the three class names.
TASKS["megc2019_composite_flow"] = {"3class": _task("3class", THREE_CLASSES, _three_class)}
TASKS["synthetic"] = TASKS["megc2019_composite_flow"]
TASKS["synthetic_long"] = TASKS["megc2019_composite_flow"]
# The generated AU corpus: the three classes, plus the samples whose AUs are a random set (AU supervision only).
TASKS["synthetic_au"] = {"3class": Task("3class", (*THREE_CLASSES, "random"),
                                        {name: name for name in (*THREE_CLASSES, "random")})}

DEFAULT_TASK = "3class"


def get_task(corpus: str, task: str | None) -> Task:
    """The `task` of `corpus` (default 3-class), or a ValueError listing the tasks it has."""
    tasks = TASKS[corpus]
    name = DEFAULT_TASK if task is None else task
    if name not in tasks:
        raise ValueError(f"{corpus} has no task {task!r}; available tasks: {sorted(tasks)}")
    return tasks[name]


def normalise_emotion(emotion: object) -> str:
    """Annotation sheets differ in case and stray spaces ("Happiness ", "happiness")."""
    return str(emotion).strip().lower()
