"""Components that ship with the core: a Gaussian posterior, a uniform quantizer, fixed and Lagrangian allocators."""
