"""Show which facial regions drove an EPIR prediction: DTSM's kept-token map over the apex face, next to the flow.

    python examples/visualize.py --model path/to/epir --onset onset.png --apex apex.png --out overlay.png
    python examples/visualize.py --model path/to/epir --video clip.mp4 --out overlay.png

The model folder is one written by `epir_hf.save_for_hub` (or `save_pretrained` of model + processor); the
pipeline detects the face, computes the onset→apex flow (spotting the apex of a video), classifies it and returns
the mask of the patches that dynamic token selection (DTSM) kept.
"""

from __future__ import annotations

import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from transformers import pipeline  # noqa: E402
from transformers.video_utils import load_video  # noqa: E402


def save_overlay(result: dict, flow_image: np.ndarray, out: str) -> None:
    """Write a 3-panel PNG: apex face with kept patches highlighted | flow image (u, v, strain as RGB) | strain."""
    face, token_map = result["face"], result["token_map"]
    best = result["predictions"][0]
    figure, axes = plt.subplots(1, 3, figsize=(9.6, 3.4))
    axes[0].imshow(face, cmap="gray", vmin=0, vmax=255)
    axes[0].imshow(np.ma.masked_where(token_map == 0, token_map), cmap="autumn", alpha=0.45, vmin=0, vmax=1)
    axes[0].set_title(f"apex face, kept tokens ({token_map.mean():.0%})")
    axes[1].imshow(flow_image, interpolation="nearest")
    axes[1].set_title("flow (R=u, G=v, B=strain)")
    axes[2].imshow(flow_image[..., 2], cmap="magma", interpolation="nearest")
    axes[2].set_title("optical strain")
    for axis in axes:
        axis.set_axis_off()
    frames = f" (onset {result['onset_index']}, apex {result['apex_index']})" if "apex_index" in result else ""
    figure.suptitle(f"{best['label']} {best['score']:.2f}{frames}")
    figure.tight_layout()
    figure.savefig(out, dpi=100)
    plt.close(figure)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="folder with the EPIR model, processor and pipeline code")
    parser.add_argument("--onset", help="onset frame (image file)")
    parser.add_argument("--apex", help="apex frame (image file)")
    parser.add_argument("--video", help="a clip instead of --onset/--apex; its apex is spotted automatically")
    parser.add_argument("--out", default="token_map.png", help="PNG to write")
    args = parser.parse_args(argv)
    if bool(args.video) == bool(args.onset and args.apex):
        parser.error("give either --video, or both --onset and --apex")

    pipe = pipeline("micro-expression-recognition", model=args.model, trust_remote_code=True)
    if args.video:
        result = pipe(args.video, return_token_map=True)
        frames, _ = load_video(args.video, backend="opencv")
        onset, apex = frames[result["onset_index"]], frames[result["apex_index"]]
    else:
        onset, apex = args.onset, args.apex
        result = pipe({"onset": onset, "apex": apex}, return_token_map=True)
    save_overlay(result, pipe.image_processor.compute_flow_image(onset, apex), args.out)
    print(f"{result['predictions'][0]['label']} ({result['predictions'][0]['score']:.2f}); wrote {args.out}")


if __name__ == "__main__":
    main()
