"""Tiny corpora in the official layouts of CASME II, SAMM, SMIC-HS, CAS(ME)^3, the composite flow
release and the long-video corpora (CAS(ME)^2, SAMM Long Videos, CAS(ME)^3 part A), built in temp
dirs for the dataset_scripts tests.

Every frame is a small constant-gray image whose gray level encodes its frame number (and the
release), so a test can tell which file a loader picked by looking at the decoded pixels.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd

FRAME_SIDE = 16


def frame_value(number: int, offset: int = 0) -> int:
    """The gray level of frame `number` (offset separates the raw and cropped releases)."""
    return (number * 3 + offset) % 200 + 20


def write_frame(path: Path, number: int, offset: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = np.full((FRAME_SIDE, FRAME_SIDE), frame_value(number, offset), np.uint8)
    if not cv2.imwrite(str(path), image):
        raise OSError(f"could not write {path}")


def pixel_value(image) -> float:
    return float(np.asarray(image.convert("L"), dtype=np.float32).mean())


def write_workbook(path: Path, sheets: dict[str, list[list]]) -> Path:
    """An .xlsx written with openpyxl, one sheet per entry in order, each row as given (no header added)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        for name, rows in sheets.items():
            width = max((len(r) for r in rows), default=0)
            frame = pd.DataFrame([list(r) + [None] * (width - len(r)) for r in rows])
            frame.to_excel(writer, sheet_name=name, header=False, index=False)
    return path


def write_sheet(path: Path, header: list[str], rows: list[list], title_rows: list[list] = (),
                sheet_name: str = "Sheet1", extra_sheets: dict[str, pd.DataFrame] | None = None) -> Path:
    """An .xlsx written with openpyxl, optionally with title rows above the header (as SAMM has)."""
    sheets = {name: [list(extra.columns), *extra.values.tolist()] for name, extra in (extra_sheets or {}).items()}
    sheets[sheet_name] = [list(r) for r in title_rows] + [header] + [list(r) for r in rows]
    return write_workbook(path, sheets)


# ----------------------------------------------------------------------------- CASME II

CASME2_HEADER = ["Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame", "Action Units",
                 "Estimated Emotion"]
CASME2_ROWS = [
    [1, "EP02_01f", 10, 12, 15, "12", "happiness"],
    [1, "EP03_02", 20, 23, 26, "4", "disgust"],
    [2, "EP01_11f", 5, 7, 9, "1+2", "surprise"],
    [2, "EP04_01", 30, 33, 36, "", "others"],
    [3, "EP05_01", 3, "/", 9, "14", "repression"],   # apex "/" as in the official sheet
    [3, "EP06_02", 1, 2, 3, "4+7", "Fear "],         # case and stray space as in real sheets
]
CASME2_RAW_OFFSET = 100


def casme2_tree(root: Path, rows: list[list] = CASME2_ROWS, frames: bool = True) -> Path:
    write_sheet(root / "CASME2-coding-20140508.xlsx", CASME2_HEADER, rows)
    if frames:
        for subject, filename, onset, _, offset, *_ in rows:
            for n in range(int(onset), int(offset) + 1):
                folder = root / f"sub{int(subject):02d}" / filename
                write_frame(folder / f"reg_img{n}.jpg", n)
                write_frame(folder / f"img{n}.jpg", n, CASME2_RAW_OFFSET)
    return root


# ----------------------------------------------------------------------------- SAMM

SAMM_HEADER = ["Subject", "Filename", "Inducement Code", "Onset Frame", "Apex Frame", "Offset Frame", "Duration",
               "Type", "Action Units", "Notes", "Estimated Emotion"]
SAMM_ROWS = [
    [6, "006_1_2", 1, 5562, 5565, 5568, 7, "Micro - 1/2", "R14", "", "Contempt"],
    [6, "006_1_3", 1, 100, 102, 104, 5, "Micro - 1/2", "12", "", "Happiness"],
    [7, "007_3_1", 3, 40, 41, 44, 5, "Micro - 1/2", "1+2", "", "Surprise"],
    [7, "007_6_2", 6, 60, 62, 63, 4, "Micro - 1/2", "4", "", "Other"],
    [9, "009_2_1", 2, 10, 13, 15, 6, "Micro - 1/2", "4+7", "", "Anger"],
]
SAMM_TITLE = [["SAMM Micro Movements - FACS Codes"], [], ["Coded by two FACS coders"]]


def samm_tree(root: Path, rows: list[list] = SAMM_ROWS) -> Path:
    write_sheet(root / "SAMM_Micro_FACS_Codes_v2.xlsx", SAMM_HEADER, rows, title_rows=SAMM_TITLE)
    for subject, filename, _, onset, _, offset, *_ in rows:
        sub = f"{int(subject):03d}"
        for n in range(onset, offset + 1):
            write_frame(root / "SAMM" / sub / filename / f"{sub}_{n:05d}.jpg", n)
    return root


# ----------------------------------------------------------------------------- SMIC-HS

# (subject number, emotion folder, clip code, clip index, first frame, frame count)
SMIC_CLIPS = [
    (1, "negative", "ne", "01", 101, 7),
    (1, "positive", "po", "01", 201, 5),
    (2, "surprise", "sur", "03", 301, 6),
    (12, "negative", "ne", "02", 401, 4),
]


def smic_tree(root: Path, clips=SMIC_CLIPS) -> Path:
    for subject, emotion, code, index, first, count in clips:
        folder = root / "HS" / f"s{subject}" / "micro" / emotion / f"s{subject}_{code}_{index}"
        for n in range(first, first + count):
            write_frame(folder / f"reg_image{n:06d}.bmp", n)
    return root


# ----------------------------------------------------------------------------- CAS(ME)^3

CASME3_HEADER = ["Subject", "Filename", "Onset", "Apex", "Offset", "AU", "Objective class", "emotion"]
CASME3_ROWS = [
    ["spNO.1", "a", 10, 12, 14, "12", "I", "happy"],
    ["spNO.1", "a", 20, 22, 24, "4", "II", "disgust"],   # a second ME in the same video
    ["spNO.2", "b", 0, 3, 5, "1+2", "III", "surprise"],
    ["spNO.2", "c", 5, 6, 8, "", "VII", "others"],
    ["spNO.3", "d", 1, 2, 3, "4", "II", "Anger"],
    ["spNO.3", "e", 4, 5, 6, "15", "II", "sad"],
    ["spNO.3", "f", 1, 3, 5, "20", "II", "fear"],
]


def casme3_tree(root: Path, rows: list[list] = CASME3_ROWS) -> Path:
    notes = pd.DataFrame({"note": ["frame indices refer to color/{N}.jpg"]})
    write_sheet(root / "cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx", CASME3_HEADER, rows, sheet_name="label",
                extra_sheets={"readme": notes})
    for subject, filename, onset, _, offset, *_ in rows:
        for n in range(onset, offset + 1):
            write_frame(root / subject / filename / "color" / f"{n}.jpg", n)
    return root


# ----------------------------------------------------------------------------- composite flow release

FLOW_ROWS = [
    ("casme2", "sub01", "EP02_01f", 1),
    ("casme2", "sub01", "EP19_05f", 0),
    ("samm", "006", "006_1_2", 0),
    ("smic", "s01", "s01_sur_01", 2),
    ("smic", "s02", "s02_po_01", 1),
]


def flow_release_tree(root: Path, rows=FLOW_ROWS, labels: list | None = None) -> Path:
    (root / "flow").mkdir(parents=True, exist_ok=True)
    table = pd.DataFrame(rows, columns=["dataset", "sub", "filename_o", "label"])
    if labels is not None:
        table["label"] = labels
    table["apex"] = ""
    table["imagename"] = table["sub"] + "_" + table["filename_o"] + ".jpg"
    table.to_csv(root / "labels.csv", index=False)
    rng = np.random.default_rng(0)
    for _, sub, filename, _ in rows:
        flow = rng.integers(0, 256, (28, 28, 3), dtype=np.uint8)
        cv2.imwrite(str(root / "flow" / f"{sub}_{filename} .png"), flow)
    return root


# ----------------------------------------------------------------------------- long videos

def write_frames(folder: Path, numbers, name: str = "{}.jpg") -> None:
    """One tiny frame per number, its file named by `name.format(number)`."""
    for n in numbers:
        write_frame(folder / name.format(n), n)


# CAS(ME)^2: a coding sheet without header, then the two naming sheets (no header either).
CASME2_LONG_CODES = [
    [1, "disgust1_1", 3, 5, 8, "4+7", "negative", "micro-expression", "disgust"],
    [1, "disgust1_2", 20, 0, 40, "4", "negative", "macro-expression", "disgust"],   # apex 0: none annotated
    [1, "disgust2_1", 10, 12, 0, "12", "positive", "macro-expression", "happy"],    # offset 0: none annotated
    [2, "anger1_1", 95, 99, 101, "4", "negative", "micro-expression", "anger"],     # across img099 / img100
]
CASME2_LONG_SUBJECTS = [[15, "s15", 1], [16, "s16", 2]]
CASME2_LONG_VIDEOS = [[101, "disgust1"], ["0102", "disgust2"], [401, "anger1"], [502, "funny2"]]  # codes as both
# (subject folder, recording folder, number of frames from img001)
CASME2_LONG_FOLDERS = [("s15", "15_0101disgustingteeth", 50), ("s15", "15_0102eatingworms", 30),
                       ("s16", "16_0401girlcrashing", 110), ("s16", "16_0502funnyerrors", 10)]


def casme2_long_tree(root: Path, codes: list[list] = CASME2_LONG_CODES, naming: dict | None = None) -> Path:
    naming = {"naming rule1": CASME2_LONG_SUBJECTS, "naming rule2": CASME2_LONG_VIDEOS} if naming is None else naming
    write_workbook(root / "CAS(ME)^2code_final.xlsx", {"CASFEcode_final": codes, **naming})
    for subject, recording, count in CASME2_LONG_FOLDERS:
        write_frames(root / "rawpic" / subject / recording, range(1, count + 1), "img{:03d}.jpg")
    return root


# SAMM Long Videos: the table below nine title rows.
SAMM_LONG_HEADER = ["Subject", "Filename", "Inducement Code", "Onset", "Apex", "Offset", "Duration", "Type",
                    "Action Units", "Notes"]
SAMM_LONG_TITLE = [["SAMM Long Videos"], [], ["Macro- and micro-movements"], [], ["Onset, Apex, Offset: frame numbers"],
                   [], ["Type: Macro or Micro - 1/2"], [], ["Release V2"]]
SAMM_LONG_ROWS = [
    ["006", "006_1_1", 1, 5, 9, 14, 10, "Macro", "4+7", ""],
    ["006", "006_1_2", 1, 20, -1, 30, 11, "Micro - 1/2", "12", "While blinking"],   # apex -1: none annotated
    [7, "007_3_1", 3, 2, 4, 6, 5, "Micro - 1/2", "1+2", ""],
]
SAMM_LONG_FOLDERS = {"006_1": 40, "007_3": 12, "006_2": 8}  # recording -> frames, numbered from 1


def samm_long_tree(root: Path, rows: list[list] = SAMM_LONG_ROWS, header: list[str] = SAMM_LONG_HEADER) -> Path:
    write_sheet(root / "SAMM_LongVideos_V2_Release.xlsx", header, rows, title_rows=SAMM_LONG_TITLE)
    for recording, count in SAMM_LONG_FOLDERS.items():
        write_frames(root / "SAMM_longvideos" / recording, range(1, count + 1), recording + "_{:04d}.jpg")
    return root


# CAS(ME)^3 part A: the micro- and the macro-expression sheets, frames numbered from where each recording starts.
CASME3_LONG_ME_HEADER = ["Subject", "Filename", "Onset", "Apex", "Offset", "AU", "Objective class", "emotion"]
CASME3_LONG_ME_ROWS = [
    ["spNO.1", "a", 12, 14, 16, "12", "I", "happy"],
    ["spNO.1", "A", 30, 31, 33, "4", "II", "disgust"],   # upper case in the sheet, folder `a`
    ["spNO.2", "c", 5, None, 9, "", "VII", "others"],     # no apex annotated
]
CASME3_LONG_MAE_HEADER = ["sub", "seq", "onset", "apex", "offset", "AU", "emotion"]
CASME3_LONG_MAE_ROWS = [
    ["spNO.1", "a", 20, 25, 40, "6+12", "happy"],
    ["spNO.2", "b", 8, 10, 15, "4", "anger"],
]
CASME3_LONG_FOLDERS = {("spNO.1", "a"): range(8, 48), ("spNO.2", "b"): range(6, 26), ("spNO.2", "c"): range(2, 13),
                       ("spNO.2", "d"): range(0, 5)}


def casme3_long_tree(root: Path, me_rows: list[list] = CASME3_LONG_ME_ROWS,
                     mae_rows: list[list] = CASME3_LONG_MAE_ROWS,
                     mae_header: list[str] = CASME3_LONG_MAE_HEADER) -> Path:
    write_sheet(root / "cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx", CASME3_LONG_ME_HEADER, me_rows, sheet_name="label")
    write_sheet(root / "cas(me)3_part_A_MaE_label_JpgIndex_v2_emotion.xlsx", mae_header, mae_rows)
    for (subject, recording), numbers in CASME3_LONG_FOLDERS.items():
        write_frames(root / subject / recording / "color", numbers)
        (root / subject / recording / "depth").mkdir()
    return root
