"""Every OpInfo entry through the three memory audits of tests/_saved_audit.py: no result aliases an input it is not
a view of, no forward or backward writes into its inputs or its incoming gradient, and every backward declares (as
``saved``) the tensors it reads, so in-place edits are refused or harmless."""
import pytest

torch = pytest.importorskip('torch')
pytest.importorskip('expecttest')  # PyTorch's testing internals need it

from _opinfo import public_entries, entry_name  # noqa: E402
from _saved_audit import audit_alias, audit_pure, audit_saved  # noqa: E402

torch.set_num_threads(1)
_BY_NAME = {entry_name(op): op for op in public_entries()}


@pytest.mark.parametrize('name', sorted(_BY_NAME))
def test_results_do_not_alias_inputs(name):
    assert audit_alias(_BY_NAME[name]) is None, audit_alias(_BY_NAME[name])


@pytest.mark.parametrize('name', sorted(_BY_NAME))
def test_forward_and_backward_write_no_input(name):
    r = audit_pure(_BY_NAME[name])
    assert r is None, f'{name}: {r}'


@pytest.mark.parametrize('name', sorted(_BY_NAME))
def test_backward_declares_what_it_reads(name):
    r = audit_saved(_BY_NAME[name])
    assert r is None, f'{name}: {r}'
