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


def save_overlay(result: dict, out: str) -> None:
    """Write a 3-panel PNG: apex face with kept patches highlighted | flow image (u, v, strain as RGB) | strain.

    Everything comes from one pipeline result (`return_token_map=True`): the face crop, the flow image and the token
    map of the same pass, so a video is decoded once and nothing is recomputed.
    """
    face, token_map, flow_image = result["face"], result["token_map"], result["flow_image"]
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
    caveat = "" if result["reliable_motion"] else f" — no reliable motion ({result['motion']:.3f} px)"
    figure.suptitle(f"{best['label']} {best['score']:.2f}{frames}{caveat}")
    figure.tight_layout(rect=(0, 0, 1, 0.93))  # room for the title above the panels
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
    sample = args.video if args.video else {"onset": args.onset, "apex": args.apex}
    result = pipe(sample, return_token_map=True)
    save_overlay(result, args.out)
    motion = "" if result["reliable_motion"] else " — no reliable motion"
    print(f"{result['predictions'][0]['label']} ({result['predictions'][0]['score']:.2f}){motion}; wrote {args.out}")


if __name__ == "__main__":
    main()
