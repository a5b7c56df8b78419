"""Hypothesis runs the same examples on every run (``derandomize``), so CI passes or fails the same way on a given
commit; ``HYPOTHESIS_PROFILE=explore`` draws fresh random examples when hunting for new
failures."""

import os

from hypothesis import settings

settings.register_profile("default", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
