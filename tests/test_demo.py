"""The demo (demo/, a Hugging Face Space): its files agree with the package, and the page, launched here, answers its
generated examples through gradio_client and in a headless Chromium as the pipelines answer them.

The browser test saves a screenshot of the page after it classified the surprise pair; with `EPIR_DEMO_FIGURE=PATH`
it copies it to PATH as well (docs/figures/demo.png was written so). It is skipped where /usr/bin/chromium is missing
(`apt-get install chromium`; .ci/run installs it).
"""

from __future__ import annotations

import importlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import gradio
import numpy as np
import pytest
import yaml
from _chromium import CHROMIUM, Chromium
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from dataset_scripts.generated_long_videos import LongVideoSettings, drawn_faces, script_video, write_video
from epir_hf.video_frames import VideoFrames

REPO_ROOT = Path(__file__).resolve().parents[1]
DEMO = REPO_ROOT / "demo"
DEMO_MODULES = ("app", "model_process", "answers", "analysis", "pictures", "generated_examples")
STEP = 120.0  # the longest wait, in seconds, for each step of the browser test; seconds on a machine doing nothing else


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """demo/app.py imported (which generates its examples into a fresh folder) and launched on a free local port."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EPIR_DEMO_CACHE", str(tmp_path_factory.mktemp("demo") / "examples"))
        patch.syspath_prepend(str(DEMO))
        module = importlib.import_module("app")
        port = free_port()
        module.demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True)
        try:
            yield module, f"http://127.0.0.1:{port}/"
        finally:
            module.demo.close()
            module.MODEL.close()
            for name in DEMO_MODULES:
                sys.modules.pop(name, None)


@pytest.fixture(scope="module")
def pipelines(app):
    """demo/analysis.py's pipelines in this process, to compare the page's answers with (the app runs its own in the
    model's process)."""
    return importlib.import_module("analysis").Analyzer()


@pytest.fixture(scope="module")
def client(app, tmp_path_factory):
    return Client(app[1], verbose=False, analytics_enabled=False,
                  download_files=str(tmp_path_factory.mktemp("client-downloads")))


def probabilities(label: dict) -> dict[str, float]:
    """gr.Label's value as the client receives it → {class: probability}."""
    return {entry["label"]: entry["confidence"] for entry in label["confidences"]}


def assert_pictures_drawn(paths, heights) -> None:
    """Each picture has the height asked for and shows something: not one flat colour."""
    for path, height in zip(paths, heights, strict=True):
        picture = np.asarray(Image.open(path).convert("RGB"), np.float32)
        assert picture.std() > 5, f"{path} is blank"
        if height is not None:
            assert picture.shape[0] == height, path


# ----------------------------------------------------------------------------------------- the Space's files

def test_the_space_files_agree_with_the_package():
    readme = (DEMO / "README.md").read_text()
    header = yaml.safe_load(readme.split("---\n")[1])
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    extras = pyproject["project"]["optional-dependencies"]
    pin = f"gradio=={header['sdk_version']}"
    assert (header["sdk"], header["app_file"]) == ("gradio", "app.py") and (DEMO / header["app_file"]).is_file()
    assert header["title"] and len(header["short_description"]) <= 60  # the Hub refuses longer ones
    assert header["sdk_version"] == gradio.__version__, "the Space would run another gradio than the one tested"
    assert pin in extras["demo"] and pin in extras["test"]
    requirements = [line for line in (DEMO / "requirements.txt").read_text().splitlines()
                    if line and not line.startswith("#")]
    assert requirements == pyproject["project"]["dependencies"]
    # what the model is not for, in the model card's words, on the page and on the Space's card
    card = (REPO_ROOT / "model_card.md").read_text()
    page = (DEMO / "app.py").read_text()
    for words in ("lie detection", "surveillance, hiring, policing or any other decision about an individual"):
        assert words in card and words in readme.replace("\n", " ") and words in page.replace("\n", " ")


def test_examples_are_generated_once_and_a_foreign_folder_is_refused(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(DEMO))
    generated_examples = importlib.import_module("generated_examples")
    folder = tmp_path / "examples"
    examples = generated_examples.load_examples(folder)
    assert sorted(pair.drawn for pair in examples.pairs) == ["negative", "positive", "surprise"]
    with VideoFrames(examples.clip) as clip:
        assert (clip.count, clip.fps, clip.frame(0).shape) == (300, 30.0, (480, 640))
    kinds = [event["kind"] for event in examples.clip_events]
    assert (kinds.count("micro"), kinds.count("macro")) == (2, 1)
    written = {path: path.stat().st_mtime_ns for path in folder.iterdir()}
    assert generated_examples.load_examples(folder) == examples
    assert {path: path.stat().st_mtime_ns for path in folder.iterdir()} == written  # reused, not written again
    foreign = tmp_path / "foreign"
    (foreign / "something").mkdir(parents=True)
    with pytest.raises(OSError, match=f"cannot be written to {foreign}.*set EPIR_DEMO_CACHE"):
        generated_examples.load_examples(foreign)
    sys.modules.pop("generated_examples", None)


def test_a_model_that_cannot_load_stops_the_app_after_its_page_is_up(app):
    """`python demo/app.py` announces its page, then loads the model; a checkpoint that cannot load ends the app with
    one line and status 1, after the page was up."""
    module, _ = app
    env = {**os.environ, "EPIR_DEMO_CACHE": str(Path(module.EXAMPLES.clip).parent), "EPIR_DEMO_MODEL": "no-such-model",
           "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(free_port())}
    run = subprocess.run([sys.executable, str(DEMO / "app.py")], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, timeout=300)
    lines = run.stdout.strip().splitlines()
    assert run.returncode == 1, run.stdout
    assert lines[-1] == ("demo/app.py: the model could not be loaded: no EPIR checkpoint (config.json) in "
                         "no-such-model; set EPIR_DEMO_MODEL to the folder of checkpoints/epir-megc2019-3class")
    assert any(line.startswith("* Running on local URL:") for line in lines[:-1]), run.stdout


def test_a_model_process_that_ends_before_it_connects_is_a_load_error(monkeypatch):
    """The page does not wait forever for a model process that died at its start: each request gets one line."""
    monkeypatch.syspath_prepend(str(DEMO))
    model_process = importlib.import_module("model_process")
    monkeypatch.setattr(sys, "executable", shutil.which("false"))  # a "Python" that exits at once with status 1
    model = model_process.ModelProcess()
    try:
        with pytest.raises(model_process.ModelLoadError, match=r"ended before it started \(exit status 1\)"):
            model.call("pair", None, None)
    finally:
        model.close()
        sys.modules.pop("model_process", None)


def test_ctrl_c_ends_the_app_and_its_model_process_without_a_traceback(app):
    """Ctrl-C in a terminal reaches both processes of `python demo/app.py`: the page's ends the app, the model's
    ignores it and ends with its connection (here while it is still loading); neither prints a traceback."""
    module, _ = app
    env = {**os.environ, "EPIR_DEMO_CACHE": str(Path(module.EXAMPLES.clip).parent), "GRADIO_SERVER_NAME": "127.0.0.1",
           "GRADIO_SERVER_PORT": str(free_port())}
    server = subprocess.Popen([sys.executable, str(DEMO / "app.py")], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, start_new_session=True,
                              preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # as from a terminal
    lines = []
    for line in server.stdout:
        lines.append(line)
        if line.startswith("* Running on local URL:"):
            break
    assert server.poll() is None, "".join(lines)
    os.killpg(server.pid, signal.SIGINT)  # the whole process group, as a terminal does
    output = "".join(lines) + server.communicate(timeout=120)[0]  # returns when both processes have closed the pipe
    assert "Traceback" not in output, output
    # exit status 1 with one line while the app was starting (the usual case here), gradio's 0 once it had started
    lines = output.splitlines()
    assert (server.returncode == 1 and "demo/app.py: interrupted while starting" in lines) \
        or (server.returncode == 0 and "Keyboard interruption in main thread... closing server." in lines), output


# ----------------------------------------------------------------------------------------- through gradio_client

def test_the_pair_examples_get_the_recognition_pipelines_answer(app, client, pipelines):
    module, _ = app
    grid = pipelines.patch_grid
    for pair in module.EXAMPLES.pairs:
        summary, label, *pictures = client.predict(handle_file(pair.onset), handle_file(pair.apex),
                                                   api_name="/classify_pair")
        expected = pipelines.recognize({"onset": pair.onset, "apex": pair.apex}, top_k=3,
                                             return_token_map=True)
        best = expected["predictions"][0]
        assert label["label"] == best["label"]
        assert probabilities(label) == pytest.approx({p["label"]: p["score"] for p in expected["predictions"]},
                                                     abs=1e-6)
        assert f"**Most likely: {best['label']}** ({best['score']:.0%})" in summary
        kept = int(round(expected["token_map"].mean() * grid ** 2))
        assert f"kept {kept} of its {grid ** 2} patches" in summary
        assert_pictures_drawn(pictures, [224] + [256] * 5)


def test_bad_inputs_get_a_one_line_message(app, client, tmp_path):
    module, _ = app
    pair = module.EXAMPLES.pairs[0]
    with pytest.raises(AppError, match="Give both frames"):
        client.predict(None, handle_file(pair.apex), api_name="/classify_pair")
    smaller = tmp_path / "smaller.png"
    Image.open(pair.apex).crop((0, 0, 200, 200)).save(smaller)
    with pytest.raises(AppError, match="the onset frame is 224x224 but the apex frame is 200x200"):
        client.predict(handle_file(pair.onset), handle_file(smaller), api_name="/classify_pair")
    with pytest.raises(AppError, match="got a single image, but a micro-expression needs motion"):
        client.predict(handle_file(pair.onset), api_name="/spot_video")


def test_the_video_example_shows_the_spotted_events_and_the_strongest_micro_expression(app, client, pipelines):
    module, _ = app
    clip = module.EXAMPLES.clip
    summary, label, *pictures, curve, table = client.predict(handle_file(clip), api_name="/spot_video")
    spotted = pipelines.spot(clip, progress=False, top_k=3)
    events = spotted["events"]
    assert table["headers"] == module.EVENT_COLUMNS
    assert [row[1:5] for row in table["data"]] == [
        [event["kind"], event["onset_frame"], event["apex_frame"], event["offset_frame"]] for event in events]
    assert [row[9] for row in table["data"]] == [event.get("predictions", [{"label": ""}])[0]["label"]
                                                 for event in events]
    # the clip's drawn micro-expressions are there to be found: at least one is spotted where it was drawn
    micro = [event for event in events if event["kind"] == "micro"]
    drawn = [event for event in module.EXAMPLES.clip_events if event["kind"] == "micro"]
    assert any(found["onset_frame"] <= truth["apex"] <= found["offset_frame"] for found in micro for truth in drawn)
    # the pair shown is the strongest micro-expression's, with the spotter's face box: the spotter's scores
    strongest = max(micro, key=lambda event: event["score"])
    assert label["label"] == strongest["predictions"][0]["label"]
    assert probabilities(label) == pytest.approx({p["label"]: p["score"] for p in strongest["predictions"]},
                                                 abs=1e-5)
    assert f"onset frame {strongest['onset_frame']}, apex frame {strongest['apex_frame']}" in summary
    assert f"Spotted {len(events)} event(s)" in summary
    assert_pictures_drawn([*pictures, curve], [480] + [256] * 5 + [None])


def test_a_video_without_micro_expressions_shows_the_recognition_pipelines_own_pair(app, client, pipelines, tmp_path):
    module, _ = app
    settings = LongVideoSettings(duration=2.0, frame_width=400, frame_height=300, micro_per_minute=0,
                                 macro_per_minute=0, blinks_per_minute=0, head_jumps_per_minute=0, head_drift=0)
    still = tmp_path / "still.mp4"
    rng = np.random.default_rng(5)
    write_video(still, drawn_faces(1, 5, settings.face_size, "s{}")[0], script_video(rng, settings), rng, settings)
    summary, label, *pictures, curve, table = client.predict(handle_file(str(still)), api_name="/spot_video")
    expected = pipelines.recognize(str(still), top_k=3)
    assert table["data"] == []
    assert f"No micro-expression was spotted. Shown: the first frame (0) and the frame that moved most from it " \
           f"({expected['apex_index']})" in summary
    assert probabilities(label) == pytest.approx({p["label"]: p["score"] for p in expected["predictions"]}, abs=1e-6)
    assert_pictures_drawn([*pictures, curve], [300] + [256] * 5 + [None])


# ----------------------------------------------------------------------------------------- in a browser

def test_a_browser_shows_the_classified_pair_without_reaching_outside(app, pipelines, tmp_path):
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"the browser test needs Debian's chromium at {CHROMIUM} (apt-get install chromium)")
    module, url = app
    pair = next(pair for pair in module.EXAMPLES.pairs if pair.drawn == "surprise")
    expected = pipelines.recognize({"onset": pair.onset, "apex": pair.apex})["predictions"][0]["label"]
    browser = Chromium()
    try:
        browser.open(url)
        browser.wait_for("document.querySelectorAll('button.gallery-item').length >= 3", STEP, "the examples")
        browser.evaluate(f"[...document.querySelectorAll('button.gallery-item')]"
                         f".find(item => item.innerText.includes('{pair.drawn}')).click()")
        browser.wait_for("['onset-input', 'apex-input'].every(id => "
                         "document.querySelector(`#${id} img`)?.naturalWidth > 0)", STEP, "the example's two frames")
        browser.evaluate("[...document.querySelectorAll('button')]"
                         ".find(button => button.innerText.trim() === 'Classify the pair').click()")
        shown = browser.wait_for("document.querySelector('[data-testid=\"label-output-value\"]')?.innerText.trim()",
                                 STEP, "a label")
        assert shown == expected
        ids = list(module.PICTURES)
        browser.wait_for(f"{ids}.every(id => document.querySelector(`#${{id}} img`)?.complete && "
                         "document.querySelector(`#${id} img`).naturalWidth > 0)", STEP, "the six pictures")
        spreads = browser.evaluate(PIXEL_SPREAD.replace("IDS", str(ids)))
        assert all(spreads[id] > 5 for id in ids), spreads  # each picture shows something, not a flat colour
        screenshot = tmp_path / "demo.png"
        browser.screenshot(screenshot)
        assert Image.open(screenshot).size[0] >= 1200
        if os.environ.get("EPIR_DEMO_FIGURE"):
            shutil.copy(screenshot, os.environ["EPIR_DEMO_FIGURE"])
        local = (url, "data:", "blob:")
        assert browser.requests and [request for request in browser.requests if not request.startswith(local)] == []
    finally:
        browser.close()


PIXEL_SPREAD = """(async () => {
  const spreads = {};
  for (const id of IDS) {
    const image = document.querySelector(`#${id} img`);
    await image.decode();
    const canvas = document.createElement('canvas');
    canvas.width = image.naturalWidth;
    canvas.height = image.naturalHeight;
    const context = canvas.getContext('2d');
    context.drawImage(image, 0, 0);
    const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
    let sum = 0, squares = 0;
    for (let i = 0; i < data.length; i += 4) {
      const grey = (data[i] + data[i + 1] + data[i + 2]) / 3;
      sum += grey;
      squares += grey * grey;
    }
    const count = data.length / 4, mean = sum / count;
    spreads[id] = Math.sqrt(squares / count - mean * mean);
  }
  return spreads;
})()"""
"""The standard deviation of each picture's grey levels, read back from the pixels the browser decoded."""
