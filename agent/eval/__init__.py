"""`chatedit eval`: runs a set of pictures and turns through the agent, and scores what changed.

- `sets`: an item is a picture and its turns; the plain JSONL format and reading it.
- `converters`: the layouts of GEdit-Bench, ImgEdit (single and multi-turn) and EdiVal-Agent as items.
- `scores`: scores that need no judge (changed pixels, PSNR, SSIM, LPIPS, shift by phase correlation).
- `judge`: VIEScore-style semantic consistency and perceptual quality from a VLM, as GEdit-Bench scores them.
- `runner`: runs items through an `Editor` (and the whole-image baseline), writes pictures and results, resumes.
- `baseline`: the family's instruction editor on the whole picture, with no mask and no paste.
- `tables`: the summary table and the per-turn preservation table.
- `command`: the typer command.
"""
