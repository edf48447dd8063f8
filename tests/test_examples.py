"""The Digits examples train to above 95% test accuracy, as the issue asks."""
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.mark.parametrize('name', ['digits_mlp.py', 'digits_cnn.py'])
def test_digits_example_accuracy(name):
    res = subprocess.run([sys.executable, str(ROOT / 'examples' / name)], capture_output=True, text=True,
                         timeout=300, cwd=ROOT)
    assert res.returncode == 0, res.stderr
    acc = float(re.search(r'test accuracy: ([\d.]+)%', res.stdout).group(1))
    assert acc > 95.0, res.stdout
