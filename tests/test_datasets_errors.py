"""Bad input to the loaders: each failure is a clear error (or warning) naming what is wrong."""

from __future__ import annotations

import shutil

import pytest
from _me_fixtures import (
    CASME2_HEADER,
    CASME2_ROWS,
    FLOW_ROWS,
    SAMM_ROWS,
    casme2_tree,
    casme3_tree,
    flow_release_tree,
    samm_tree,
    smic_tree,
    write_sheet,
)

from dataset_scripts import load_me_dataset


@pytest.fixture
def cache(tmp_path):
    return tmp_path / "cache"


def test_missing_data_dir_and_annotation_file(tmp_path, cache):
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match="data_dir not found: .*nowhere"):
        load_me_dataset("casme2", missing, cache_dir=cache)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match=r"CASME2-coding-\*\.xlsx.*empty"):
        load_me_dataset("casme2", empty, cache_dir=cache)
    with pytest.raises(FileNotFoundError, match="annotation file not found: .*my_sheet.xlsx"):
        load_me_dataset("samm", empty, annotation_file=empty / "my_sheet.xlsx", cache_dir=cache)
    with pytest.raises(FileNotFoundError, match="labels.csv"):
        load_me_dataset("megc2019_composite_flow", empty, cache_dir=cache)


def test_missing_frame_folder(tmp_path, cache):
    root = samm_tree(tmp_path / "samm")
    shutil.rmtree(root / "SAMM")
    with pytest.raises(FileNotFoundError, match="SAMM frame folder not found: .*SAMM"):
        load_me_dataset("samm", root, cache_dir=cache)
    with pytest.raises(FileNotFoundError, match="SMIC-HS folder not found: .*HS"):
        load_me_dataset("smic", tmp_path, cache_dir=cache)
    release = flow_release_tree(tmp_path / "release")
    shutil.rmtree(release / "flow")
    with pytest.raises(FileNotFoundError, match="flow folder .*flow"):
        load_me_dataset("megc2019_composite_flow", release, cache_dir=cache)


def _break_casme2(root):
    shutil.rmtree(root / "sub01" / "EP02_01f")                 # a whole clip folder gone
    (root / "sub02" / "EP01_11f" / "reg_img7.jpg").unlink()   # the apex frame of another clip gone


def test_missing_frames_strict_lists_every_sample(tmp_path, cache):
    root = casme2_tree(tmp_path / "c2")
    _break_casme2(root)
    with pytest.warns(UserWarning), pytest.raises(FileNotFoundError) as info:
        load_me_dataset("casme2", root, cache_dir=cache)
    message = str(info.value)
    assert "2 sample(s) with missing frames" in message
    assert "sub01_EP02_01f" in message and "sub02_EP01_11f: frame 7 missing" in message
    assert "strict=False" in message


@pytest.mark.filterwarnings("ignore:CASME II. no apex annotated")
def test_missing_frames_not_strict_warns_and_skips(tmp_path, cache):
    root = casme2_tree(tmp_path / "c2")
    _break_casme2(root)
    with pytest.warns(UserWarning, match="skipping 2 sample") as record:
        ds = load_me_dataset("casme2", root, strict=False, cache_dir=cache)
    assert any("sub01_EP02_01f" in str(w.message) and "sub02_EP01_11f" in str(w.message) for w in record)
    assert sorted(ds["sample_id"]) == ["sub01_EP03_02", "sub03_EP05_01", "sub03_EP06_02"]


def test_missing_flow_images_strict_and_not(tmp_path, cache):
    root = flow_release_tree(tmp_path / "release")
    (root / "flow" / "006_006_1_2 .png").unlink()
    with pytest.raises(FileNotFoundError, match="missing flow images:\n  006_006_1_2"):
        load_me_dataset("megc2019_composite_flow", root, cache_dir=cache)
    with pytest.warns(UserWarning, match="006_006_1_2"):
        ds = load_me_dataset("megc2019_composite_flow", root, strict=False, cache_dir=cache)
    assert len(ds) == 4


def test_unknown_emotions_listed_with_accepted_mapping(tmp_path, cache):
    rows = [r[:-1] + [e] for r, e in zip(SAMM_ROWS, ["Contempt", "Boredom", "Happiness", "Confusion", "Anger"])]
    root = samm_tree(tmp_path / "samm", rows)
    with pytest.raises(ValueError) as info:
        load_me_dataset("samm", root, cache_dir=cache)
    message = str(info.value)
    assert "['Boredom', 'Confusion']" in message
    assert "'happiness': 'positive'" in message and "dropped: ['other']" in message
    release = flow_release_tree(tmp_path / "release", labels=[0, 1, 3, 2, 7])
    with pytest.raises(ValueError, match=r"unknown emotion labels .*\['3', '7'\].*'0': 'negative'"):
        load_me_dataset("megc2019_composite_flow", release, cache_dir=cache)


@pytest.mark.filterwarnings("ignore:CASME II. no apex annotated")
def test_indices_outside_the_clip_are_listed(tmp_path, cache):
    rows = [list(r) for r in CASME2_ROWS]
    root = casme2_tree(tmp_path / "c2", rows)
    # Rewrite the sheet with bad indices after the frames exist for the good ones.
    rows[0][3] = 40            # apex beyond the last frame (15)
    rows[1][2] = 1             # onset before the first frame (20)
    rows[2][2] = "n/a"         # onset not a number
    rows[5][2], rows[5][3] = 3, 2  # onset after apex
    write_sheet(root / "CASME2-coding-20140508.xlsx", CASME2_HEADER, rows)
    with pytest.warns(UserWarning), pytest.raises(ValueError) as info:
        load_me_dataset("casme2", root, cache_dir=cache)
    message = str(info.value)
    assert "4 sample(s) with invalid onset/apex indices" in message
    assert "sub01_EP02_01f: apex 40 outside the frames 10..15" in message
    assert "sub01_EP03_02: onset 1 outside the frames 20..26" in message
    assert "sub02_EP01_11f: onset 'n/a': not a frame number" in message
    assert "sub03_EP06_02: onset 3 after apex 2" in message
    with pytest.warns(UserWarning, match="skipping 4 sample"):
        ds = load_me_dataset("casme2", root, strict=False, cache_dir=cache)
    assert sorted(ds["sample_id"]) == ["sub03_EP05_01"]


def test_empty_result(tmp_path, cache):
    root = casme3_tree(tmp_path / "c3", rows=[["spNO.9", "a", 1, 2, 3, "", "VII", "others"]])
    with pytest.raises(ValueError, match="no usable samples in casme3"):
        load_me_dataset("casme3", root, cache_dir=cache)
    root = smic_tree(tmp_path / "smic", clips=[])
    (root / "HS").mkdir(parents=True)
    with pytest.raises(ValueError, match="no usable samples in smic"):
        load_me_dataset("smic", root, cache_dir=cache)


def test_bad_sheet_and_duplicates(tmp_path, cache):
    root = tmp_path / "c2"
    write_sheet(root / "CASME2-coding-1.xlsx", ["Subject", "Filename", "Onset"], [[1, "EP01", 3]])
    (root / "sub01").mkdir()
    with pytest.raises(ValueError, match=r"no table with the columns \['Subject', 'Filename', 'OnsetFrame'"):
        load_me_dataset("casme2", root, cache_dir=cache)
    (root / "not_excel.xlsx").write_text("hello")
    with pytest.raises(ValueError, match="cannot read annotation file .*not_excel.xlsx"):
        load_me_dataset("casme2", root, annotation_file=root / "not_excel.xlsx", cache_dir=cache)
    odd = casme2_tree(tmp_path / "odd", [["S-1", "EP01", 1, 2, 3, "", "happiness"]], frames=False)
    with pytest.raises(ValueError, match="CASME II: subject 'S-1' is not a subject number"):
        load_me_dataset("casme2", odd, cache_dir=cache)
    dup = casme2_tree(tmp_path / "dup", CASME2_ROWS[:2] + [CASME2_ROWS[0]])
    with pytest.raises(ValueError, match=r"(?s)duplicated sample ids in casme2 .*CASME2-coding.*sub01_EP02_01f"):
        load_me_dataset("casme2", dup, cache_dir=cache)


def test_duplicated_ids_in_the_flow_release_are_refused(tmp_path, cache):
    # The same clip listed twice with conflicting labels would be trained on and scored twice.
    rows = [*FLOW_ROWS, ("casme2", "sub01", "EP02_01f", 0)]
    release = flow_release_tree(tmp_path / "release", rows)
    with pytest.raises(ValueError, match=r"duplicated sample ids in .*labels.csv:\n  sub01_EP02_01f$"):
        load_me_dataset("megc2019_composite_flow", release, cache_dir=cache)


def test_unknown_corpus_options_are_named(tmp_path, cache):
    with pytest.raises(ValueError, match=r"synthetic has no option 'num_subject' \(did you mean 'num_subjects'\?\)"):
        load_me_dataset("synthetic", num_subject=3, cache_dir=cache)
    with pytest.raises(ValueError, match="megc2019_composite_flow has no option 'apex'"):
        load_me_dataset("megc2019_composite_flow", flow_release_tree(tmp_path / "release"), apex="middle",
                        cache_dir=cache)


def test_bad_arguments(tmp_path, cache):
    root = casme2_tree(tmp_path / "c2")
    with pytest.raises(ValueError, match="unknown dataset 'casme4'"):
        load_me_dataset("casme4", root)
    with pytest.raises(ValueError, match=r"casme2 has no task '7class'; available tasks: \['3class', '5class'\]"):
        load_me_dataset("casme2", root, task="7class", cache_dir=cache)
    with pytest.raises(ValueError, match=r"casme2 frames must be one of \['cropped', 'raw'\]"):
        load_me_dataset("casme2", root, frames="aligned", cache_dir=cache)
    with pytest.raises(ValueError, match="samm frames must be one of"):
        load_me_dataset("samm", root, frames="cropped", cache_dir=cache)
    with pytest.raises(ValueError, match="needs data_dir="):
        load_me_dataset("casme2")
    with pytest.raises(ValueError, match="megc2019_composite needs data_dir="):
        load_me_dataset("megc2019_composite", root, cache_dir=cache)
    with pytest.raises(ValueError, match="smic apex must be one of"):
        load_me_dataset("smic", smic_tree(tmp_path / "smic"), apex="peak", cache_dir=cache)
    with pytest.raises(ValueError, match="takes no data_dir"):
        load_me_dataset("synthetic", root)
    with pytest.raises(ValueError, match="num_subjects must be an integer >= 1"):
        load_me_dataset("synthetic", num_subjects=0, cache_dir=cache)
