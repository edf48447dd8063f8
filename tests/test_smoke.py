"""The tutorial's training loops (sections 1-3 need only the core) run and their losses fall as the tutorial's do."""
import numpy as np

from ember.app import tutorial


def test_core_sections_losses_fall():
    for n in (1, 2, 3):
        losses = tutorial.run([n], quiet=True)[n]
        assert len(losses) == 5
        assert losses[-1] < 1e-2 < losses[0]
        assert all(np.isfinite(losses))
