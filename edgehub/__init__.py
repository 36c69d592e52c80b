"""edgehub: factory telemetry from devices to live dashboards across intermittent links."""

__version__ = "0.1.0"
