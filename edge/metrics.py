"""Prometheus metrics of the edge gateway (served on ``--metrics-port``)."""

from prometheus_client import Counter, Gauge, Histogram

MESSAGES = Counter("edgehub_edge_messages", "MQTT messages received")
INGESTED = Counter("edgehub_edge_readings_ingested", "Readings committed to the buffer")
REJECTED = Counter("edgehub_edge_rejected", "Messages or readings rejected, by reason", ["reason"])
REDELIVERED = Counter(
    "edgehub_edge_redelivered_skipped", "Redelivered messages acked without storing them again"
)
DROPPED = Counter("edgehub_edge_dropped", "Readings deleted because the buffer was full", ["kind"])
SENT = Counter("edgehub_edge_readings_sent", "Readings sent to the hub (durable lane)")
ACKED = Counter("edgehub_edge_readings_acked", "Readings the hub acknowledged")
LIVE_SENT = Counter("edgehub_edge_live_sent", "Readings sent on the live lane")
BACKLOG = Gauge("edgehub_edge_backlog_rows", "Readings buffered and not yet acked by the hub")
BACKLOG_AGE = Gauge("edgehub_edge_backlog_age_seconds", "Age of the oldest unacked reading")
BUFFER_ROWS = Gauge("edgehub_edge_buffer_rows", "Readings in the buffer file, acked or not")
BUFFER_BYTES = Gauge("edgehub_edge_buffer_bytes", "Bytes used by the buffer file")
DB_MEMORY = Gauge("edgehub_edge_db_memory_bytes",
                  "Memory DuckDB holds for the buffer (block cache), bounded by its memory limit")
UPLINK_STATE = Gauge("edgehub_edge_uplink_state", "1 for the uplink's current state", ["state"])
MQTT_CONNECTED = Gauge("edgehub_edge_mqtt_connected", "1 while connected to the broker")
BATCH_SIZE = Histogram(
    "edgehub_edge_batch_readings", "Readings per uplink batch",
    buckets=(1, 10, 100, 1_000, 5_000, 10_000, 20_000, 50_000),
)
COMMIT_SECONDS = Histogram(
    "edgehub_edge_commit_seconds", "Group commit to DuckDB",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)
ACK_SECONDS = Histogram(
    "edgehub_edge_ack_seconds", "Batch sent to hub ack received",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0),
)
