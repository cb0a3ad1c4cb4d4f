"""Checks that the installed OpenCV build has what the flow pipeline calls.

Several OpenCV wheels install the same `cv2` module and overwrite one another, and only some of them carry the
contrib TV-L1 solver, the Haar cascades or even the object-detection module. Without a check, such a build fails
deep inside the processor with an AttributeError that does not say which build to install.
"""

from __future__ import annotations

import cv2

INSTALL_HINT = ('pip uninstall -y opencv-python opencv-python-headless opencv-contrib-python; '
                'pip install "opencv-contrib-python-headless>=4.10,<5"')


def require_opencv(attribute: str, purpose: str):
    """`cv2.<attribute>` (dotted), or an ImportError naming the build, the purpose and the fix."""
    value = cv2
    for name in attribute.split("."):
        value = getattr(value, name, None)
        if value is None:
            raise ImportError(f"This OpenCV build ({cv2.__version__}) has no cv2.{attribute}, needed for {purpose}. "
                              f"Install the build this project uses: {INSTALL_HINT}")
    return value
