"""Example codecframe plugin: ``laplace`` posterior and ``deadzone`` quantizer (see ``specs/deadzone.md``)."""

__version__ = "0.1.0"
