"""A page for people to try EPIR: give an onset and an apex image, or a video, and see what the model sees.

    python demo/app.py          # then open http://127.0.0.1:7860

The release checkpoint runs locally through epir_hf's recognition and spotting pipelines (analysis.py); the pictures
come from pictures.py, the examples (drawn faces, no real person) from generated_examples.py. The page works
offline: no analytics, no fonts or scripts from outside. `demo` is built at import, so a test can import this module
and launch it; it is launched only when run as a script.
"""

from __future__ import annotations

from typing import Any

import gradio as gr
from analysis import MAX_SECONDS, Analysis, Analyzer
from generated_examples import load_examples
from pictures import (
    BRIGHTEST_PERCENTILE,
    face_crop,
    flow_colours,
    framed_face,
    kept_patches,
    motion_curve,
    strain_picture,
)

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

ANALYZER = Analyzer()
EXAMPLES = load_examples()


def _summary(analysis: Analysis, flow_scale: float, strain_peak: float) -> str:
    """What the pictures cannot say: the face found, how much it moved, and whether the scores mean anything."""
    result = analysis.recognition
    best = result["predictions"][0]
    lines = [f"**Most likely: {best['label']}** ({best['score']:.0%}).", ""]
    if analysis.spotting is not None:
        spotting, events = analysis.spotting, analysis.spotting["events"]
        kinds = [event["kind"] for event in events]
        lines.append(f"Spotted {len(events)} event(s) in {spotting['num_frames'] / spotting['fps']:.1f} s: "
                     f"{kinds.count('micro')} micro-, {kinds.count('macro')} macro-expression(s).")
        if analysis.event is not None:
            event = events[analysis.event]
            lines.append(f"Shown: event {analysis.event + 1}, the strongest micro-expression (onset frame "
                         f"{event['onset_frame']}, apex frame {event['apex_frame']}, {event['start_time']:.2f}–"
                         f"{event['end_time']:.2f} s).")
        else:
            lines.append(f"No micro-expression was spotted. Shown: the first frame ({result['onset_index']}) and the "
                         f"frame that moved most from it ({result['apex_index']}).")
    boxes = result["face_boxes"]
    if result["face_box"] is None:
        lines.append("No face was found: the whole frames were used.")
    else:
        x, y, w, h = result["face_box"]
        found = f"; {len(boxes)} faces found, the largest used" if len(boxes) > 1 else ""
        how = "followed through the video" if analysis.event is not None else result["face_region"]
        lines.append(f"Face ({how}): {w}×{h} px at ({x}, {y}){found}.")
    minimum = ANALYZER.recognize.image_processor.flow_settings().min_motion
    lines.append(f"The most moving facial region moved {result['motion']:.2f} px of the 128-px face crop.")
    if not result["reliable_motion"]:
        lines.append(f"**Warning:** that is below the {minimum:g} px that the flow can tell from noise or a change of "
                     "lighting: these scores mean nothing.")
    kept = int(round(result["token_map"].mean() * ANALYZER.patch_grid ** 2))
    lines.append(f"Flow: the hue is the direction of the movement (the wheel in the corner), the brightness its "
                 f"length, brightest at {flow_scale:.2f} px; the strain is brightest at {strain_peak:.3f} (each the "
                 f"{BRIGHTEST_PERCENTILE}th percentile). The model's token selection kept {kept} of its "
                 f"{ANALYZER.patch_grid ** 2} patches (orange); the others were fused into one token.")
    return "\n".join(lines)


def _shown(analysis: Analysis) -> list[Any]:
    """The outputs both tabs share: summary, class probabilities and the six pictures."""
    result = analysis.recognition
    box = result["face_box"]
    flow, flow_scale = flow_colours(result["flow"])
    strain, strain_peak = strain_picture(result["flow"])
    probabilities = {prediction["label"]: prediction["score"] for prediction in result["predictions"]}
    return [_summary(analysis, flow_scale, strain_peak), probabilities,
            framed_face(analysis.onset, box, result["face_boxes"]), face_crop(analysis.onset, box),
            face_crop(analysis.apex, box), flow, strain,
            kept_patches(result["face"], result["token_map"], ANALYZER.patch_grid)]


def _event_rows(spotting: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for number, event in enumerate(spotting["events"]):
        best = event.get("predictions", [{}])[0]
        rows.append([number + 1, event["kind"], event["onset_frame"], event["apex_frame"], event["offset_frame"],
                     round(event["start_time"], 2), round(event["end_time"], 2), event["region"],
                     round(event["score"], 1), best.get("label", ""),
                     round(best["score"], 3) if best else None, event.get("reliable_motion", "")])
    return rows


def _checked(run, *inputs: Any) -> Analysis:
    """`run(*inputs)`, with the pipelines' one-line errors about a bad input shown on the page."""
    try:
        return run(*inputs)
    except (ValueError, FileNotFoundError) as error:
        raise gr.Error(str(error)) from error


def classify_pair(onset: Any, apex: Any) -> list[Any]:
    """The pair tab: the recognition pipeline on an (onset, apex) pair."""
    if onset is None or apex is None:
        raise gr.Error("Give both frames: an onset image (the face at rest) and an apex image (the peak).")
    return _shown(_checked(ANALYZER.pair, onset, apex))


def spot_video(video: str | None) -> list[Any]:
    """The video tab: spot the events, show the strongest micro-expression, the motion curve and the events."""
    if not video:
        raise gr.Error("Upload a video first (or pick the example below).")
    analysis = _checked(ANALYZER.video, video)
    return [*_shown(analysis), motion_curve(analysis.spotting, analysis.event), _event_rows(analysis.spotting)]


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
            label_output = gr.Label(label="class probabilities", num_top_classes=len(ANALYZER.class_names),
                                    elem_id="probabilities")
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
    demo.launch()
