"""The finder: what finds a named object in a picture and outlines it, behind one interface.

A finder detects phrases (each found object a `Detection`, carrying its mask when the finder outlines
what it finds), segments the one object a box and/or clicks mark, and proposes candidate regions of a
whole picture. Two finders play the ModelSet's detector and segmenter roles (`ModelSet.finder` names
which):

- `DinoSam`: GroundingDINO boxes for phrases; SAM ViT-B outlines boxes, clicks and candidates.
- `Sam3`: SAM 3 finds every instance of a phrase with its mask in one model, so a named target needs
  no second pass; SAM 3's tracker outlines boxes, clicks and candidates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Protocol, Sequence

import numpy as np
from PIL import Image

from chatedit.tools import detect, sam3, segment
from chatedit.tools.detect import Detection
from chatedit.tools.models import ModelSet
from chatedit.tools.segment import Box, Point


class Finder(Protocol):
    """Finds named objects and outlines marked ones, on the models of a ModelSet."""

    name: ClassVar[str]
    """`dino-sam` or `sam3`, as the settings and the report spell it."""

    def detect(
        self, image: Image.Image, phrases: list[str], *, box_threshold: float, text_threshold: float
    ) -> dict[str, list[Detection]]:
        """Gives back, for each phrase, the objects found for it, best first ([] when not found)."""
        ...

    def segment(self, image: Image.Image, *, box: Box | None = None, points: Sequence[Point] = ()) -> np.ndarray:
        """Gives back the mask (bool, image size) of the one object a box and/or points mark."""
        ...

    def candidates(self, image: Image.Image) -> list[np.ndarray]:
        """Gives back distinct candidate masks of the picture's regions, best rated first."""
        ...


@dataclass
class DinoSam:
    """GroundingDINO finds boxes for phrases; SAM ViT-B outlines boxes and clicks."""

    name: ClassVar[str] = "dino-sam"
    models: ModelSet

    def detect(
        self, image: Image.Image, phrases: list[str], *, box_threshold: float, text_threshold: float
    ) -> dict[str, list[Detection]]:
        """Gives back GroundingDINO's boxes per phrase, without masks (see `detect.detect`)."""
        return detect.detect(
            self.models.detector, image, phrases, box_threshold=box_threshold, text_threshold=text_threshold
        )

    def segment(self, image: Image.Image, *, box: Box | None = None, points: Sequence[Point] = ()) -> np.ndarray:
        """Gives back SAM's mask of the object a box and/or points mark."""
        return segment.segment_object(self.models.segmenter, image, box=box, points=points)

    def candidates(self, image: Image.Image) -> list[np.ndarray]:
        """Gives back SAM's segments of the whole picture."""
        return segment.segment_candidates(self.models.segmenter, image)


@dataclass
class Sam3:
    """SAM 3 finds every instance of a phrase with its mask; its tracker outlines boxes and clicks."""

    name: ClassVar[str] = "sam3"
    models: ModelSet

    def detect(
        self, image: Image.Image, phrases: list[str], *, box_threshold: float, text_threshold: float
    ) -> dict[str, list[Detection]]:
        """Gives back SAM 3's instances per phrase, each with its mask.

        `box_threshold` is the lowest instance score kept; SAM 3 scores a whole phrase, so
        `text_threshold` (GroundingDINO's per-word score) does not apply.
        """
        return sam3.find(self.models.detector, image, phrases, threshold=box_threshold)

    def segment(self, image: Image.Image, *, box: Box | None = None, points: Sequence[Point] = ()) -> np.ndarray:
        """Gives back the tracker's mask of the object a box and/or points mark."""
        return sam3.segment_object(self.models.segmenter, image, box=box, points=points)

    def candidates(self, image: Image.Image) -> list[np.ndarray]:
        """Gives back the tracker's segments of the whole picture."""
        return sam3.segment_candidates(self.models.segmenter, image)


FINDER_CLASSES: dict[str, type[DinoSam] | type[Sam3]] = {DinoSam.name: DinoSam, Sam3.name: Sam3}
"""Each finder by the name `ModelSet.finder` gives it."""


def finder_of(models: ModelSet) -> Finder:
    """Gives back the finder that `models` load (`ModelSet.finder`)."""
    return FINDER_CLASSES[models.finder](models)
