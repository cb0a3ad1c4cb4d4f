"""The file `epir-hf predict` writes: one row per input, as JSON lines or CSV, appended to as inputs finish.

Why append-only: a run over thousands of inputs gets interrupted. Each row is written and flushed when its input
is done, and a re-run reads the file back and skips the inputs it already holds, so nothing finished is computed
twice and nothing is lost. A line cut off by an interruption is dropped on the re-run (its input is predicted again).
A file whose rows have other columns (another model's classes, or not this command's file) is refused, so that one
file never mixes two label sets.

The columns: `id`, `onset`, `apex` (a pair's image files), `video` (a video file or folder of frames), `onset_index`
and `apex_index` (the frames a video's prediction used), `label` and `score` (the most probable class and its
probability), `reliable_motion` (False: the face barely moved, the scores mean little) and the probability of each
class: `probabilities` ({label: probability}) in JSON lines, one column `p_<label>` per class in CSV.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any

from .predict_inputs import Sample

FORMATS = (".jsonl", ".csv")
COLUMNS = ("id", "onset", "apex", "video", "onset_index", "apex_index", "label", "score", "reliable_motion")


def prediction_row(sample: Sample, result: dict[str, Any], labels: list[str]) -> dict[str, Any]:
    """The row of one pipeline result (predictions of every class, best first)."""
    probabilities = {prediction["label"]: prediction["score"] for prediction in result["predictions"]}
    best = result["predictions"][0]
    return {"id": sample.id, "onset": sample.onset, "apex": sample.apex, "video": sample.video,
            "onset_index": result.get("onset_index"), "apex_index": result.get("apex_index"),
            "label": best["label"], "score": best["score"], "reliable_motion": result["reliable_motion"],
            "probabilities": {label: probabilities[label] for label in labels}}


class PredictionFile:
    """The output file of `path`, for a model whose classes are `labels` (in the model's order)."""

    def __init__(self, path: str | os.PathLike, labels: list[str]):
        self.path, self.labels = Path(path), list(labels)
        self.format = check_output_path(path)
        self.csv_columns = [*COLUMNS, *(f"p_{label}" for label in self.labels)]

    def _complete_text(self) -> tuple[str, int]:
        """The file's complete lines, and how many bytes of a cut-off last line follow them."""
        if not self.path.is_file():
            return "", 0
        data = self.path.read_bytes()
        end = data.rfind(b"\n") + 1
        return data[:end].decode("utf-8"), len(data) - end

    def done(self) -> set[tuple[str, str, str, str]]:
        """The keys (`Sample.key`) of the inputs the file already holds; a `ValueError` if it is not a file of
        predictions of this model."""
        text, _ = self._complete_text()
        if not text:
            return set()
        rows = self._read_csv(text) if self.format == ".csv" else self._read_jsonl(text)
        return {tuple(str(row.get(name) or "") for name in ("id", "onset", "apex", "video")) for row in rows}

    def _read_csv(self, text: str) -> list[dict[str, str]]:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        if reader.fieldnames != self.csv_columns:
            raise ValueError(f"--output {self.path}: its columns {reader.fieldnames} are not those of this model's "
                             f"predictions {self.csv_columns}; choose another --output")
        return list(reader)

    def _read_jsonl(self, text: str) -> list[dict[str, Any]]:
        rows = []
        for number, line in enumerate(text.splitlines(), start=1):
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                row = None
            if not isinstance(row, dict) or list(row.get("probabilities") or {}) != self.labels:
                raise ValueError(f"--output {self.path}: line {number} is not a prediction of this model (classes "
                                 f"{self.labels}); choose another --output")
            rows.append(row)
        return rows

    def open(self) -> PredictionWriter:
        """The file opened for appending rows, a line cut off by an interruption dropped first."""
        _, cut_off = self._complete_text()
        if cut_off:
            with self.path.open("r+b") as handle:
                handle.truncate(self.path.stat().st_size - cut_off)
        return PredictionWriter(self)


class PredictionWriter:
    """Appends rows to a `PredictionFile`, each flushed as it is written; use as a context manager."""

    def __init__(self, file: PredictionFile):
        self.file = file
        new = not file.path.is_file() or file.path.stat().st_size == 0
        self.handle = file.path.open("a", newline="", encoding="utf-8")
        self.csv = None
        if file.format == ".csv":
            self.csv = csv.DictWriter(self.handle, fieldnames=file.csv_columns)
            if new:
                self.csv.writeheader()

    def write(self, row: dict[str, Any]) -> None:
        if self.csv is None:
            self.handle.write(json.dumps(row) + "\n")
        else:
            flat = {key: "" if value is None else value for key, value in row.items() if key != "probabilities"}
            self.csv.writerow({**flat, **{f"p_{label}": p for label, p in row["probabilities"].items()}})
        self.handle.flush()

    def __enter__(self) -> PredictionWriter:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.handle.close()


def check_output_path(path: str | os.PathLike) -> str:
    """The format of `path` (".jsonl" or ".csv"); a `ValueError` for another extension or a missing folder."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"--output {path}: expected a .jsonl or .csv file")
    if not Path(path).parent.is_dir():
        raise FileNotFoundError(f"--output {path}: its folder {Path(path).parent} does not exist")
    return suffix
