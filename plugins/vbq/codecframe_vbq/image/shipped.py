"""References (sha256) of the model files shipped in ``codecframe_vbq/assets`` (see ``docs/vbq.md``).

Both were produced by ``python -m codecframe_vbq.image.build --out-dir plugins/vbq/codecframe_vbq/assets
--steps 22000 --seed 0 --threads 1`` (789 s of CPU time for the VAE, 23 s for the tables).
"""

#: VAE weights, ``assets/image-vae.safetensors``.
VAE_REF = "sha256:b4db75fb95193cb5b7bc3f552821a829f2dcb1620727be839fcf214fdba45879"
#: VBQ tables fitted on the training images' latents, ``assets/image-tables.safetensors``.
TABLES_REF = "sha256:82aab76401c8142813a32fc81ae7728d80e10b7ec0e495a9c1ce86e4e14a19d7"
