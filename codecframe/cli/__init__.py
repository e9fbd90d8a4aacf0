"""The ``codecframe`` command line."""
