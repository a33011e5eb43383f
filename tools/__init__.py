"""chatedit's hands: plain functions over images and masks (no graph state, no LLM)."""
