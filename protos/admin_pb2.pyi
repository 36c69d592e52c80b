import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ExportFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EXPORT_FORMAT_UNSPECIFIED: _ClassVar[ExportFormat]
    EXPORT_FORMAT_PARQUET: _ClassVar[ExportFormat]
    EXPORT_FORMAT_CSV: _ClassVar[ExportFormat]
EXPORT_FORMAT_UNSPECIFIED: ExportFormat
EXPORT_FORMAT_PARQUET: ExportFormat
EXPORT_FORMAT_CSV: ExportFormat

class StatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class StatusReply(_message.Message):
    __slots__ = ("edge_id", "software_version", "started_at", "uptime_s", "link", "mqtt", "buffer", "rates", "rejected", "dropped", "redelivered_skipped", "tracked_version", "tracked_variables", "now")
    class RejectedEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class DroppedEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    EDGE_ID_FIELD_NUMBER: _ClassVar[int]
    SOFTWARE_VERSION_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    UPTIME_S_FIELD_NUMBER: _ClassVar[int]
    LINK_FIELD_NUMBER: _ClassVar[int]
    MQTT_FIELD_NUMBER: _ClassVar[int]
    BUFFER_FIELD_NUMBER: _ClassVar[int]
    RATES_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    DROPPED_FIELD_NUMBER: _ClassVar[int]
    REDELIVERED_SKIPPED_FIELD_NUMBER: _ClassVar[int]
    TRACKED_VERSION_FIELD_NUMBER: _ClassVar[int]
    TRACKED_VARIABLES_FIELD_NUMBER: _ClassVar[int]
    NOW_FIELD_NUMBER: _ClassVar[int]
    edge_id: str
    software_version: str
    started_at: _timestamp_pb2.Timestamp
    uptime_s: float
    link: LinkStatus
    mqtt: MqttStatus
    buffer: BufferTotals
    rates: Rates
    rejected: _containers.ScalarMap[str, int]
    dropped: _containers.ScalarMap[str, int]
    redelivered_skipped: int
    tracked_version: int
    tracked_variables: int
    now: _timestamp_pb2.Timestamp
    def __init__(self, edge_id: _Optional[str] = ..., software_version: _Optional[str] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., uptime_s: _Optional[float] = ..., link: _Optional[_Union[LinkStatus, _Mapping]] = ..., mqtt: _Optional[_Union[MqttStatus, _Mapping]] = ..., buffer: _Optional[_Union[BufferTotals, _Mapping]] = ..., rates: _Optional[_Union[Rates, _Mapping]] = ..., rejected: _Optional[_Mapping[str, int]] = ..., dropped: _Optional[_Mapping[str, int]] = ..., redelivered_skipped: _Optional[int] = ..., tracked_version: _Optional[int] = ..., tracked_variables: _Optional[int] = ..., now: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class LinkStatus(_message.Message):
    __slots__ = ("hub", "state", "state_since", "last_error", "paused", "sent_seq", "acked_total", "down_since")
    HUB_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STATE_SINCE_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    PAUSED_FIELD_NUMBER: _ClassVar[int]
    SENT_SEQ_FIELD_NUMBER: _ClassVar[int]
    ACKED_TOTAL_FIELD_NUMBER: _ClassVar[int]
    DOWN_SINCE_FIELD_NUMBER: _ClassVar[int]
    hub: str
    state: str
    state_since: _timestamp_pb2.Timestamp
    last_error: str
    paused: bool
    sent_seq: int
    acked_total: int
    down_since: _timestamp_pb2.Timestamp
    def __init__(self, hub: _Optional[str] = ..., state: _Optional[str] = ..., state_since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_error: _Optional[str] = ..., paused: _Optional[bool] = ..., sent_seq: _Optional[int] = ..., acked_total: _Optional[int] = ..., down_since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class MqttStatus(_message.Message):
    __slots__ = ("broker", "topic_filter", "connected", "queued", "messages", "readings")
    BROKER_FIELD_NUMBER: _ClassVar[int]
    TOPIC_FILTER_FIELD_NUMBER: _ClassVar[int]
    CONNECTED_FIELD_NUMBER: _ClassVar[int]
    QUEUED_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    READINGS_FIELD_NUMBER: _ClassVar[int]
    broker: str
    topic_filter: str
    connected: bool
    queued: int
    messages: int
    readings: int
    def __init__(self, broker: _Optional[str] = ..., topic_filter: _Optional[str] = ..., connected: _Optional[bool] = ..., queued: _Optional[int] = ..., messages: _Optional[int] = ..., readings: _Optional[int] = ...) -> None: ...

class BufferTotals(_message.Message):
    __slots__ = ("path", "rows", "bytes", "max_rows", "max_bytes", "last_seq", "acked_seq", "backlog", "oldest_unacked", "retention_s")
    PATH_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_ROWS_FIELD_NUMBER: _ClassVar[int]
    MAX_BYTES_FIELD_NUMBER: _ClassVar[int]
    LAST_SEQ_FIELD_NUMBER: _ClassVar[int]
    ACKED_SEQ_FIELD_NUMBER: _ClassVar[int]
    BACKLOG_FIELD_NUMBER: _ClassVar[int]
    OLDEST_UNACKED_FIELD_NUMBER: _ClassVar[int]
    RETENTION_S_FIELD_NUMBER: _ClassVar[int]
    path: str
    rows: int
    bytes: int
    max_rows: int
    max_bytes: int
    last_seq: int
    acked_seq: int
    backlog: int
    oldest_unacked: _timestamp_pb2.Timestamp
    retention_s: float
    def __init__(self, path: _Optional[str] = ..., rows: _Optional[int] = ..., bytes: _Optional[int] = ..., max_rows: _Optional[int] = ..., max_bytes: _Optional[int] = ..., last_seq: _Optional[int] = ..., acked_seq: _Optional[int] = ..., backlog: _Optional[int] = ..., oldest_unacked: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., retention_s: _Optional[float] = ...) -> None: ...

class Rates(_message.Message):
    __slots__ = ("ingest_10s", "ingest_5m", "uplink_10s", "uplink_5m")
    INGEST_10S_FIELD_NUMBER: _ClassVar[int]
    INGEST_5M_FIELD_NUMBER: _ClassVar[int]
    UPLINK_10S_FIELD_NUMBER: _ClassVar[int]
    UPLINK_5M_FIELD_NUMBER: _ClassVar[int]
    ingest_10s: float
    ingest_5m: float
    uplink_10s: float
    uplink_5m: float
    def __init__(self, ingest_10s: _Optional[float] = ..., ingest_5m: _Optional[float] = ..., uplink_10s: _Optional[float] = ..., uplink_5m: _Optional[float] = ...) -> None: ...

class DevicesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Sensor(_message.Message):
    __slots__ = ("sensor_type", "unit", "rows", "last_ts", "last_value", "last_seq", "readings_per_s")
    SENSOR_TYPE_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    LAST_TS_FIELD_NUMBER: _ClassVar[int]
    LAST_VALUE_FIELD_NUMBER: _ClassVar[int]
    LAST_SEQ_FIELD_NUMBER: _ClassVar[int]
    READINGS_PER_S_FIELD_NUMBER: _ClassVar[int]
    sensor_type: str
    unit: str
    rows: int
    last_ts: _timestamp_pb2.Timestamp
    last_value: float
    last_seq: int
    readings_per_s: float
    def __init__(self, sensor_type: _Optional[str] = ..., unit: _Optional[str] = ..., rows: _Optional[int] = ..., last_ts: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_value: _Optional[float] = ..., last_seq: _Optional[int] = ..., readings_per_s: _Optional[float] = ...) -> None: ...

class Device(_message.Message):
    __slots__ = ("device_id", "sensors", "last_ts", "readings_per_s", "rejected")
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    SENSORS_FIELD_NUMBER: _ClassVar[int]
    LAST_TS_FIELD_NUMBER: _ClassVar[int]
    READINGS_PER_S_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    device_id: str
    sensors: _containers.RepeatedCompositeFieldContainer[Sensor]
    last_ts: _timestamp_pb2.Timestamp
    readings_per_s: float
    rejected: int
    def __init__(self, device_id: _Optional[str] = ..., sensors: _Optional[_Iterable[_Union[Sensor, _Mapping]]] = ..., last_ts: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., readings_per_s: _Optional[float] = ..., rejected: _Optional[int] = ...) -> None: ...

class DevicesReply(_message.Message):
    __slots__ = ("devices", "rejected_unattributed", "now")
    DEVICES_FIELD_NUMBER: _ClassVar[int]
    REJECTED_UNATTRIBUTED_FIELD_NUMBER: _ClassVar[int]
    NOW_FIELD_NUMBER: _ClassVar[int]
    devices: _containers.RepeatedCompositeFieldContainer[Device]
    rejected_unattributed: int
    now: _timestamp_pb2.Timestamp
    def __init__(self, devices: _Optional[_Iterable[_Union[Device, _Mapping]]] = ..., rejected_unattributed: _Optional[int] = ..., now: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class TrackedRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class TrackedVariable(_message.Message):
    __slots__ = ("device_id", "sensor_type", "widget_id", "dashboard_uuid", "max_samples")
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    SENSOR_TYPE_FIELD_NUMBER: _ClassVar[int]
    WIDGET_ID_FIELD_NUMBER: _ClassVar[int]
    DASHBOARD_UUID_FIELD_NUMBER: _ClassVar[int]
    MAX_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    device_id: str
    sensor_type: str
    widget_id: str
    dashboard_uuid: str
    max_samples: int
    def __init__(self, device_id: _Optional[str] = ..., sensor_type: _Optional[str] = ..., widget_id: _Optional[str] = ..., dashboard_uuid: _Optional[str] = ..., max_samples: _Optional[int] = ...) -> None: ...

class TrackedReply(_message.Message):
    __slots__ = ("version", "variables")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    VARIABLES_FIELD_NUMBER: _ClassVar[int]
    version: int
    variables: _containers.RepeatedCompositeFieldContainer[TrackedVariable]
    def __init__(self, version: _Optional[int] = ..., variables: _Optional[_Iterable[_Union[TrackedVariable, _Mapping]]] = ...) -> None: ...

class BufferStatsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SeriesStats(_message.Message):
    __slots__ = ("device_id", "sensor_type", "unit", "rows", "unacked", "oldest", "newest")
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    SENSOR_TYPE_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    UNACKED_FIELD_NUMBER: _ClassVar[int]
    OLDEST_FIELD_NUMBER: _ClassVar[int]
    NEWEST_FIELD_NUMBER: _ClassVar[int]
    device_id: str
    sensor_type: str
    unit: str
    rows: int
    unacked: int
    oldest: _timestamp_pb2.Timestamp
    newest: _timestamp_pb2.Timestamp
    def __init__(self, device_id: _Optional[str] = ..., sensor_type: _Optional[str] = ..., unit: _Optional[str] = ..., rows: _Optional[int] = ..., unacked: _Optional[int] = ..., oldest: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., newest: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class BufferStatsReply(_message.Message):
    __slots__ = ("totals", "series", "now")
    TOTALS_FIELD_NUMBER: _ClassVar[int]
    SERIES_FIELD_NUMBER: _ClassVar[int]
    NOW_FIELD_NUMBER: _ClassVar[int]
    totals: BufferTotals
    series: _containers.RepeatedCompositeFieldContainer[SeriesStats]
    now: _timestamp_pb2.Timestamp
    def __init__(self, totals: _Optional[_Union[BufferTotals, _Mapping]] = ..., series: _Optional[_Iterable[_Union[SeriesStats, _Mapping]]] = ..., now: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ExportRequest(_message.Message):
    __slots__ = ("since", "until", "format", "device_id", "sensor_type")
    SINCE_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    SENSOR_TYPE_FIELD_NUMBER: _ClassVar[int]
    since: _timestamp_pb2.Timestamp
    until: _timestamp_pb2.Timestamp
    format: ExportFormat
    device_id: str
    sensor_type: str
    def __init__(self, since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., format: _Optional[_Union[ExportFormat, str]] = ..., device_id: _Optional[str] = ..., sensor_type: _Optional[str] = ...) -> None: ...

class ExportProgress(_message.Message):
    __slots__ = ("phase", "fraction", "rows", "bytes_total", "bytes_sent")
    PHASE_FIELD_NUMBER: _ClassVar[int]
    FRACTION_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    BYTES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    BYTES_SENT_FIELD_NUMBER: _ClassVar[int]
    phase: str
    fraction: float
    rows: int
    bytes_total: int
    bytes_sent: int
    def __init__(self, phase: _Optional[str] = ..., fraction: _Optional[float] = ..., rows: _Optional[int] = ..., bytes_total: _Optional[int] = ..., bytes_sent: _Optional[int] = ...) -> None: ...

class ExportDone(_message.Message):
    __slots__ = ("rows", "bytes")
    ROWS_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    rows: int
    bytes: int
    def __init__(self, rows: _Optional[int] = ..., bytes: _Optional[int] = ...) -> None: ...

class ExportFrame(_message.Message):
    __slots__ = ("progress", "data", "done")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    progress: ExportProgress
    data: bytes
    done: ExportDone
    def __init__(self, progress: _Optional[_Union[ExportProgress, _Mapping]] = ..., data: _Optional[bytes] = ..., done: _Optional[_Union[ExportDone, _Mapping]] = ...) -> None: ...

class PurgeRequest(_message.Message):
    __slots__ = ("before", "dry_run")
    BEFORE_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    before: _timestamp_pb2.Timestamp
    dry_run: bool
    def __init__(self, before: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., dry_run: _Optional[bool] = ...) -> None: ...

class PurgeReply(_message.Message):
    __slots__ = ("acked", "unacked", "dry_run")
    ACKED_FIELD_NUMBER: _ClassVar[int]
    UNACKED_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    acked: int
    unacked: int
    dry_run: bool
    def __init__(self, acked: _Optional[int] = ..., unacked: _Optional[int] = ..., dry_run: _Optional[bool] = ...) -> None: ...

class TailRequest(_message.Message):
    __slots__ = ("device_id", "sensor_type")
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    SENSOR_TYPE_FIELD_NUMBER: _ClassVar[int]
    device_id: str
    sensor_type: str
    def __init__(self, device_id: _Optional[str] = ..., sensor_type: _Optional[str] = ...) -> None: ...

class TailReading(_message.Message):
    __slots__ = ("device_id", "sensor_type", "unit", "ts", "value", "seq")
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    SENSOR_TYPE_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    TS_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    device_id: str
    sensor_type: str
    unit: str
    ts: _timestamp_pb2.Timestamp
    value: float
    seq: int
    def __init__(self, device_id: _Optional[str] = ..., sensor_type: _Optional[str] = ..., unit: _Optional[str] = ..., ts: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., value: _Optional[float] = ..., seq: _Optional[int] = ...) -> None: ...

class TailBatch(_message.Message):
    __slots__ = ("readings", "skipped")
    READINGS_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    readings: _containers.RepeatedCompositeFieldContainer[TailReading]
    skipped: int
    def __init__(self, readings: _Optional[_Iterable[_Union[TailReading, _Mapping]]] = ..., skipped: _Optional[int] = ...) -> None: ...

class SetUplinkRequest(_message.Message):
    __slots__ = ("paused",)
    PAUSED_FIELD_NUMBER: _ClassVar[int]
    paused: bool
    def __init__(self, paused: _Optional[bool] = ...) -> None: ...

class UplinkReply(_message.Message):
    __slots__ = ("paused", "state", "backlog")
    PAUSED_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    BACKLOG_FIELD_NUMBER: _ClassVar[int]
    paused: bool
    state: str
    backlog: int
    def __init__(self, paused: _Optional[bool] = ..., state: _Optional[str] = ..., backlog: _Optional[int] = ...) -> None: ...

class RejectionsRequest(_message.Message):
    __slots__ = ("limit",)
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    limit: int
    def __init__(self, limit: _Optional[int] = ...) -> None: ...

class Rejection(_message.Message):
    __slots__ = ("at", "topic", "device_id", "reason", "detail", "payload")
    AT_FIELD_NUMBER: _ClassVar[int]
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    at: _timestamp_pb2.Timestamp
    topic: str
    device_id: str
    reason: str
    detail: str
    payload: bytes
    def __init__(self, at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., topic: _Optional[str] = ..., device_id: _Optional[str] = ..., reason: _Optional[str] = ..., detail: _Optional[str] = ..., payload: _Optional[bytes] = ...) -> None: ...

class RejectionsReply(_message.Message):
    __slots__ = ("rejections", "totals", "ring_size", "now")
    class TotalsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    REJECTIONS_FIELD_NUMBER: _ClassVar[int]
    TOTALS_FIELD_NUMBER: _ClassVar[int]
    RING_SIZE_FIELD_NUMBER: _ClassVar[int]
    NOW_FIELD_NUMBER: _ClassVar[int]
    rejections: _containers.RepeatedCompositeFieldContainer[Rejection]
    totals: _containers.ScalarMap[str, int]
    ring_size: int
    now: _timestamp_pb2.Timestamp
    def __init__(self, rejections: _Optional[_Iterable[_Union[Rejection, _Mapping]]] = ..., totals: _Optional[_Mapping[str, int]] = ..., ring_size: _Optional[int] = ..., now: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
