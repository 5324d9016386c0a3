"""Whether this process records OpenTelemetry spans: one answer, for the MCP SDK's request span and for ours.

A span is recorded once an OpenTelemetry SDK is configured (`opentelemetry-instrument`, or a tracer
provider set in code); until then the API hands out spans that record nothing, yet making each one
current still costs a few µs a call. So with no SDK no span is made at all, and the caller's trace
context, which the spans would have carried to Twill's `traceparent`, travels in the call's `Credentials`.
"""

from __future__ import annotations

from opentelemetry.trace import ProxyTracerProvider, get_tracer_provider


def recording() -> bool:
    # The API's placeholder provider stands in until an SDK's is set, which is then for good.
    return not isinstance(get_tracer_provider(), ProxyTracerProvider)
