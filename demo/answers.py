"""What the page shows for one input: an `Analysis` laid out as the page's outputs (summary, class probabilities,
pictures, and for a video the motion curve).

Why a module apart from app.py: this is the part that needs torch, transformers, the checkpoint and matplotlib, which
run in a process of their own (model_process.py) while app.py's process serves the page; what it returns is plain
data (text, numbers, numpy pictures). The pictures come from pictures.py, the analysis from analysis.py.
"""

from __future__ import annotations

import os
from typing import Any

from analysis import Analysis, Analyzer
from pictures import (
    BRIGHTEST_PERCENTILE,
    face_crop,
    flow_colours,
    framed_face,
    kept_patches,
    motion_curve,
    strain_picture,
)


class Answers:
    """The outputs of both tabs, from one `Analyzer` of the demo's checkpoint."""

    def __init__(self) -> None:
        self.analyzer = Analyzer()

    def pair(self, onset: Any, apex: Any) -> list[Any]:
        """The pair tab: summary, probabilities and the six pictures for an (onset, apex) pair."""
        return self._shown(self.analyzer.pair(onset, apex))

    def video(self, path: str | os.PathLike, end_time: float) -> tuple[list[Any], list[dict[str, Any]]]:
        """The video tab: the pair tab's outputs for the strongest micro-expression and the motion curve; and every
        event spotted."""
        analysis = self.analyzer.video(path, end_time)
        return [*self._shown(analysis), motion_curve(analysis.spotting, analysis.event)], analysis.spotting["events"]

    def _shown(self, analysis: Analysis) -> list[Any]:
        result = analysis.recognition
        box = result["face_box"]
        flow, flow_scale = flow_colours(result["flow"])
        strain, strain_peak = strain_picture(result["flow"])
        probabilities = {prediction["label"]: prediction["score"] for prediction in result["predictions"]}
        return [self._summary(analysis, flow_scale, strain_peak), probabilities,
                framed_face(analysis.onset, box, result["face_boxes"]), face_crop(analysis.onset, box),
                face_crop(analysis.apex, box), flow, strain,
                kept_patches(result["face"], result["token_map"], self.analyzer.patch_grid)]

    def _summary(self, analysis: Analysis, flow_scale: float, strain_peak: float) -> str:
        """What the pictures cannot say: the face found, how much it moved, and whether the scores mean anything."""
        result, grid = analysis.recognition, self.analyzer.patch_grid
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
                lines.append(f"No micro-expression was spotted. Shown: the first frame ({result['onset_index']}) and "
                             f"the frame that moved most from it ({result['apex_index']}).")
        boxes = result["face_boxes"]
        if result["face_box"] is None:
            lines.append("No face was found: the whole frames were used.")
        else:
            x, y, w, h = result["face_box"]
            found = f"; {len(boxes)} faces found, the largest used" if len(boxes) > 1 else ""
            how = "followed through the video" if analysis.event is not None else result["face_region"]
            lines.append(f"Face ({how}): {w}×{h} px at ({x}, {y}){found}.")
        minimum = self.analyzer.recognize.image_processor.flow_settings().min_motion
        lines.append(f"The most moving facial region moved {result['motion']:.2f} px of the 128-px face crop.")
        if not result["reliable_motion"]:
            lines.append(f"**Warning:** that is below the {minimum:g} px that the flow can tell from noise or a change "
                         "of lighting: these scores mean nothing.")
        kept = int(round(result["token_map"].mean() * grid ** 2))
        lines.append(f"Flow: the hue is the direction of the movement (the wheel in the corner), the brightness its "
                     f"length, brightest at {flow_scale:.2f} px; the strain is brightest at {strain_peak:.3f} (each "
                     f"the {BRIGHTEST_PERCENTILE}th percentile). The model's token selection kept {kept} of its "
                     f"{grid ** 2} patches (orange); the others were fused into one token.")
        return "\n".join(lines)
