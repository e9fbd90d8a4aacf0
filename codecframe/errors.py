"""The codecframe exception hierarchy: every failure the library reports derives from CodecframeError."""

from __future__ import annotations


class CodecframeError(Exception):
    """Base class of every error that codecframe raises on purpose."""


class ConfigError(CodecframeError, ValueError):
    """A component or pipeline configuration is malformed, has an unknown key, or an invalid value."""


class InputError(CodecframeError, ValueError):
    """Input data is unusable: wrong shape or dtype, NaN or infinite values, empty where data is required."""


class IncompatibleError(CodecframeError):
    """Components that cannot work together were combined (found when the pipeline is built)."""


class RegistryError(CodecframeError, LookupError):
    """A component could not be found or loaded."""


class UnknownComponentError(RegistryError):
    """No installed component has the requested id."""


class DuplicateComponentError(RegistryError):
    """Two distributions register the same id for one kind and none was chosen explicitly."""


class PluginLoadError(RegistryError):
    """A plugin's entry point failed to import or does not name a valid component."""


class AssetError(CodecframeError):
    """An asset referenced by sha256 is missing, unreadable, or its content does not match its hash."""


class FormatError(CodecframeError):
    """A container or stream is malformed (base class of the container errors)."""


class TruncatedError(FormatError):
    """The data ends before a declared structure does."""


class ChecksumError(FormatError):
    """A checksum does not match the data it protects."""


class VersionError(FormatError):
    """The file uses a format or component version this reader does not support."""


class LimitError(FormatError):
    """A declared size exceeds a limit or the data actually present."""


class TrailingDataError(FormatError):
    """Bytes follow the last structure the format declares."""


class EncodeError(CodecframeError, ValueError):
    """Symbols cannot be encoded, e.g. a symbol outside the model's support."""


class DecodeError(FormatError):
    """An entropy-coded stream cannot be decoded with the given model."""


class PluginError(CodecframeError):
    """A component raised an exception that is not a codecframe error (a bug in the component).

    The message names the component, the distribution that provides it and the group; the original
    exception is the ``__cause__``.
    """

    def __init__(self, message: str, *, component: str = "", distribution: str = "", group: str | None = None) -> None:
        super().__init__(message)
        self.component, self.distribution, self.group = component, distribution, group

    def __reduce__(self) -> tuple:  # keep the attributes through pickling (worker processes)
        return (type(self), (str(self),), dict(self.__dict__))


class InputFileError(InputError, OSError):
    """An input path is missing, is a directory, or cannot be read (the CLI exits with code 3, as for OSError)."""


class OutOfMemoryError(LimitError):
    """An allocation failed (a ``MemoryError``, kept as the cause): the input is too large for this machine."""
