"""Image processor for EPIR: (onset, apex) frames → face crop → optical flow → (u, v, strain) pixel values.

Why: EPIR does not look at faces but at the onset→apex motion of a face. This processor reproduces the flow
pipeline of the micro-expression literature so that raw frames, a video (through the pipeline) and the public
precomputed flow images of the MEGC2019 composite release all reach the model in one tensor layout.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from numbers import Real
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageMode, UnidentifiedImageError
from transformers.image_processing_backends import PilBackend
from transformers.image_processing_utils import BatchFeature, get_size_dict
from transformers.image_utils import SizeDict
from transformers.processing_utils import ImagesKwargs, Unpack
from transformers.utils import logging

from .face_crop import FaceBox, check_box, check_face_index, crop, expand_box, locate_faces
from .face_registration import FaceTracker
from .facial_regions import FaceLayout, RegionalMotion
from .optical_flow import FLOW_METHODS, compute_optical_flow, flow_to_image, min_max_to_uint8, resize_to
from .photometric import match_lighting

logger = logging.get_logger(__name__)

NO_FACE_POLICIES = ("error", "full_frame")
FACE_REGION_SOURCES = ("detected", "already_cropped", "given", "not_cropped", "not_found")
NO_RELIABLE_MOTION = "no reliable motion"
PAIR_OPTIONS = ("do_face_crop", "face_margin", "on_no_face", "flow_method", "flow_size", "min_motion", "align_face",
                "match_lighting")
"""The options that decide how a pair of frames becomes a flow image, leaving the model's input (its size and
scaling) as the model was trained with: the recognition pipeline takes them per call."""
_FLOW_OPTIONS = PAIR_OPTIONS + ("size",)
_CALL_OPTIONS = PAIR_OPTIONS + ("do_rescale", "rescale_factor", "do_normalize", "image_mean", "image_std")
_MIN_SIDE = 16
MIN_MOTION = 0.5
"""Default `min_motion`: the motion of the most moving facial region (pixels of the 128 px face crop, see
`facial_regions`) below which a pair shows no motion that TV-L1 can tell from sensor noise, compression or a change
of lighting. It is the largest 99th percentile that still real faces reach under sensor noise, JPEG compression, a
grey-level step, a flicker, an exposure step and a lighting gradient (experiment E32, docs/preprocessing.md). Motions
of micro-expression size measure less (a 1.2 px lip-corner pull on a 224 px crop: 0.16 px, median), so they are
flagged too: the check vouches for large motions only."""
MAX_FACE_UPSCALING = 2
"""How many times a face region may be enlarged to reach `flow_size`: a region whose shorter side is under
`flow_size / MAX_FACE_UPSCALING` (64 px at the default 128) gets a logged warning naming its size. Beyond 2x, each
camera pixel spans more than two pixels of the flow crop: the flow then follows interpolated edges rather than the
skin texture it needs, and sensor noise, enlarged into blobs of several pixels, looks like motion, the failure
`min_motion` guards against. The model's training flows were computed on crops of at least `flow_size`, which
were reduced, never enlarged."""
_PIL_FLOAT_MODES = ("F",)
_PIL_INTEGER_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N")


class EPIRImageProcessorKwargs(ImagesKwargs, total=False):
    """The flow options of `EPIRImageProcessor` on top of the standard image kwargs (all overridable per call)."""

    do_face_crop: bool | None
    face_margin: float | None
    on_no_face: str | None
    flow_method: str | None
    flow_size: int | None
    min_motion: float | None
    align_face: bool | None
    match_lighting: bool | None
    training_inputs: str | None


@dataclass(frozen=True)
class FaceRegion:
    """The part of a pair's frames the flow is computed on, and how it was chosen.

    `box` is (x, y, w, h) in frame pixels, or None when the whole frames are used as they are. `source` is one of
    `FACE_REGION_SOURCES`: "detected" (a face found in a larger frame), "already_cropped" (the frame is itself a
    face crop, so all of it is used), "given" (the caller's box), "not_cropped" (`do_face_crop=False`) or
    "not_found" (no face, `on_no_face="full_frame"`). `candidates` are the regions of every face found in the frame,
    largest first, the order a face is chosen in (`box` is one of them); empty when no face was searched for or
    found.
    """

    box: FaceBox | None
    source: str
    candidates: tuple[FaceBox, ...] = ()


@dataclass(frozen=True)
class PairFlow:
    """Everything `EPIRImageProcessor.process_pair` computed for one (onset, apex) pair.

    `onset_face` / `apex_face` are the float32 `flow_size`² grayscale crops (0..255) — the apex aligned to the onset
    and given its lighting unless those options are off —, `flow` their float32 `[flow_size, flow_size, 2]`
    onset→apex flow in pixels, `flow_image` the uint8 (u, v, strain) image the model reads, `pixel_values` its
    float32 (3, H, W) model input, and `motion` the motion of the most moving facial region in pixels of the
    `flow_size` crop (`facial_regions`). Below `min_motion` the pair shows no motion that the flow can tell from
    noise. `aligned` is False when the apex could not be aligned to the onset (then it is cut at the onset's box).
    Both faces are cut at the onset's box first, so a head that moved by more than a fifth of the face between the
    two frames cannot be aligned; a video is aligned frame by frame instead (`face_registration`).
    """

    region: FaceRegion
    onset_face: np.ndarray
    apex_face: np.ndarray
    flow: np.ndarray
    flow_image: np.ndarray
    pixel_values: np.ndarray
    motion: float
    min_motion: float
    aligned: bool = True

    @property
    def reliable_motion(self) -> bool:
        return self.motion >= self.min_motion


@dataclass(frozen=True)
class FlowSettings:
    """The resolved, validated options that turn one (onset, apex) pair into a flow image."""

    do_face_crop: bool
    face_margin: float
    on_no_face: str
    flow_method: str
    flow_size: int
    min_motion: float
    align_face: bool
    match_lighting: bool
    height: int
    width: int

    def __post_init__(self):
        for option in ("do_face_crop", "align_face", "match_lighting"):
            if not isinstance(getattr(self, option), bool):
                raise ValueError(f"{option} must be True or False, got {getattr(self, option)!r}")
        if not isinstance(self.face_margin, (int, float)) or not 0.0 <= self.face_margin <= 1.0:
            raise ValueError(f"face_margin must be a fraction of the face box in [0, 1], got {self.face_margin!r}")
        if self.on_no_face not in NO_FACE_POLICIES:
            raise ValueError(f"on_no_face must be one of {NO_FACE_POLICIES}, got {self.on_no_face!r}")
        if self.flow_method not in FLOW_METHODS:
            raise ValueError(f"flow_method must be one of {FLOW_METHODS}, got {self.flow_method!r}")
        if not isinstance(self.flow_size, int) or self.flow_size < _MIN_SIDE:
            raise ValueError(f"flow_size must be an integer >= {_MIN_SIDE} (pixels), got {self.flow_size!r}")
        if isinstance(self.min_motion, bool) or not isinstance(self.min_motion, (int, float)) or not (
                0.0 <= self.min_motion < float("inf")):
            raise ValueError(f"min_motion must be a regional flow magnitude in pixels >= 0, got {self.min_motion!r}")
        if not (isinstance(self.height, int) and isinstance(self.width, int) and self.height > 0 and self.width > 0):
            raise ValueError(f"size must give a positive height and width, got {self.height}x{self.width}")

    @property
    def min_face_side(self) -> int:
        """The shorter side in pixels under which a face region is enlarged too much for the flow (see
        `MAX_FACE_UPSCALING`)."""
        return -(-self.flow_size // MAX_FACE_UPSCALING)


def _is_image(obj: Any) -> bool:
    """One image (not a pair or a batch): a PIL image, an array, a tensor or a file path."""
    if isinstance(obj, (Image.Image, np.ndarray, str, os.PathLike)):
        return True
    return type(obj).__module__.startswith("torch") and hasattr(obj, "detach")


def _describe(obj: Any) -> str:
    if isinstance(obj, (np.ndarray,)) or hasattr(obj, "detach"):
        return f"a {type(obj).__name__} of shape {tuple(obj.shape)}"
    if isinstance(obj, Image.Image):
        return f"a {obj.width}x{obj.height} PIL image"
    if isinstance(obj, (list, tuple)):
        return f"a {type(obj).__name__} of {len(obj)} items"
    return f"{type(obj).__name__} {obj!r}"[:120]


def _open_file(path: str | os.PathLike, name: str) -> Image.Image:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{name}: no such image file: {os.fspath(path)!r}")
    try:
        image = Image.open(path)
        image.load()
    except (UnidentifiedImageError, OSError) as error:
        raise ValueError(f"{name}: could not read an image from {os.fspath(path)!r} ({error})") from None
    return image


def _pil_to_array(image: Image.Image, name: str, color: bool) -> np.ndarray:
    if image.mode in _PIL_FLOAT_MODES:
        return np.asarray(image)
    if image.mode in _PIL_INTEGER_MODES:
        raise ValueError(f"{name}: unsupported PIL image mode {image.mode!r}; expected an 8-bit image (L, RGB, RGBA)"
                         " or a float image (F)")
    try:
        return np.asarray(image.convert("RGB" if color else "L"))
    except (OSError, ValueError) as error:
        raise ValueError(f"{name}: could not decode the PIL image ({error})") from None


def _to_array(image: Any, name: str, color: bool) -> np.ndarray:
    """Any supported image input → float32 [H, W, C] (C in 1, 3, 4) on the 0..255 scale, validated."""
    channels_first = False
    if isinstance(image, (str, os.PathLike)):
        image = _pil_to_array(_open_file(image, name), name, color)
    elif isinstance(image, Image.Image):
        image = _pil_to_array(image, name, color)
    elif _is_image(image) and not isinstance(image, np.ndarray):  # a torch tensor: channels-first by convention
        image = image.detach().cpu().numpy()
        channels_first = True
    elif not isinstance(image, np.ndarray):
        raise ValueError(f"{name}: expected a PIL image, a numpy array, a torch tensor or an image file path, got "
                         f"{_describe(image)}")
    if image.ndim == 2:
        image = image[:, :, None]
    elif image.ndim == 3:
        first, last = image.shape[0] in (1, 3, 4), image.shape[-1] in (1, 3, 4)
        if first and (channels_first or not last):
            image = np.moveaxis(image, 0, -1)
        elif not last:
            raise ValueError(f"{name}: unsupported image shape {image.shape}; expected HxW, HxWxC or CxHxW with "
                             "C in (1, 3, 4)")
    else:
        raise ValueError(f"{name}: unsupported image shape {image.shape}; expected HxW, HxWxC or CxHxW with "
                         "C in (1, 3, 4)")
    if image.shape[0] < _MIN_SIDE or image.shape[1] < _MIN_SIDE:
        raise ValueError(f"{name}: the image is {image.shape[1]}x{image.shape[0]} px; at least "
                         f"{_MIN_SIDE}x{_MIN_SIDE} is needed")
    if image.dtype == np.uint8:
        return image.astype(np.float32)
    if not np.issubdtype(image.dtype, np.floating):
        raise ValueError(f"{name}: unsupported dtype {image.dtype}; expected uint8 (0..255) or float "
                         "(0..1 or 0..255)")
    image = image.astype(np.float32)
    if not np.isfinite(image).all():
        raise ValueError(f"{name}: the float image contains NaN or infinite values")
    low, high = float(image.min()), float(image.max())
    if low < 0.0 or high > 255.0:
        raise ValueError(f"{name}: float pixel values span [{low:.3g}, {high:.3g}]; expected 0..1 or 0..255")
    # A float image whose values all lie in [0, 1] is read on the 0..1 scale.
    return image * 255.0 if high <= 1.0 else image


def load_frame(image: Any, name: str = "frame") -> np.ndarray:
    """Any supported frame input → 2-D float32 grayscale on the 0..255 scale (RGB(A) arrays are taken as RGB)."""
    image = _to_array(image, name, color=False)
    red, green, blue = (image[..., min(channel, image.shape[-1] - 1)] for channel in range(3))
    if image.shape[-1] == 1 or np.array_equal(red, green) and np.array_equal(green, blue):
        # A gray frame stored in colour is read exactly, as the same frame stored in gray is.
        return np.ascontiguousarray(red)
    return cv2.cvtColor(np.ascontiguousarray(image[..., :3]), cv2.COLOR_RGB2GRAY)


def load_flow_image(image: Any, name: str = "flow") -> np.ndarray:
    """A precomputed flow image → float32 [H, W, 3] (u, v, strain) on the 0..255 scale; alpha is dropped.

    A grayscale image is refused with a `ValueError` naming it (and its file): read as a flow it would give
    u = v = strain. Grayscale means a single channel — a file or PIL image of mode L, LA, 1, I or F, or an array with
    one channel — or three identical channels that are not constant (a gray image saved in colour). A constant image
    passes: it is the flow image of two identical frames.
    """
    if isinstance(image, (str, os.PathLike)):
        image, name = _open_file(image, name), f"{name} {os.fspath(image)!r}"
    if isinstance(image, Image.Image) and ImageMode.getmode(image.mode).basemode == "L":
        raise ValueError(f"{name}: a flow image needs 3 channels (u, v, strain); this is a single-channel "
                         f"(mode {image.mode!r}) image")
    image = _to_array(image, name, color=True)
    if image.shape[-1] == 1:
        raise ValueError(f"{name}: a flow image needs 3 channels (u, v, strain); this is a single-channel image")
    flow = np.ascontiguousarray(image[..., :3])
    if np.ptp(flow) > 0 and np.array_equal(flow[..., 0], flow[..., 1]) and np.array_equal(flow[..., 1], flow[..., 2]):
        raise ValueError(f"{name}: a flow image needs 3 channels (u, v, strain); this is a grayscale image stored "
                         "with 3 identical channels")
    return flow


class EPIRImageProcessor(PilBackend):
    r"""
    Turns (onset, apex) frame pairs — or precomputed flow images — into EPIR's `pixel_values`.

    For each pair: face crop → grayscale → resize both crops to `flow_size` → align the apex to the onset and give
    it the onset's lighting → optical flow onset→apex → optical strain → stack (u, v, strain) → resize to `size` →
    min–max normalise each channel to 0..255 → rescale + normalise with `image_mean` / `image_std`.

    **Channel order** of `pixel_values[:, c]` and of `compute_flow_image(...)[..., c]`: c = 0 is u (horizontal
    flow, positive = rightwards), c = 1 is v (vertical flow, positive = downwards), c = 2 is the optical strain
    magnitude. This is the RGB order in which PIL reads the precomputed PNGs of the public MEGC2019 composite
    release, so `flows=[Image.open(png)]` and raw frames produce the same layout. With the default
    mean = std = 0.5, `pixel_values = (x / 255 - 0.5) / 0.5` lies in [-1, 1].

    Inputs (each frame): a PIL image, a numpy array (HxW, HxWx1, HxWx3 RGB, HxWx4 RGBA; uint8 on 0..255 or float
    on 0..1 or 0..255), a torch tensor (CxHxW or HxW(xC)) or an image file path.

    **Onset and apex sizes**: when a face box is applied (`do_face_crop=True` or a box passed in `face_boxes`),
    both frames must have the same size, because the onset's box is applied to the apex; otherwise a `ValueError`
    is raised. With `do_face_crop=False` each frame is taken as an already cropped face and resized to
    `flow_size` on its own, so their sizes may differ.

    Args:
        do_face_crop (`bool`, defaults to `True`): locate the face on the onset frame (OpenCV's bundled cascades,
            see `epir_hf.face_crop.locate_face`) and crop that box from both frames. A frame that is already a face
            crop, as the corpora ship them, is recognised and used whole. `False` skips detection entirely.
        face_margin (`float`, defaults to 0.0): grow a box *detected in a larger frame* by this fraction of its size
            on every side (a box given in `face_boxes`, or a frame that is already a face crop, is used as is).
        on_no_face (`str`, defaults to `"error"`): `"error"` raises a `ValueError` naming the sample when no face
            is found; `"full_frame"` uses the whole frame instead.
        flow_method (`str`, defaults to `"tvl1"`): `"tvl1"` (Dual TV-L1, as in the literature), `"dis"` or
            `"farneback"` (faster).
        flow_size (`int`, defaults to 128): side in pixels of the square face crops the flow is computed on.
        min_motion (`float`, defaults to `MIN_MOTION`): motion of the most moving facial region (`facial_regions`),
            in pixels of the `flow_size` crop, below which a pair is reported as showing "no reliable motion" (a
            logged warning, and a flag in the pipeline's output): per-channel min–max normalisation would otherwise
            stretch sensor noise into an input that looks like motion to the model.
        align_face (`bool`, defaults to `True`): align the apex face to the onset face on the nose (rotation and
            translation, `face_registration`) before the flow, so that a head that moved between the two frames
            does not show up as facial motion.
        match_lighting (`bool`, defaults to `True`): give the apex face the onset's lighting (a gain and an offset
            varying linearly across the face, `photometric`) before the flow, so that a change of exposure or a
            flickering lamp does not show up as motion.
        size (`dict`, defaults to `{"height": 28, "width": 28}`): size of the flow image fed to the model.
        training_inputs (`str`, *optional*): what the model saved with this processor was trained on, e.g. the
            precomputed flows of a corpus' face crops; written by `run_loso.py --train_full` so that a checkpoint
            says which inputs it expects. It changes no computation.
        do_rescale, rescale_factor, do_normalize, image_mean, image_std: as in every transformers image processor.

    Example:

    ```python
    >>> processor = EPIRImageProcessor()
    >>> inputs = processor(images=[(onset, apex)], return_tensors="pt")  # inputs.pixel_values: (1, 3, 28, 28)
    >>> inputs = processor(flows=[Image.open("flow/sub01_EP02_01f .png")], return_tensors="pt")
    ```
    """

    valid_kwargs = EPIRImageProcessorKwargs
    model_input_names = ["pixel_values"]

    do_face_crop = True
    face_margin = 0.0
    on_no_face = "error"
    flow_method = "tvl1"
    flow_size = 128
    min_motion = MIN_MOTION
    align_face = True
    match_lighting = True
    training_inputs = None
    size = {"height": 28, "width": 28}
    do_rescale = True
    rescale_factor = 1 / 255
    do_normalize = True
    image_mean = [0.5, 0.5, 0.5]
    image_std = [0.5, 0.5, 0.5]

    def __init__(self, **kwargs: Unpack[EPIRImageProcessorKwargs]):
        super().__init__(**kwargs)
        self.flow_settings()
        _check_scaling(self.rescale_factor, self.image_mean, self.image_std)

    def flow_settings(self, **overrides: Any) -> FlowSettings:
        """This processor's flow options, optionally overridden, validated (a `ValueError` names a bad one)."""
        values = {key: overrides.get(key, getattr(self, key)) for key in _FLOW_OPTIONS}
        size = values.pop("size")
        try:
            size = get_size_dict(dict(size) if isinstance(size, SizeDict) else size)
            height, width = size["height"], size["width"]
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"size must be an int or {{'height': h, 'width': w}}, got {size!r}") from None
        return FlowSettings(**values, height=height, width=width)

    # ------------------------------------------------------------------ single pairs

    def face_region(self, onset_gray: np.ndarray, name: str = "sample", settings: FlowSettings | None = None,
                    face_box: FaceBox | None = None, face_index: int | None = None) -> FaceRegion:
        """Where the face of a pair whose onset frame is `onset_gray` lies, and how that was decided.

        `face_box`, the caller's (x, y, w, h) box, is used as given. Otherwise applies `do_face_crop`, `face_margin`
        and `on_no_face` (a `ValueError` naming `name` when no face is found and `on_no_face="error"`). A frame that
        is already a face crop keeps its whole area, without margin. Of several faces the largest is used (the
        subject sits closest to the camera) and a warning names them all; `face_index` picks another, as an index
        into `FaceRegion.candidates` (largest first). A region whose shorter side is under `min_face_side` gets a
        warning naming its size: it is enlarged more than `MAX_FACE_UPSCALING` times for the flow.
        """
        settings = settings or self.flow_settings()
        height, width = onset_gray.shape
        if face_index is not None:
            face_index = check_face_index(face_index, f"{name}: face_index")
            if face_box is not None:
                raise ValueError(f"{name}: pass face_box or face_index, not both")
            if not settings.do_face_crop:
                raise ValueError(f"{name}: face_index picks one of the faces found, but do_face_crop=False "
                                 "searches for none")
        if face_box is not None:
            region = FaceRegion(check_box(face_box, height, width, f"{name} face box"), "given")
        elif not settings.do_face_crop:
            region = FaceRegion(None, "not_cropped")
        else:
            region = self._detected_region(onset_gray, name, settings, face_index)
        _, _, region_width, region_height = region.box or (0, 0, width, height)
        if min(region_width, region_height) < settings.min_face_side:
            logger.warning(f"{name}: the face region is {region_width}x{region_height} px, under the minimum face "
                           f"size of {settings.min_face_side} px for flow_size={settings.flow_size}; enlarged "
                           f"{settings.flow_size / min(region_width, region_height):.1f}x, its flow follows "
                           "interpolated pixels and noise.")
        return region

    @staticmethod
    def _detected_region(onset_gray: np.ndarray, name: str, settings: FlowSettings, face_index: int | None
                         ) -> FaceRegion:
        """The face region chosen among the faces `locate_faces` finds in the onset frame (see `face_region`)."""
        faces = locate_faces(onset_gray)
        height, width = onset_gray.shape
        if not faces and settings.on_no_face == "error":
            raise ValueError(
                f"{name}: no face found in the {width}x{height} onset frame. Pass its (x, y, w, h) box (face_box= "
                "to the pipeline, face_boxes= to the processor), use do_face_crop=False for frames that are already "
                "cropped faces, or on_no_face='full_frame'."
            )
        if face_index is not None and face_index >= len(faces):
            raise ValueError(f"{name}: face_index={face_index}, but {len(faces)} face(s) were found in the "
                             f"{width}x{height} onset frame (indices 0 to {len(faces) - 1}, largest first)")
        if not faces:
            return FaceRegion(None, "not_found")
        if faces[0].whole_frame:
            return FaceRegion(faces[0].box, "already_cropped", (faces[0].box,))
        boxes = tuple(expand_box(face.box, settings.face_margin, height, width) for face in faces)
        if face_index is None and len(boxes) > 1:
            logger.warning(f"{name}: {len(boxes)} faces found in the onset frame, at {list(boxes)} (x, y, w, h); "
                           f"using the largest, {boxes[0]}. Pick another with face_index= or by passing its box.")
        return FaceRegion(boxes[face_index or 0], "detected", boxes)

    def process_pair(self, onset: Any, apex: Any, face_box: FaceBox | FaceRegion | None = None,
                     name: str = "sample", **kwargs: Unpack[EPIRImageProcessorKwargs]) -> PairFlow:
        """One (onset, apex) pair through the whole flow path, returning everything that was computed.

        The pipeline, `compute_flow_image`, batches and the visualisation all go through here, so a pair is
        loaded, located, cropped and turned into flow exactly once. `face_box` is an (x, y, w, h) box of the
        frames, a `FaceRegion` from `face_region` (a video reuses its onset's), or None to locate the face.
        `kwargs` are processor options for this call only.
        """
        settings = self.flow_settings(**kwargs)
        onset_gray = load_frame(onset, f"{name} onset")
        apex_gray = load_frame(apex, f"{name} apex")
        height, width = onset_gray.shape
        if isinstance(face_box, FaceRegion):
            region = face_box
        elif face_box is not None:
            region = self.face_region(onset_gray, name, settings, face_box=face_box)
        else:
            region = None
        if region is None and settings.do_face_crop or region is not None and region.box is not None:
            if apex_gray.shape != onset_gray.shape:
                raise ValueError(
                    f"{name}: the onset frame is {width}x{height} but the apex frame is {apex_gray.shape[1]}x"
                    f"{apex_gray.shape[0]}; with a face crop both frames must have the same size (the onset's box "
                    "is applied to the apex). Use do_face_crop=False for frames that are already cropped faces."
                )
        region = region or self.face_region(onset_gray, name, settings)
        if region.box is not None:
            onset_gray, apex_gray = crop(onset_gray, region.box), crop(apex_gray, region.box)
        side = settings.flow_size
        # Cropping by hand and passing do_face_crop=False gives the same faces: both are aligned as crops.
        onset_face, apex_face = resize_to(onset_gray, side, side), resize_to(apex_gray, side, side)
        tracker = FaceTracker(onset_face, (0, 0, side, side), side) if settings.align_face else None
        apex = None if tracker is None else tracker.align(apex_face)
        if apex is not None and apex.aligned:
            apex_face = apex.face
        elif apex is not None:
            logger.warning(f"{name}: the apex face could not be aligned to the onset's (correlation "
                           f"{apex.correlation:.2f} on the nose); it is cut at the onset's box, so head motion "
                           "between the two frames remains in the flow.")
        if settings.match_lighting:
            apex_face = match_lighting(onset_face, apex_face, undo_motion=True)
        flow = compute_optical_flow(onset_face, apex_face, settings.flow_method)
        flow_image = flow_to_image(flow, settings.height, settings.width)
        layout = FaceLayout.for_face(onset_face) if tracker is None else tracker.layout
        motion = float(RegionalMotion(layout)(flow).max())
        if motion < settings.min_motion:
            logger.warning(f"{name}: {NO_RELIABLE_MOTION} (the most moving facial region moved {motion:.3f} px at "
                           f"{side} px, below min_motion={settings.min_motion}): the flow cannot tell a motion this "
                           "small from sensor noise or a change of lighting, so the scores may reflect those.")
        return PairFlow(region=region, onset_face=onset_face, apex_face=apex_face, flow=flow, flow_image=flow_image,
                        pixel_values=self._pixel_values(flow_image, **kwargs), motion=motion,
                        min_motion=settings.min_motion, aligned=apex is None or apex.aligned)

    def compute_flow_image(self, onset: Any, apex: Any, face_box: FaceBox | None = None, name: str = "sample",
                           **kwargs: Unpack[EPIRImageProcessorKwargs]) -> np.ndarray:
        """uint8 `[height, width, 3]` RGB flow image (u, v, strain), each channel min–max normalised to 0..255.

        The layout of the public MEGC2019 composite PNGs, so a dataset can cache it as an `Image` feature and
        later feed it through `flows=` with identical results.
        """
        return self.process_pair(onset, apex, face_box, name, **kwargs).flow_image

    def _pixel_values(self, flow_image: np.ndarray, **kwargs: Any) -> np.ndarray:
        """float32 (3, H, W) model input of one flow image, with this processor's (or the call's) scaling."""
        option = {key: kwargs.get(key, getattr(self, key)) for key in
                  ("do_rescale", "rescale_factor", "do_normalize", "image_mean", "image_std")}
        values = np.moveaxis(flow_image, -1, 0).astype(np.float32)
        if option["do_rescale"]:
            values = self.rescale(values, option["rescale_factor"])
        if option["do_normalize"]:
            values = self.normalize(values, option["image_mean"], option["image_std"])
        return values.astype(np.float32, copy=False)

    # ------------------------------------------------------------------ batches

    def __call__(self, images: Any = None, flows: Any = None, face_boxes: Any = None,
                 **kwargs: Unpack[EPIRImageProcessorKwargs]) -> BatchFeature:
        """Preprocess (onset, apex) pairs (`images=`) or precomputed flow images (`flows=`). See the class doc."""
        return self.preprocess(images, flows=flows, face_boxes=face_boxes, **kwargs)

    def preprocess(self, images: Any = None, flows: Any = None, face_boxes: Any = None,
                   **kwargs: Unpack[EPIRImageProcessorKwargs]) -> BatchFeature:
        r"""
        Args:
            images: one (onset, apex) pair — a tuple or list of two frames — or a list of such pairs. A single bare
                image (not a pair) is read as a precomputed flow image, which is what transformers'
                `image-classification` pipeline passes; a bare image inside a batch is an error.
            flows: one precomputed flow image or a list of them (RGB = u, v, strain; resized to `size` and min–max
                normalised per channel, which leaves the public composite PNGs unchanged).
            face_boxes: for `images`, one (x, y, w, h) box per pair (or None to detect), overriding detection.
            return_tensors: `"pt"` for torch tensors, `"np"` or None for a float32 numpy array (B, 3, H, W).
            kwargs: any constructor option, for this call only.
        """
        flow_kwargs = {key: kwargs[key] for key in _FLOW_OPTIONS if key in kwargs}
        # Clear ValueErrors for the flow and scaling options before transformers' generic type checks.
        self.flow_settings(**flow_kwargs)
        _check_scaling(*(kwargs.get(key, getattr(self, key)) for key in ("rescale_factor", "image_mean", "image_std")))
        return super().preprocess(images, image_like_kwargs={"flows": flows, "face_boxes": face_boxes}, **kwargs)

    def _preprocess_image_like_inputs(self, images: Any, flows: Any = None, face_boxes: Any = None, *,
                                      size, return_tensors=None, **kwargs) -> BatchFeature:
        options = {key: kwargs[key] for key in _CALL_OPTIONS}
        options["size"] = {"height": size.height, "width": size.width}
        settings = self.flow_settings(**options)
        if (images is None) == (flows is None):
            raise ValueError("Pass either images= (onset, apex) frame pairs or flows= precomputed flow images, "
                             "exactly one of them.")
        if flows is None and _is_image(images):
            flows = images
        if flows is not None:
            if face_boxes is not None:
                raise ValueError("face_boxes= applies to frame pairs (images=), not to precomputed flows=")
            flow_list = [flows] if _is_image(flows) else list(flows)
            if not flow_list:
                raise ValueError("flows= is empty; expected at least one flow image")
            loaded = [load_flow_image(flow, f"flow {index}") for index, flow in enumerate(flow_list)]
            pixel_values = [self._pixel_values(min_max_to_uint8(resize_to(flow, settings.height, settings.width)),
                                               **options) for flow in loaded]
        else:
            pairs = _as_pairs(images)
            boxes = _as_boxes(face_boxes, len(pairs))
            pixel_values = [self.process_pair(onset, apex, box, f"sample {index}", **options).pixel_values
                            for index, ((onset, apex), box) in enumerate(zip(pairs, boxes))]
        return BatchFeature(data={"pixel_values": np.stack(pixel_values)}, tensor_type=return_tensors)


def _check_scaling(rescale_factor: Any, image_mean: Any, image_std: Any) -> None:
    """Raise a `ValueError` naming the rescale or normalisation option that would make pixel values NaN or infinite
    (a NaN mean, an infinite factor, a zero std): the model would then score every input as NaN."""
    if not _finite_numbers([rescale_factor], nonzero=True):
        raise ValueError(f"rescale_factor must be a finite non-zero number, got {rescale_factor!r}")
    for option, value, nonzero in (("image_mean", image_mean, False), ("image_std", image_std, True)):
        values = value if isinstance(value, (list, tuple)) else [value]
        if len(values) not in (1, 3) or not _finite_numbers(values, nonzero):
            raise ValueError(f"{option} must be one number or 3 (for u, v, strain), finite"
                             f"{' and non-zero' if nonzero else ''}; got {value!r}")


def _finite_numbers(values: list, nonzero: bool) -> bool:
    return all(isinstance(v, Real) and not isinstance(v, bool) and np.isfinite(v) and (v != 0 or not nonzero)
               for v in values)


def _as_pairs(images: Any) -> list[tuple[Any, Any]]:
    """Normalise `images=` to a list of (onset, apex) pairs, naming the first sample that is not a pair."""
    if not isinstance(images, (list, tuple)) or not images:
        raise ValueError(f"images= expects an (onset, apex) pair or a list of pairs, got {_describe(images)}")
    if len(images) == 2 and not any(isinstance(item, (list, tuple)) for item in images):
        return [tuple(images)]
    for index, pair in enumerate(images):
        if not (isinstance(pair, (list, tuple)) and len(pair) == 2):
            got = "a single image" if _is_image(pair) else _describe(pair)
            raise ValueError(f"sample {index}: expected an (onset, apex) pair of frames, got {got}")
    return [tuple(pair) for pair in images]


def _as_boxes(face_boxes: Any, count: int) -> list[Any]:
    """One box (or None) per pair; a single bare (x, y, w, h) box is accepted for a single pair."""
    if face_boxes is None:
        return [None] * count
    if count == 1 and len(face_boxes) == 4 and all(np.isscalar(value) for value in face_boxes):
        return [face_boxes]
    if len(face_boxes) != count:
        raise ValueError(f"face_boxes= has {len(face_boxes)} entries for {count} pairs; expected one (x, y, w, h) "
                         "box or None per pair")
    return list(face_boxes)


__all__ = ["PAIR_OPTIONS", "EPIRImageProcessor", "FaceRegion", "FlowSettings", "PairFlow", "load_frame",
           "load_flow_image"]
