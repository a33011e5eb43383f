"""chatedit's hands: plain functions over images and masks (no graph state, no LLM)."""

import logging


class _DropImportNotices(logging.Filter):
    """Drops what the quantization libraries say while diffusers and transformers import them.

    torchao registers its enums the way torch now deprecates; bitsandbytes looks for an optional CPU
    kernel on the hub; diffusers notes torchao tensor classes it does not use. None of it is about
    what chatedit runs, and chatedit reports its own progress (see tools/loading.py).
    """

    NOTICES = (
        "is an Enum subclass and is now natively supported",
        "from kernels-community",
        "Unable to import `torchao` Tensor objects",
    )

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(notice in message for notice in self.NOTICES)


for _name in ("torch.utils._pytree", "bitsandbytes.backends.cpu.ops", "diffusers.quantizers.torchao.torchao_quantizer"):
    logging.getLogger(_name).addFilter(_DropImportNotices())
