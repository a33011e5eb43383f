"""What a removal asks a region editor for: the scene behind the object, never another object.

The one removal prompt of chatedit: the inpainters paint it and the rules planner writes it into its
plans. This module imports nothing, so a planner can name these words without loading model code.
"""

REMOVE_PROMPT = "background, empty scene, seamless, natural continuation"
"""What fills the place of a removed object."""

REMOVE_NEGATIVE_PROMPT = "object, person, people, animal, text, watermark, logo, signature, duplicate, artifacts"
"""What the fill must not become; the object's own name goes in front of these."""
