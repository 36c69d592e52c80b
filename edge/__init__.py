"""The edge gateway: MQTT ingest, durable DuckDB buffer, gRPC uplink to the hub."""
