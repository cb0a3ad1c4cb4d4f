"""A page for people to try EPIR: give an onset and an apex image, or a video, and see what the model sees.

    python demo/app.py          # then open http://127.0.0.1:7860

The release checkpoint runs locally through epir_hf's recognition and spotting pipelines (analysis.py), laid out as
the page's outputs by answers.py with the pictures of pictures.py, in a process of its own that loads while this one
starts the page (model_process.py); the examples (drawn faces, no real person) come from generated_examples.py. The
page works offline: no analytics, no fonts or scripts from outside. `demo` is built at import, so a test can import
this module and launch it; it is launched only when run as a script.
"""

from __future__ import annotations

import sys
from typing import Any

from model_process import ModelLoadError, ModelProcess

MODEL = ModelProcess()
"""The model, loading in a process of its own from here on, while this one imports gradio and serves the page."""

import gradio as gr  # noqa: E402 (after MODEL: see model_process.py)
from generated_examples import load_examples  # noqa: E402

MAX_SECONDS = 60.0
"""A video is analysed up to this time: the demo answers in seconds on a small CPU, not in minutes."""

NOT_FOR = """**What this is not for.** EPIR is a research model for micro-expressions recorded in laboratory conditions,
from people who consented to that research. It is **not for lie detection**, or for surveillance, hiring, policing or
any other decision about an individual. It was trained on small, demographically narrow laboratory corpora, its
accuracy on new people is modest (the model card gives the leave-one-subject-out numbers), and it does not transfer to
faces in the wild. The examples below are drawn faces, not people."""

INTRO = f"""# EPIR: facial micro-expression recognition

A micro-expression is a brief, small movement of the face. EPIR reads the optical flow between two frames of a face,
the **onset** (at rest) and the **apex** (the peak of the movement), and scores three classes: negative, positive,
surprise. Give it a pair of frames, or a video: the video's micro-expressions are found first (spotting; the first
{MAX_SECONDS:g} s are read), and the strongest one is shown.

{NOT_FOR}"""

EVENT_COLUMNS = ["event", "kind", "onset frame", "apex frame", "offset frame", "start (s)", "end (s)", "region",
                 "z-score", "label", "probability", "reliable motion"]

EXAMPLES = load_examples()


def _event_rows(events: list[dict[str, Any]]) -> list[list[Any]]:
    rows = []
    for number, event in enumerate(events):
        best = event.get("predictions", [{}])[0]
        rows.append([number + 1, event["kind"], event["onset_frame"], event["apex_frame"], event["offset_frame"],
                     round(event["start_time"], 2), round(event["end_time"], 2), event["region"],
                     round(event["score"], 1), best.get("label", ""),
                     round(best["score"], 3) if best else None, event.get("reliable_motion", "")])
    return rows


def _answer(name: str, *inputs: Any) -> Any:
    """The model process's `Answers.<name>(*inputs)`, with the pipelines' one-line errors about a bad input, and a
    model that could not be loaded, shown on the page."""
    try:
        return MODEL.call(name, *inputs)
    except ValueError as error:
        raise gr.Error(str(error)) from error
    except ModelLoadError as error:
        raise gr.Error(f"The model could not be loaded: {error}") from error


def classify_pair(onset: Any, apex: Any) -> list[Any]:
    """The pair tab: the recognition pipeline on an (onset, apex) pair."""
    if onset is None or apex is None:
        raise gr.Error("Give both frames: an onset image (the face at rest) and an apex image (the peak).")
    return _answer("pair", onset, apex)


def spot_video(video: str | None) -> list[Any]:
    """The video tab: spot the events, show the strongest micro-expression, the motion curve and the events."""
    if not video:
        raise gr.Error("Upload a video first (or pick the example below).")
    shown, events = _answer("video", video, MAX_SECONDS)
    return [*shown, _event_rows(events)]


PICTURES = ("face-found", "onset-face", "apex-face", "flow", "strain", "kept-patches")
"""The element ids of the pictures both tabs show, in the order of the outputs after the summary and probabilities."""


def _picture(label: str, elem_id: str) -> gr.Image:
    return gr.Image(label=label, format="png", interactive=False, height=260, elem_id=elem_id)


# analytics_enabled=False: no version check or telemetry, so nothing leaves the machine.
with gr.Blocks(title="EPIR micro-expression recognition", analytics_enabled=False) as demo:
    gr.Markdown(INTRO)
    with gr.Tabs():
        with gr.Tab("Onset and apex images"):
            with gr.Row():
                onset_input = gr.Image(label="onset (face at rest)", type="numpy", height=260,
                                       sources=["upload", "clipboard"], elem_id="onset-input")
                apex_input = gr.Image(label="apex (peak of the movement)", type="numpy", height=260,
                                      sources=["upload", "clipboard"], elem_id="apex-input")
            pair_button = gr.Button("Classify the pair", variant="primary")
            gr.Examples([[pair.onset, pair.apex] for pair in EXAMPLES.pairs], [onset_input, apex_input],
                        label="Drawn faces", cache_examples=False,
                        example_labels=[f"drawn face, {pair.drawn} action units" for pair in EXAMPLES.pairs])
        with gr.Tab("Video"):
            video_input = gr.Video(label="video", sources=["upload"], include_audio=True, height=300)
            video_button = gr.Button("Spot and classify", variant="primary")
            kinds = [event["kind"] for event in EXAMPLES.clip_events]
            gr.Examples([[EXAMPLES.clip]], [video_input], label="Generated clip", cache_examples=False,
                        example_labels=[f"drawn face, 10 s: {kinds.count('micro')} micro-, {kinds.count('macro')} "
                                        "macro-expression(s), blinks"])
            curve_output = gr.Image(label="motion over time and the events spotted", format="png", interactive=False,
                                    elem_id="motion-curve")
            events_output = gr.Dataframe(headers=EVENT_COLUMNS, label="events", interactive=False, wrap=False,
                                         elem_id="events")
    with gr.Row():
        with gr.Column():
            label_output = gr.Label(label="class probabilities", elem_id="probabilities")  # every class
            summary_output = gr.Markdown(elem_id="summary")
        frame_output = _picture("face found (onset frame)", "face-found")
    with gr.Row():
        onset_output = _picture("onset face", "onset-face")
        apex_output = _picture("apex face", "apex-face")
        flow_output = _picture("flow (hue: direction)", "flow")
        strain_output = _picture("optical strain", "strain")
        patches_output = _picture("kept patches (orange)", "kept-patches")
    shared = [summary_output, label_output, frame_output, onset_output, apex_output, flow_output, strain_output,
              patches_output]
    pair_button.click(classify_pair, [onset_input, apex_input], shared, api_name="classify_pair")
    video_button.click(spot_video, [video_input], [*shared, curve_output, events_output], api_name="spot_video")


if __name__ == "__main__":
    try:
        demo.launch(prevent_thread_lock=True)  # the page as soon as it is built; the model may still be loading
        MODEL.wait()
    except ModelLoadError as error:
        demo.close()
        sys.exit(f"demo/app.py: the model could not be loaded: {error}")
    except KeyboardInterrupt:  # Ctrl-C while starting; once started, gradio's block_thread takes it
        demo.close()
        sys.exit("demo/app.py: interrupted while starting")
    demo.block_thread()
