"""Which facial regions drove one EPIR prediction: DTSM's kept-token map over the apex face, next to the flow.

Everything comes from one recognition pipeline result (`return_token_map=True`): the face crop, the flow image and
the token map of the same pass, so a video is decoded once and nothing is recomputed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .png import new_figure, save_png


def plot_token_map(result: dict, out: str | Path) -> None:
    """Write a 3-panel PNG to `out`: apex face with the kept patches highlighted | flow image (u, v, strain as RGB) |
    strain."""
    face, token_map, flow_image = result["face"], result["token_map"], result["flow_image"]
    best = result["predictions"][0]
    figure = new_figure(9.6, 3.4)
    axes = figure.subplots(1, 3)
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
    save_png(figure, out)
