"""PyTorch's own OpInfo database (issue 12's 585 public entries) run through ember: forward and float64 gradients.

How an entry is checked is in tests/_opinfo.py. Entries that fail today are listed, each with its reason, in
tests/_opinfo_known.py's KNOWN_FAILING, which only shrinks: an unlisted entry that fails and a listed entry that
now passes both fail this file. docs/opinfo.json records the pass count the README cites.
"""
import json
import os

import pytest

torch = pytest.importorskip('torch')
pytest.importorskip('expecttest')  # PyTorch's testing internals need it

from _opinfo import public_entries, entry_name, check, MAX_SAMPLES  # noqa: E402
from _opinfo_known import KNOWN_FAILING  # noqa: E402

torch.set_num_threads(1)
ENTRIES = public_entries()
_BY_NAME = {entry_name(op): op for op in ENTRIES}
_SUMMARY = os.path.join(os.path.dirname(__file__), '..', 'docs', 'opinfo.json')


def test_the_database_has_issue_12s_public_entries():
    assert len(_BY_NAME) == len(ENTRIES)  # names are unique
    if torch.__version__.startswith('2.13'):
        assert len(ENTRIES) == 585
    unknown = sorted(set(KNOWN_FAILING) - set(_BY_NAME))
    assert not unknown, f'KNOWN_FAILING names entries PyTorch no longer has: {unknown}'


@pytest.mark.parametrize('name', sorted(_BY_NAME))
def test_opinfo_entry(name):
    result = check(_BY_NAME[name])
    if name in KNOWN_FAILING:
        assert result is not None, f'{name} now passes: remove it from KNOWN_FAILING in tests/_opinfo_known.py'
    else:
        assert result is None, f'{name}: {result}'


def test_recorded_pass_count_is_current():
    with open(_SUMMARY) as f:
        summary = json.load(f)
    passed = len(ENTRIES) - len(set(KNOWN_FAILING) & set(_BY_NAME))
    print(f'\nOpInfo: {passed} of {len(ENTRIES)} public entries pass ({100 * passed / len(ENTRIES):.1f}%)')
    assert summary['max_samples_per_pass'] == MAX_SAMPLES
    if torch.__version__.startswith(summary['torch'].split('+')[0].rsplit('.', 1)[0]):
        assert (summary['passed'], summary['entries']) == (passed, len(ENTRIES)), \
            'run `python tests/_opinfo.py --write` and update the README figure'
