"""Example codecframe plugin: ``byte-rans``, a small pure-Python entropy coder (see ``specs/byte-rans.md``)."""

__version__ = "0.1.0"
