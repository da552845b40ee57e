"""PlainHistogram against its oracle: prometheus-client's own Histogram, given the same
observations, must expose the same text (the ``_created`` samples aside, which a plain
series does not keep)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from pulse_http.observability.metrics import FAST_BUCKETS
from pulse_http.observability.plain_histogram import PlainHistogram

NAME, DOC, LABELS = "pulse_test_seconds", "A test series", ("system", "operation")

observations = st.lists(
    st.tuples(
        st.sampled_from([("sqlite", "read"), ("sqlite", "write"), ("redis", "EVALSHA")]),
        st.one_of(
            st.floats(min_value=0, max_value=60, allow_nan=False),
            st.sampled_from(FAST_BUCKETS),  # exactly on a bound: le is inclusive
        ),
    ),
    max_size=60,
)


def _exposed(registry: CollectorRegistry) -> list[str]:
    text = generate_latest(registry).decode()
    return [line for line in text.splitlines() if "_created" not in line]


@given(observations)
def test_a_plain_histogram_exposes_what_prometheus_clients_histogram_does(
    seen: list[tuple[tuple[str, str], float]],
) -> None:
    plain_registry, oracle_registry = CollectorRegistry(), CollectorRegistry()
    plain = PlainHistogram(plain_registry, NAME, DOC, LABELS, FAST_BUCKETS)
    oracle = Histogram(NAME, DOC, LABELS, buckets=FAST_BUCKETS, registry=oracle_registry)
    for labels, seconds in seen:
        plain.child(labels).observe(seconds)
        oracle.labels(*labels).observe(seconds)
    assert _exposed(plain_registry) == _exposed(oracle_registry)


def test_a_label_set_is_one_child() -> None:
    plain = PlainHistogram(CollectorRegistry(), NAME, DOC, LABELS, FAST_BUCKETS)
    assert plain.child(("sqlite", "read")) is plain.child(("sqlite", "read"))
    assert plain.child(("sqlite", "read")) is not plain.child(("sqlite", "write"))
