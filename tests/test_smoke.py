"""The tutorial's three training loops run and their losses fall as the tutorial's do."""
import importlib.util
import pathlib

import numpy as np


def _tutorial():
    path = pathlib.Path(__file__).resolve().parents[1] / 'examples' / 'tutorial.py'
    spec = importlib.util.spec_from_file_location('tutorial', path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_tutorial_losses_fall(capsys):
    tut = _tutorial()
    for fn in tut.SECTIONS:
        losses = fn()
        assert len(losses) == 5
        assert losses[-1] < 1e-2 < losses[0]
        assert all(np.isfinite(losses))
