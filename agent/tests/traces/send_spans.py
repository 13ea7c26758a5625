"""Sends one error span with secrets through the OpenTelemetry Python SDK's
OTLP exporter, for the agent's interop test (agent/tests/traces/python.rs).

usage: send_spans.py grpc|http ENDPOINT SERVICE
"""
import sys

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

protocol, endpoint, service = sys.argv[1:4]
if protocol == "grpc":
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    exporter = OTLPSpanExporter(endpoint=endpoint, insecure=True)
else:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    exporter = OTLPSpanExporter(endpoint=endpoint)

provider = TracerProvider(
    resource=Resource.create({"service.name": service, "api_key": "k-123"})
)
provider.add_span_processor(SimpleSpanProcessor(exporter))
tracer = provider.get_tracer("watchfire.interop")
with tracer.start_as_current_span("checkout bob@example.com", kind=SpanKind.SERVER) as span:
    span.set_attribute("password", "hunter2")
    span.set_attribute("user.email", "bob@example.com")
    span.set_attribute("http.status_code", 500)
    span.set_status(Status(StatusCode.ERROR, "card 4111 1111 1111 1111 declined"))
if not provider.force_flush(10_000):
    sys.exit("flush timed out")
provider.shutdown()
print("SENT")
