"""The public, stable kit for testing codecframe components (``codecframe.testing``).

- :mod:`~codecframe.testing.strategies`: hypothesis strategies for posteriors, configs, integer
  probability models and symbols;
- contract checks :func:`check_posterior`, :func:`check_quantizer`, :func:`check_allocator`,
  :func:`check_entropy_coder` (and :func:`check_config` for any kind), raising
  :class:`ContractViolation`; :func:`isolated` runs one in a child process with a time limit;
- :mod:`~codecframe.testing.suite`: the checks over every installed component and every pipeline
  combination; :mod:`~codecframe.testing.pytest_plugin` parametrizes them as pytest fixtures.

See ``docs/plugin-authors.md``.
"""

from . import strategies, suite
from .contracts import (
    ContractViolation,
    check_allocator,
    check_config,
    check_entropy_coder,
    check_posterior,
    check_quantizer,
)
from .isolation import isolated

__all__ = [
    "ContractViolation",
    "check_allocator",
    "check_config",
    "check_entropy_coder",
    "check_posterior",
    "check_quantizer",
    "isolated",
    "strategies",
    "suite",
]
