"""The policy parity cases of tests/interop_policy_pending.py on which the
mount already agrees with upstream. Delete this file when the pending one
is collected (see its docstring)."""

import pytest

from interop import upstream  # noqa: F401 (fixture)
from interop_policy_pending import CASES, NOT_YET, check_parity

TODAY = [c for c in CASES if c[0] not in NOT_YET]


@pytest.mark.parametrize("rego,want", [c[1:] for c in TODAY], ids=[c[0] for c in TODAY])
def test_policy_parity_today(upstream, tool, keyring, mount, tmp_path, request, rego, want):
    check_parity(upstream, tool, keyring, mount, tmp_path, request, rego, want)
