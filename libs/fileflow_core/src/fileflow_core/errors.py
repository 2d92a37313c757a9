"""One small error hierarchy; library exceptions are translated into these at the adapters."""


class FileflowError(Exception):
    """Base class of every error fileflow raises on purpose."""


class ConfigError(FileflowError):
    """A setting is missing or invalid; the message names the variable."""


class TransientError(FileflowError):
    """Worth retrying later: a server is down, a file is busy or changed while read."""


class UnavailableError(TransientError):
    """Something the work needs is down (a server, a root): the work waits for it, and no
    attempt of the file's is spent on it."""


class StoreUnavailableError(UnavailableError):
    """The document store cannot be reached."""


class RootUnavailableError(UnavailableError):
    """A root cannot testify about its files now (missing, unmounted, another filesystem)."""

    def __init__(self, root_id: str, reason: str) -> None:
        super().__init__(f"root {root_id!r} unavailable: {reason}")
        self.root_id = root_id
        self.reason = reason


class WriteRejectedError(TransientError):
    """The database refused a write (a constraint, a bad value), not a connection failure: in a
    batch, one file's data may be the cause, so each file is tried on its own."""


class PermanentError(FileflowError):
    """Retrying cannot help: the message is malformed or names a path outside every root."""

    # The bounded ``reason`` label of the failure metric.
    reason_label = "rejected_event"


class MessageDecodeError(PermanentError):
    """A message body that is not a valid fileflow event."""

    reason_label = "malformed_message"


class UnknownRootError(PermanentError):
    """An event names a root this ingestor does not have in FILEFLOW_ROOTS."""

    reason_label = "unknown_root"


class ContentMissingError(FileflowError):
    """The cache said a content was stored, but the store does not hold it: extract it again."""
