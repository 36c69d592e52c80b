"""Prometheus metrics of the hub (served at ``/metrics``)."""

from prometheus_client import Counter, Gauge, Histogram

STORED = Counter("edgehub_hub_readings_stored", "Readings committed to hub storage")
DUPLICATES = Counter("edgehub_hub_duplicates_dropped", "Samples at or below an edge's watermark, dropped")
PARKED = Counter("edgehub_hub_parked", "Samples of malformed batches set aside")
LIVE_RECEIVED = Counter("edgehub_hub_live_received", "Live-lane samples received (pushed, not stored)")
LINK_AUTH_FAILURES = Counter("edgehub_hub_link_auth_failures", "Edge streams refused for a bad token")
EDGES_CONNECTED = Gauge("edgehub_hub_edges_connected", "Edges with an open stream")
COMMIT_SECONDS = Histogram(
    "edgehub_hub_commit_seconds", "Batch decode and commit",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)
HTTP_REQUESTS = Counter("edgehub_hub_http_requests", "HTTP API requests", ["status"])
WS_CLIENTS = Gauge("edgehub_hub_ws_clients", "Open widget WebSockets")
WS_SENT = Counter("edgehub_hub_ws_messages", "Messages queued to widget WebSockets")
WS_DROPPED = Counter("edgehub_hub_ws_dropped", "Messages dropped for WebSockets too slow to take them")
WIDGET_SAMPLES = Counter("edgehub_hub_widget_samples", "Samples appended to widget buffers")
DIRECT_READINGS = Counter("edgehub_hub_direct_readings", "Readings received from devices over /ws/sensors/")
DIRECT_REJECTED = Counter("edgehub_hub_direct_rejected", "Direct device readings rejected, by reason", ["reason"])
DB_MEMORY_NAME = "edgehub_hub_db_memory_bytes"  # refreshed by a DuckDB query when /metrics asks for it
DB_MEMORY = Gauge(DB_MEMORY_NAME,
                  "Memory DuckDB holds for the store (its block cache and queries), bounded by --db-memory-limit")
