"""The native counters' keys and result names come from the extension (py/keys.c): decoded
there, named there, and the names are the metric labels the Python path counts under."""

from __future__ import annotations

import pytest

from geodns.dns.stats import COOKIE_RESULTS, RRL_ACTIONS

native = pytest.importorskip("geodns._native", reason="the C extension is not built")


def test_a_query_key_gives_zone_qtype_and_rcode() -> None:
    # zone index 2 (+1 in the key), qtype AAAA (28), NXDOMAIN (3): answer/answer.h GN_CKEY
    assert native.counter_key(3 << 32 | 28 << 8 | 3) == ("query", 2, 28, 3)
    # a qtype outside wire.TYPE_TEXT is counted as "other": label -1
    assert native.counter_key(1 << 32 | 0x10000 << 8 | 0) == ("query", 0, -1, 0)


def test_a_pool_key_gives_slot_and_pool() -> None:
    assert native.counter_key(1 << 63 | 7 << 8 | 4) == ("pool", 7, 4)


def test_action_keys_name_the_rrl_metric_labels() -> None:
    names = [native.counter_key(1 << 62 | i)[1] for i in range(4)]
    assert names == list(RRL_ACTIONS)
    with pytest.raises(ValueError):
        native.counter_key(1 << 62 | 4)


def test_a_key_with_no_zone_is_refused() -> None:
    with pytest.raises(ValueError):
        native.counter_key(28 << 8)


def test_cookie_results_are_the_metric_labels() -> None:
    assert native.COOKIE_RESULTS == COOKIE_RESULTS
