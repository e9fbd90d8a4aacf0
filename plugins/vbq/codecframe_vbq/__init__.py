"""Variational Bayesian quantization for codecframe (``docs/vbq.md``, ``specs/vbq.md``).

- :class:`~codecframe_vbq.quantizer.VBQQuantizer` (registered id ``vbq``) and its fitted tables
  (:mod:`~codecframe_vbq.tables`, :func:`~codecframe_vbq.fit.fit_tables`);
- :mod:`codecframe_vbq.image`: the variable-rate VAE image codec and its CLI (``codecframe image``);
- :mod:`codecframe_vbq.modelcomp`: VBQ on a variational Bayesian network's weights.
"""

from .fit import fit_tables
from .quantizer import VBQQuantizer
from .tables import VBQTables

__all__ = ["VBQQuantizer", "VBQTables", "fit_tables"]
