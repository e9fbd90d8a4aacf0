"""Repository-wide pytest set-up: hypothesis profiles.

Locally hypothesis explores new random examples on every run. Under CI (``CI`` set) it is
derandomized, so a submission's CI result is reproducible; run ``pytest --hypothesis-profile=dev``
or plain ``pytest`` locally to keep searching for new counterexamples.
"""

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("dev", print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "dev")
