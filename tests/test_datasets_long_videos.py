"""The long-video corpora on fixture trees in their official layouts: rows, positions, codes, and every bad input.

Expected positions are the fixture's annotated frame numbers minus the first frame number of the recording's folder
(1 for CAS(ME)^2 and SAMM Long Videos, where each folder starts at frame 1; the folder's own first number for
CAS(ME)^3), worked out by hand from tests/_me_fixtures.py.
"""

from __future__ import annotations

import shutil

import pytest
from _me_fixtures import (
    CASME2_LONG_CODES,
    CASME2_LONG_SUBJECTS,
    CASME3_LONG_MAE_HEADER,
    CASME3_LONG_ME_ROWS,
    SAMM_LONG_HEADER,
    SAMM_LONG_ROWS,
    casme2_long_tree,
    casme3_long_tree,
    samm_long_tree,
    write_frame,
)

from dataset_scripts import load_me_dataset
from dataset_scripts.long_videos import LONG_VIDEO_FEATURES, NO_APEX
from dataset_scripts.prepare import main as prepare_main


@pytest.fixture
def cache(tmp_path):
    return tmp_path / "cache"


def by_video(dataset) -> dict:
    return {row["video_id"]: row for row in dataset}


def intervals_of(row) -> list[tuple]:
    return list(zip(row["onset"], row["apex"], row["offset"], row["kind"], row["emotion"]))


# ----------------------------------------------------------------------------- the three layouts

def test_casme2_long_rows_positions_and_codes(tmp_path, cache):
    root = casme2_long_tree(tmp_path / "CASME_sq")
    with pytest.warns(UserWarning, match=r"(?s)1 row\(s\) read with a special code:.*row 3: offset 0 .* apex 12"):
        ds = load_me_dataset("casme2_long", root, cache_dir=cache)
    assert ds.features == LONG_VIDEO_FEATURES
    rows = by_video(ds)
    assert sorted(rows) == ["15_0101disgustingteeth", "15_0102eatingworms", "16_0401girlcrashing",
                            "16_0502funnyerrors"]
    assert intervals_of(rows["15_0101disgustingteeth"]) == [(2, 4, 7, "micro", "negative"),
                                                             (19, NO_APEX, 39, "macro", "negative")]
    assert intervals_of(rows["15_0102eatingworms"]) == [(9, 11, 11, "macro", "positive")]  # offset := apex
    assert intervals_of(rows["16_0401girlcrashing"]) == [(94, 98, 100, "micro", "negative")]
    assert intervals_of(rows["16_0502funnyerrors"]) == []  # a recording without expressions is still a row
    girl = rows["16_0401girlcrashing"]
    assert (girl["subject"], girl["dataset"], girl["fps"], girl["num_frames"]) == ("s16", "casme2_long", 30.0, 110)
    assert girl["video"] == str((root / "rawpic" / "s16" / "16_0401girlcrashing").absolute())


def test_samm_long_rows_positions_and_codes(tmp_path, cache):
    root = samm_long_tree(tmp_path / "SAMMLV")
    rows = by_video(load_me_dataset("samm_long", root, cache_dir=cache))
    assert sorted(rows) == ["006_1", "006_2", "007_3"]
    assert intervals_of(rows["006_1"]) == [(4, 8, 13, "macro", ""), (19, NO_APEX, 29, "micro", "")]
    assert intervals_of(rows["007_3"]) == [(1, 3, 5, "micro", "")]
    assert intervals_of(rows["006_2"]) == []
    assert [rows[v]["subject"] for v in ("006_1", "006_2", "007_3")] == ["006", "006", "007"]
    assert (rows["006_1"]["fps"], rows["006_1"]["num_frames"]) == (200.0, 40)


def test_casme3_long_merges_both_sheets_and_shifts_by_the_first_frame(tmp_path, cache):
    root = casme3_long_tree(tmp_path / "CASME3")
    rows = by_video(load_me_dataset("casme3_long", root, cache_dir=cache))
    assert sorted(rows) == ["spNO.1_a", "spNO.2_b", "spNO.2_c", "spNO.2_d"]
    # spNO.1/a/color starts at 8.jpg; the sheet's "A" is folder a.
    assert intervals_of(rows["spNO.1_a"]) == [(4, 6, 8, "micro", "happy"), (12, 17, 32, "macro", "happy"),
                                              (22, 23, 25, "micro", "disgust")]
    assert intervals_of(rows["spNO.2_b"]) == [(2, 4, 9, "macro", "anger")]    # starts at 6.jpg
    assert intervals_of(rows["spNO.2_c"]) == [(3, NO_APEX, 7, "micro", "others")]   # starts at 2.jpg
    assert intervals_of(rows["spNO.2_d"]) == []
    assert rows["spNO.1_a"]["video"] == str((root / "spNO.1" / "a" / "color").absolute())
    assert (rows["spNO.1_a"]["num_frames"], rows["spNO.2_d"]["num_frames"], rows["spNO.1_a"]["fps"]) == (40, 5, 30.0)


def test_cached_reload_does_not_scan_the_frames(tmp_path, cache):
    root = samm_long_tree(tmp_path / "SAMMLV")
    first = load_me_dataset("samm_long", root, cache_dir=cache)
    shutil.rmtree(root / "SAMM_longvideos" / "007_3")  # would fail a scan
    assert load_me_dataset("samm_long", root, cache_dir=cache)["video_id"] == first["video_id"]
    with pytest.raises(FileNotFoundError):
        load_me_dataset("samm_long", root, cache_dir=cache, use_cache=False)


def test_prepare_command_line_counts_intervals_by_kind(tmp_path, cache, capsys):
    root = samm_long_tree(tmp_path / "SAMMLV")
    prepare_main(["samm_long", "--data_dir", str(root), "--output", str(tmp_path / "out"), "--cache_dir", str(cache)])
    printed = capsys.readouterr().out
    assert "3 videos, 2 subjects" in printed
    assert "samm_long  macro        1" in printed and "samm_long  micro        2" in printed


# ----------------------------------------------------------------------------- missing or renamed columns

def test_a_renamed_column_is_named_with_the_columns_found(tmp_path, cache):
    header = [("Kind" if c == "Type" else c) for c in SAMM_LONG_HEADER]
    root = samm_long_tree(tmp_path / "SAMMLV", header=header)
    with pytest.raises(ValueError, match=r"SAMM_LongVideos_V2_Release.xlsx has no table with the columns .*: the "
                                         r"header in sheet 'Sheet1' row 10 lacks \['Type'\]; its columns: "
                                         r"\['Subject', 'Filename', .*'Kind'"):
        load_me_dataset("samm_long", root, cache_dir=cache)
    mae = [("video" if c == "seq" else c) for c in CASME3_LONG_MAE_HEADER]
    root = casme3_long_tree(tmp_path / "CASME3", mae_header=mae)
    with pytest.raises(ValueError, match=r"MaE_label_JpgIndex_v2_emotion.xlsx has no table .* lacks \['seq'\]; "
                                         r"its columns: \['sub', 'video', 'onset'"):
        load_me_dataset("casme3_long", root, cache_dir=cache)


def test_casme2_long_sheets_without_their_columns_or_sheets(tmp_path, cache):
    root = casme2_long_tree(tmp_path / "few", codes=[row[:5] for row in CASME2_LONG_CODES])
    with pytest.raises(ValueError, match=r"code_final.xlsx: sheet 'CASFEcode_final' has 5 column\(s\); the coding "
                                         r"sheet has no header row and the columns \['subject', 'clip', 'onset'"):
        load_me_dataset("casme2_long", root, cache_dir=cache)
    root = casme2_long_tree(tmp_path / "nosheet", naming={"naming rule1": CASME2_LONG_SUBJECTS})
    with pytest.raises(ValueError, match=r"code_final.xlsx has no sheet \['naming rule2'\]; its sheets: "
                                         r"\['CASFEcode_final', 'naming rule1'\]"):
        load_me_dataset("casme2_long", root, cache_dir=cache)


def test_casme2_long_rows_the_naming_sheets_do_not_resolve(tmp_path, cache):
    root = casme2_long_tree(tmp_path / "subject", codes=[[3, *CASME2_LONG_CODES[0][1:]]])
    with pytest.raises(ValueError, match=r"code_final.xlsx row 1: subject 3 is not listed in sheet 'naming rule1'"):
        load_me_dataset("casme2_long", root, cache_dir=cache)
    root = casme2_long_tree(tmp_path / "video", codes=[[1, "sadness3_1", *CASME2_LONG_CODES[0][2:]]])
    with pytest.raises(ValueError, match=r"row 1: the expression video 'sadness3' of clip 'sadness3_1' is not listed "
                                         r"in sheet 'naming rule2'"):
        load_me_dataset("casme2_long", root, cache_dir=cache)


# ----------------------------------------------------------------------------- bad intervals

def test_offset_before_onset_names_file_and_row(tmp_path, cache):
    rows = [list(r) for r in SAMM_LONG_ROWS]
    rows[0][3:6] = [12, 9, 5]  # onset 12, apex 9, offset 5
    root = samm_long_tree(tmp_path / "SAMMLV", rows)
    with pytest.raises(ValueError, match=r"SAMM_LongVideos_V2_Release.xlsx row 11: offset 5 comes before onset 12"):
        load_me_dataset("samm_long", root, cache_dir=cache)


def test_apex_outside_its_interval_names_file_and_row(tmp_path, cache):
    rows = [list(r) for r in CASME3_LONG_ME_ROWS]
    rows[1][3] = 40  # interval 30..33
    root = casme3_long_tree(tmp_path / "CASME3", me_rows=rows)
    with pytest.raises(ValueError, match=r"ME_label_JpgIndex_v2.xlsx row 3: apex 40 lies outside the interval "
                                         r"\[30, 33\]"):
        load_me_dataset("casme3_long", root, cache_dir=cache)


def test_unknown_type_and_unreadable_frame_cells(tmp_path, cache):
    rows = [list(r) for r in SAMM_LONG_ROWS]
    rows[2][7] = "Micro"
    root = samm_long_tree(tmp_path / "type", rows)
    with pytest.raises(ValueError, match=r"row 13: Type 'Micro' is not one of \['macro', 'micro - 1/2'\]"):
        load_me_dataset("samm_long", root, cache_dir=cache)
    codes = [list(r) for r in CASME2_LONG_CODES]
    codes[3][2] = "n/a"
    root = casme2_long_tree(tmp_path / "onset", codes)
    with pytest.raises(ValueError, match=r"code_final.xlsx row 4: onset 'n/a' is not a frame number"):
        load_me_dataset("casme2_long", root, cache_dir=cache)
    rows = [list(r) for r in SAMM_LONG_ROWS]
    rows[1][3] = None
    root = samm_long_tree(tmp_path / "no_onset", rows)
    with pytest.raises(ValueError, match=r"SAMM_LongVideos_V2_Release.xlsx row 12: no Onset annotated"):
        load_me_dataset("samm_long", root, cache_dir=cache)


# ----------------------------------------------------------------------------- frames missing from a folder

def test_a_missing_recording_folder_names_the_row(tmp_path, cache):
    root = samm_long_tree(tmp_path / "SAMMLV")
    shutil.rmtree(root / "SAMM_longvideos" / "007_3")
    with pytest.raises(FileNotFoundError, match=r"SAMM_LongVideos_V2_Release.xlsx row 13: no frame folder for this "
                                                r"row's recording \(.*SAMM_longvideos/007_3\)"):
        load_me_dataset("samm_long", root, cache_dir=cache)


def test_annotated_frames_past_the_last_frame(tmp_path, cache):
    codes = [list(r) for r in CASME2_LONG_CODES]
    codes[0][4] = 60  # 15_0101disgustingteeth holds img001..img050
    root = casme2_long_tree(tmp_path / "CASME_sq", codes)
    with pytest.raises(FileNotFoundError, match=r"code_final.xlsx row 1: offset frame 60 is not in "
                                                r".*15_0101disgustingteeth, which holds the frames 1..50"):
        load_me_dataset("casme2_long", root, cache_dir=cache)


def test_a_frame_folder_with_gaps_or_no_frames(tmp_path, cache):
    root = casme3_long_tree(tmp_path / "CASME3")
    (root / "spNO.2" / "b" / "color" / "10.jpg").unlink()
    with pytest.raises(ValueError, match=r"frame folder .*spNO.2/b/color has gaps in its numbering: 1 of the frames "
                                         r"6..25 are missing \(first: \[10\]\)"):
        load_me_dataset("casme3_long", root, cache_dir=cache)
    for frame in (root / "spNO.2" / "b" / "color").iterdir():
        frame.unlink()
    with pytest.raises(FileNotFoundError, match=r"no frame matching '\(\\\\d\+\)\\\\.jpg' in .*spNO.2/b/color"):
        load_me_dataset("casme3_long", root, cache_dir=cache)


def test_two_files_with_one_frame_number(tmp_path, cache):
    root = casme2_long_tree(tmp_path / "CASME_sq")
    write_frame(root / "rawpic" / "s16" / "16_0502funnyerrors" / "img7.jpg", 7)  # img007.jpg exists
    with pytest.raises(ValueError, match=r"16_0502funnyerrors: img(00)?7\.jpg and img(00)?7\.jpg are both frame 7"):
        load_me_dataset("casme2_long", root, cache_dir=cache)


def test_not_strict_skips_bad_rows_and_folders_with_one_warning(tmp_path, cache):
    rows = [list(r) for r in CASME3_LONG_ME_ROWS]
    rows[0][2:5] = [16, 14, 12]  # offset before onset
    root = casme3_long_tree(tmp_path / "CASME3", me_rows=rows)
    (root / "spNO.2" / "b" / "color" / "10.jpg").unlink()
    with pytest.warns(UserWarning, match=r"(?s)casme3_long: skipping 2 bad row\(s\) or folder\(s\) \(strict=False\):"
                                         r".*spNO.2/b/color has gaps.*row 2: offset 12 comes before onset 16"):
        rows = by_video(load_me_dataset("casme3_long", root, strict=False, cache_dir=cache))
    assert sorted(rows) == ["spNO.1_a", "spNO.2_c", "spNO.2_d"]  # spNO.2/b skipped with its macro-expression
    assert intervals_of(rows["spNO.1_a"]) == [(12, 17, 32, "macro", "happy"), (22, 23, 25, "micro", "disgust")]


# ----------------------------------------------------------------------------- arguments

def test_arguments_of_the_long_video_corpora(tmp_path, cache):
    root = samm_long_tree(tmp_path / "SAMMLV")
    with pytest.raises(ValueError, match=r"samm_long is a long-video corpus for spotting: it takes no task .*"
                                         r"got task='3class'"):
        load_me_dataset("samm_long", root, task="3class", cache_dir=cache)
    with pytest.raises(ValueError, match=r"samm_long frames must be one of \['raw'\], got 'cropped'"):
        load_me_dataset("samm_long", root, frames="cropped", cache_dir=cache)
    with pytest.raises(ValueError, match=r"samm_long has no option 'macro_annotation_file'"):
        load_me_dataset("samm_long", root, macro_annotation_file=root / "x.xlsx", cache_dir=cache)
    with pytest.raises(FileNotFoundError, match=r"annotation file not found: no file matching "
                                                r"\['cas\(me\)3_part_A_MaE_label\*.xlsx'"):
        casme3 = casme3_long_tree(tmp_path / "CASME3")
        (casme3 / "cas(me)3_part_A_MaE_label_JpgIndex_v2_emotion.xlsx").unlink()
        load_me_dataset("casme3_long", casme3, cache_dir=cache)
    shutil.rmtree(root / "SAMM_longvideos")
    (root / "SAMM_longvideos").mkdir()
    with pytest.raises(FileNotFoundError, match=r"no SAMM Long Videos recordings found in .*SAMM_longvideos"):
        load_me_dataset("samm_long", root, cache_dir=cache)
