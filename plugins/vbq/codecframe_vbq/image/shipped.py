"""References (sha256) of the model files shipped in ``codecframe_vbq/assets`` (see ``docs/vbq.md``).

All three were produced by ``python -m codecframe_vbq.image.build --out-dir plugins/vbq/codecframe_vbq/assets
--steps 22000 --seed 0 --threads 1`` (789 s of CPU time for the VAE; the tables were refitted for the
existing weights with ``--weights``, 43 s of CPU time for both tables files).
"""

#: VAE weights, ``assets/image-vae.safetensors``.
VAE_REF = "sha256:b4db75fb95193cb5b7bc3f552821a829f2dcb1620727be839fcf214fdba45879"
#: VBQ tables fitted on the training images' latents with the calibrated σ_eff they record
#: (α = 0: σ = its per-channel training mean) and the grid over the full training range at quantiles
#: of the flattened prior p^0 (prior span "full", power 0: points evenly spaced over the occupied
#: histogram bins of the training means), all chosen on the validation image, ``assets/image-tables.safetensors``.
TABLES_REF = "sha256:391fb3c40ca6880b6681df85e3a3edcd21d55f4691b34b86ad54debfb8133dd5"
#: The same fitted with raw σ and the paper's quantile grid (the default tables before, so files
#: written with them, e.g. the conformance vectors, still decode), ``assets/image-tables-raw-sigma.safetensors``.
RAW_SIGMA_TABLES_REF = "sha256:82aab76401c8142813a32fc81ae7728d80e10b7ec0e495a9c1ce86e4e14a19d7"
