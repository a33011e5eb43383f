"""Errors a user can act on. Each message is a sentence that says what is wrong and what to do."""


class ChatEditError(Exception):
    """Base class: a problem chatedit explains to the user instead of crashing."""


class InputError(ChatEditError, ValueError):
    """The request or image is unusable (CLI exit 2, HTTP 400)."""


class TooLargeError(InputError):
    """The request or image exceeds a size limit (HTTP 413)."""


class ModelUnavailableError(ChatEditError, RuntimeError):
    """A model checkpoint is not in the cache and cannot be downloaded."""


class DamagedImageError(ChatEditError, RuntimeError):
    """A stored file no longer matches its id (disk damage or an outside edit)."""


class OutOfMemoryError(ModelUnavailableError):
    """The device ran out of memory even after a retry at a smaller size: the models do not fit as set.

    The message names the settings that would fit (HTTP 503, CLI exit code 3); the session is unchanged.
    """
