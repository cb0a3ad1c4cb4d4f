"""What `epir-hf predict` reads: its INPUT arguments turned into the samples the recognition pipeline takes.

Why a rule of its own: users hold their material as loose onset/apex images, sheets of pairs, videos, or folders of
those, and the command should take each as it is. The rule, in the order it is applied to each argument:

- an image file is an onset, and the next argument must be its apex image: together one pair;
- a `.csv` file lists pairs, one a row, in the columns `onset` and `apex` (paths relative to the CSV's folder) and
  an optional `id`;
- a folder holding image files is one clip: its frames in the natural order of their names, the first the onset and
  the apex spotted, as the pipeline and `epir-hf spot` read a folder (a folder of two images is thus one pair);
- any other folder holds inputs: its video files and its subfolders of frame images, each one input, in the natural
  order of their names (other files are left out);
- anything else is a video file.

Each sample has an `id` (the CSV's, else the onset image or the video's path) and is known by its id and paths, the
`key` under which a re-run finds it done in the output file. A bad CSV or folder is a failed input of its own, so the
other inputs go on; an image without its apex is a usage error, since the arguments cannot be read as pairs.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from ..video_frames import frame_files, natural_key

IMAGE_EXTENSIONS = frozenset(Image.registered_extensions())
VIDEO_EXTENSIONS = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv",
                              ".mts", ".3gp"})
"""The files a folder of inputs offers as videos (a video named on the command line may have any extension)."""
PAIR_COLUMNS = ("onset", "apex")


@dataclass(frozen=True)
class Sample:
    """One input of the recognition pipeline: an (onset, apex) pair of image files, or a video (file or folder)."""

    id: str
    onset: str = ""
    apex: str = ""
    video: str = ""

    @property
    def key(self) -> tuple[str, str, str, str]:
        """What a row of the output file must match for this sample to count as done."""
        return self.id, self.onset, self.apex, self.video

    def pipeline_input(self) -> dict[str, Any]:
        """The pipeline's dict input; its `name` (the id) begins the pipeline's error messages."""
        if self.video:
            return {"video": self.video, "name": self.id}
        return {"onset": self.onset, "apex": self.apex, "name": self.id}


@dataclass(frozen=True)
class BadInput:
    """An argument (or a row of a CSV) that yields no sample, and why."""

    input: str
    reason: str


def is_image(path: str | os.PathLike) -> bool:
    return os.path.splitext(os.fspath(path))[1].lower() in IMAGE_EXTENSIONS


def read_inputs(arguments: list[str]) -> tuple[list[Sample], list[BadInput]]:
    """The samples of the INPUT arguments in order, and the arguments that yield none.

    A `ValueError` when an image is not followed by its apex image: the arguments cannot be paired.
    """
    samples, bad, position = [], [], 0
    while position < len(arguments):
        argument = arguments[position]
        if is_image(argument) and not os.path.isdir(argument):
            apex = arguments[position + 1] if position + 1 < len(arguments) else None
            if apex is None or not is_image(apex):
                raise ValueError(f"{argument}: an onset image must be followed by its apex image, got "
                                 f"{'nothing' if apex is None else repr(apex)}")
            samples.append(Sample(id=argument, onset=argument, apex=apex))
            position += 2
            continue
        position += 1
        try:
            if argument.lower().endswith(".csv") and not os.path.isdir(argument):
                found = read_pair_sheet(argument)
                samples.extend(item for item in found if isinstance(item, Sample))
                bad.extend(item for item in found if isinstance(item, BadInput))
            elif os.path.isdir(argument):
                samples.extend(read_folder(argument))
            else:
                samples.append(Sample(id=argument, video=argument))
        except (ValueError, OSError) as error:
            bad.append(BadInput(argument, str(error)))
    return samples, bad


def read_pair_sheet(path: str) -> list[Sample | BadInput]:
    """The pairs a CSV lists (columns `onset`, `apex`, optional `id`), a row with an empty cell as a `BadInput`.

    A `ValueError` names the file when it is not such a CSV."""
    if not os.path.isfile(path):
        raise FileNotFoundError("no such CSV file")
    try:
        return _pair_rows(path)
    except csv.Error as error:
        raise ValueError(f"not a readable CSV ({error})") from None


def _pair_rows(path: str) -> list[Sample | BadInput]:
    folder = Path(path).parent
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        columns = [name.strip() for name in reader.fieldnames or []]
        if not set(PAIR_COLUMNS) <= set(columns):
            raise ValueError(f"a CSV of pairs needs the columns onset and apex (and optionally id); it has "
                             f"{columns or 'no header'}")
        found: list[Sample | BadInput] = []
        for line, row in enumerate(reader, start=2):
            row = {key.strip(): (value or "").strip() for key, value in row.items() if key is not None}
            empty = [name for name in PAIR_COLUMNS if not row.get(name)]
            if empty:
                found.append(BadInput(f"{path} line {line}", f"empty {' and '.join(empty)}"))
                continue
            onset, apex = (os.fspath(folder / row[name]) for name in PAIR_COLUMNS)
            found.append(Sample(id=row.get("id") or onset, onset=onset, apex=apex))
    return found


def read_folder(folder: str) -> list[Sample]:
    """A folder of frame images as one clip, or the videos and frame folders it holds (see the module doc)."""
    if holds_images(folder):
        return [Sample(id=folder, video=folder)]
    entries = sorted(os.scandir(folder), key=lambda entry: natural_key(entry.name))
    samples = [Sample(id=entry.path, video=entry.path) for entry in entries
               if entry.is_file() and os.path.splitext(entry.name)[1].lower() in VIDEO_EXTENSIONS
               or entry.is_dir() and holds_images(entry.path)]
    if not samples:
        raise ValueError(f"the folder holds no image files, no videos ({', '.join(sorted(VIDEO_EXTENSIONS))}) and "
                         "no folders of frame images")
    return samples


def holds_images(folder: str) -> bool:
    try:
        frame_files(folder)
    except ValueError:
        return False
    return True
