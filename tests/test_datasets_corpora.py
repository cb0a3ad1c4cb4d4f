"""Every corpus loader on a fixture tree in its official layout: counts, labels, subjects, frame picking."""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest
from _me_fixtures import (
    CASME2_RAW_OFFSET,
    SMIC_CLIPS,
    casme2_tree,
    casme3_tree,
    flow_release_tree,
    frame_value,
    pixel_value,
    samm_tree,
    smic_tree,
)
from datasets import Dataset, load_from_disk

from dataset_scripts import load_me_dataset
from dataset_scripts.megc2019 import Megc2019CompositeFlow
from dataset_scripts.prepare import main as prepare_main
from dataset_scripts.samples import core_features


def by_id(dataset):
    return {row["sample_id"]: row for row in dataset}


def label_names(dataset):
    names = dataset.features["label"].names
    return Counter(names[i] for i in dataset["label"])


def assert_frame(image, number, offset=0):
    assert abs(pixel_value(image) - frame_value(number, offset)) <= 2


def test_casme2_3class_cropped(tmp_path):
    root = casme2_tree(tmp_path / "CASME2")
    with pytest.warns(UserWarning, match="sub03_EP05_01"):  # apex "/" -> middle frame, said out loud
        ds = load_me_dataset("casme2", root, cache_dir=tmp_path / "cache")
    assert isinstance(ds, Dataset)
    assert ds.features == core_features(("negative", "positive", "surprise"))
    rows = by_id(ds)
    # "others" is dropped by the 3-class task; fear (any case) is negative.
    assert sorted(rows) == ["sub01_EP02_01f", "sub01_EP03_02", "sub02_EP01_11f", "sub03_EP05_01", "sub03_EP06_02"]
    assert label_names(ds) == {"negative": 3, "positive": 1, "surprise": 1}
    assert set(ds["subject"]) == {"sub01", "sub02", "sub03"} and set(ds["dataset"]) == {"casme2"}
    assert rows["sub03_EP06_02"]["emotion"] == "Fear"  # the emotion string as annotated (stripped)
    happy = rows["sub01_EP02_01f"]
    assert (happy["onset_frame"], happy["apex_frame"]) == (10, 12)
    assert_frame(happy["onset"], 10)
    assert_frame(happy["apex"], 12)
    assert rows["sub03_EP05_01"]["apex_frame"] == 6  # (3 + 9) // 2


def test_casme2_raw_frames_and_5class(tmp_path):
    root = casme2_tree(tmp_path / "CASME2")
    with pytest.warns(UserWarning):
        ds = load_me_dataset("casme2", root, task="5class", frames="raw", cache_dir=tmp_path / "cache")
    # fear is dropped by the 5-class task, others is kept.
    assert label_names(ds) == {"happiness": 1, "disgust": 1, "surprise": 1, "others": 1, "repression": 1}
    assert ds.features["label"].names == ["happiness", "surprise", "disgust", "repression", "others"]
    row = by_id(ds)["sub02_EP01_11f"]
    assert_frame(row["onset"], 5, CASME2_RAW_OFFSET)
    assert_frame(row["apex"], 7, CASME2_RAW_OFFSET)


def test_samm_header_rows_and_ids(tmp_path):
    root = samm_tree(tmp_path / "SAMM_root")
    ds = load_me_dataset("samm", root, cache_dir=tmp_path / "cache")
    rows = by_id(ds)
    # "Other" is dropped in 3 classes; contempt and anger are negative.
    assert sorted(rows) == ["006_006_1_2", "006_006_1_3", "007_007_3_1", "009_009_2_1"]
    assert label_names(ds) == {"negative": 2, "positive": 1, "surprise": 1}
    assert set(ds["subject"]) == {"006", "007", "009"}
    row = rows["006_006_1_2"]
    assert (row["onset_frame"], row["apex_frame"]) == (5562, 5565)
    assert_frame(row["onset"], 5562)
    assert_frame(row["apex"], 5565)
    five = load_me_dataset("samm", root, task="5class", cache_dir=tmp_path / "cache")
    assert label_names(five) == {"contempt": 1, "happiness": 1, "surprise": 1, "other": 1, "anger": 1}


def test_smic_middle_apex_and_renamed_ids(tmp_path):
    root = smic_tree(tmp_path / "SMIC")
    ds = load_me_dataset("smic", root, cache_dir=tmp_path / "cache")
    rows = by_id(ds)
    assert sorted(rows) == ["s01_s01_ne_01", "s01_s01_po_01", "s02_s02_sur_03", "s12_s12_ne_02"]
    assert set(ds["subject"]) == {"s01", "s02", "s12"}
    assert label_names(ds) == {"negative": 2, "positive": 1, "surprise": 1}
    for subject, _, code, index, first, count in SMIC_CLIPS:
        row = rows[f"s{subject:02d}_s{subject:02d}_{code}_{index}"]
        assert row["onset_frame"] == first and row["apex_frame"] == first + count // 2
        assert_frame(row["onset"], first)
        assert_frame(row["apex"], first + count // 2)


def test_casme3_tasks_and_multiple_mes_per_video(tmp_path):
    root = casme3_tree(tmp_path / "CASME3")
    seven = load_me_dataset("casme3", root, task="7class", cache_dir=tmp_path / "cache")
    assert len(seven) == 7
    assert {"spNO.1_a_10", "spNO.1_a_20"} <= set(seven["sample_id"])
    assert label_names(seven) == {e: 1 for e in ("happy", "disgust", "surprise", "others", "anger", "sad", "fear")}
    four = load_me_dataset("casme3", root, task="4class", cache_dir=tmp_path / "cache")
    assert label_names(four) == {"negative": 4, "positive": 1, "surprise": 1, "others": 1}
    three = load_me_dataset("casme3", root, cache_dir=tmp_path / "cache")
    assert label_names(three) == {"negative": 4, "positive": 1, "surprise": 1}
    row = by_id(three)["spNO.1_a_20"]
    assert (row["subject"], row["onset_frame"], row["apex_frame"]) == ("spNO.1", 20, 22)
    assert_frame(row["onset"], 20)
    assert_frame(row["apex"], 22)


def test_composite_from_raw_corpora(tmp_path):
    dirs = {"casme2": casme2_tree(tmp_path / "c2"), "samm": samm_tree(tmp_path / "samm"),
            "smic": smic_tree(tmp_path / "smic")}
    with pytest.warns(UserWarning):
        ds = load_me_dataset("megc2019_composite", dirs, cache_dir=tmp_path / "cache")
    counts = Counter(zip(ds["dataset"], (ds.features["label"].names[i] for i in ds["label"])))
    assert counts == {("casme2", "negative"): 3, ("casme2", "positive"): 1, ("casme2", "surprise"): 1,
                      ("samm", "negative"): 2, ("samm", "positive"): 1, ("samm", "surprise"): 1,
                      ("smic", "negative"): 2, ("smic", "positive"): 1, ("smic", "surprise"): 1}
    subjects = {d: {s for s, dd in zip(ds["subject"], ds["dataset"]) if dd == d} for d in dirs}
    assert not (subjects["casme2"] & subjects["samm"]) and not (subjects["samm"] & subjects["smic"])
    assert len(set(ds["sample_id"])) == len(ds)


def test_flow_release(tmp_path):
    root = flow_release_tree(tmp_path / "release")
    ds = load_me_dataset("megc2019_composite_flow", root, cache_dir=tmp_path / "cache")
    assert set(ds.column_names) == {"sample_id", "subject", "dataset", "emotion", "label", "flow"}
    rows = by_id(ds)
    assert sorted(rows) == ["006_006_1_2", "s01_s01_sur_01", "s02_s02_po_01", "sub01_EP02_01f", "sub01_EP19_05f"]
    assert rows["s01_s01_sur_01"]["emotion"] == "surprise" and rows["s01_s01_sur_01"]["label"] == 2
    assert rows["006_006_1_2"]["flow"].size == (28, 28)


def test_cached_rerun_does_not_rescan_but_edited_annotation_rebuilds(tmp_path):
    root = samm_tree(tmp_path / "SAMM_root")
    first = load_me_dataset("samm", root, cache_dir=tmp_path / "cache")
    # Break the frame tree: a cached load must not notice (it does not scan frames again) ...
    for frame in (root / "SAMM" / "007" / "007_3_1").iterdir():
        frame.unlink()
    again = load_me_dataset("samm", root, cache_dir=tmp_path / "cache")
    assert again["sample_id"] == first["sample_id"]
    assert again.cache_files == first.cache_files
    # ... while an edited annotation sheet (new mtime) invalidates the cache and rescans.
    sheet = root / "SAMM_Micro_FACS_Codes_v2.xlsx"
    stat = sheet.stat()
    os.utime(sheet, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    with pytest.raises(FileNotFoundError, match="007_007_3_1"):
        load_me_dataset("samm", root, cache_dir=tmp_path / "cache")
    with pytest.raises(FileNotFoundError, match="007_007_3_1"):
        load_me_dataset("samm", root, cache_dir=tmp_path / "cache", use_cache=False)


def test_flow_file_edited_in_place_rebuilds_the_cached_release(tmp_path):
    root = flow_release_tree(tmp_path / "release")
    flow = root / "flow" / "006_006_1_2 .png"
    first = load_me_dataset("megc2019_composite_flow", root, cache_dir=tmp_path / "cache")
    assert pixel_value(by_id(first)["006_006_1_2"]["flow"]) != pytest.approx(7.0)
    # Rewritten in place: neither labels.csv nor the folder changes, only the file itself.
    folder_mtime = (root / "flow").stat().st_mtime_ns
    cv2.imwrite(str(flow), np.full((28, 28, 3), 7, np.uint8))
    stat = flow.stat()
    os.utime(flow, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert (root / "flow").stat().st_mtime_ns == folder_mtime
    again = load_me_dataset("megc2019_composite_flow", root, cache_dir=tmp_path / "cache")
    assert pixel_value(by_id(again)["006_006_1_2"]["flow"]) == pytest.approx(7.0)
    # A touch alone changes the key too.
    key = Megc2019CompositeFlow(root).identity()
    os.utime(flow, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2 * 10**9))
    assert Megc2019CompositeFlow(root).identity() != key


def test_prepare_cli_writes_arrow_and_parquet(tmp_path, capsys):
    root = casme3_tree(tmp_path / "CASME3")
    out = tmp_path / "out"
    prepare_main(["casme3", "--data_dir", str(root), "--task", "4class", "--output", str(out),
                  "--cache_dir", str(tmp_path / "cache")])
    saved = load_from_disk(str(out))
    assert len(saved) == 7 and saved.features["label"].names == ["negative", "positive", "surprise", "others"]
    assert "7 samples, 3 subjects" in capsys.readouterr().out
    prepare_main(["synthetic", "--num_subjects", "2", "--samples_per_subject", "3", "--format", "parquet",
                  "--output", str(tmp_path / "pq"), "--cache_dir", str(tmp_path / "cache")])
    parquet = Dataset.from_parquet(str(tmp_path / "pq" / "data.parquet"))
    assert len(parquet) == 6 and set(parquet["subject"]) == {"synth01", "synth02"}


def test_prepare_cli_reports_bad_input_without_traceback(tmp_path):
    with pytest.raises(SystemExit, match="error: data_dir not found: .*nowhere"):
        prepare_main(["samm", "--data_dir", str(tmp_path / "nowhere"), "--output", str(tmp_path / "out")])


def test_prepare_cli_composite_and_push_to_hub_is_private(tmp_path, monkeypatch):
    pushed = {}
    monkeypatch.setattr(Dataset, "push_to_hub",
                        lambda self, repo_id, **kw: pushed.update(repo=repo_id, n=len(self), **kw))
    dirs = {"casme2": casme2_tree(tmp_path / "c2"), "samm": samm_tree(tmp_path / "samm"),
            "smic": smic_tree(tmp_path / "smic")}
    with pytest.warns(UserWarning):
        prepare_main(["megc2019_composite", *[a for part, d in dirs.items() for a in ("--data_dir", f"{part}={d}")],
                      "--output", str(tmp_path / "out"), "--cache_dir", str(tmp_path / "cache"),
                      "--push_to_hub", "me/megc2019-epir"])
    assert pushed == {"repo": "me/megc2019-epir", "n": 13, "private": True}


def test_concurrent_first_loads_build_the_corpus_once(tmp_path, monkeypatch):
    """Two shards starting on a fresh cache: the second waits for the first's build instead of replacing it."""
    from dataset_scripts.synthetic import SyntheticCorpus

    original, started, release = SyntheticCorpus.generate, [], threading.Event()

    def slow_generate(plan):
        started.append(threading.get_ident())
        release.wait(timeout=30)
        yield from original(plan)

    monkeypatch.setattr(SyntheticCorpus, "generate", staticmethod(slow_generate))
    options = {"num_subjects": 3, "samples_per_subject": 2, "cache_dir": tmp_path / "cache"}
    with ThreadPoolExecutor(max_workers=2) as pool:
        first = pool.submit(load_me_dataset, "synthetic", **options)
        while not started and not first.done():  # done early only if the first load failed
            time.sleep(0.01)
        second = pool.submit(load_me_dataset, "synthetic", **options)
        time.sleep(1.0)  # time enough for an unguarded second load to start its own build
        release.set()
        results = [first.result(timeout=60), second.result(timeout=60)]
    assert len(started) == 1
    assert results[0]["sample_id"] == results[1]["sample_id"]
    assert results[0].cache_files == results[1].cache_files
