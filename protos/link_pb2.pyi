from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EdgeFrame(_message.Message):
    __slots__ = ("hello", "batch", "live", "heartbeat", "tracked_ack")
    HELLO_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    LIVE_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    TRACKED_ACK_FIELD_NUMBER: _ClassVar[int]
    hello: Hello
    batch: SampleBatch
    live: SampleBatch
    heartbeat: Heartbeat
    tracked_ack: TrackedAck
    def __init__(self, hello: _Optional[_Union[Hello, _Mapping]] = ..., batch: _Optional[_Union[SampleBatch, _Mapping]] = ..., live: _Optional[_Union[SampleBatch, _Mapping]] = ..., heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ..., tracked_ack: _Optional[_Union[TrackedAck, _Mapping]] = ...) -> None: ...

class HubFrame(_message.Message):
    __slots__ = ("welcome", "ack", "tracked_snapshot", "tracked_delta", "heartbeat")
    WELCOME_FIELD_NUMBER: _ClassVar[int]
    ACK_FIELD_NUMBER: _ClassVar[int]
    TRACKED_SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    TRACKED_DELTA_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    welcome: Welcome
    ack: Ack
    tracked_snapshot: TrackedSnapshot
    tracked_delta: TrackedDelta
    heartbeat: Heartbeat
    def __init__(self, welcome: _Optional[_Union[Welcome, _Mapping]] = ..., ack: _Optional[_Union[Ack, _Mapping]] = ..., tracked_snapshot: _Optional[_Union[TrackedSnapshot, _Mapping]] = ..., tracked_delta: _Optional[_Union[TrackedDelta, _Mapping]] = ..., heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ...) -> None: ...

class Hello(_message.Message):
    __slots__ = ("edge_id", "software_version", "last_seq", "tracked_version")
    EDGE_ID_FIELD_NUMBER: _ClassVar[int]
    SOFTWARE_VERSION_FIELD_NUMBER: _ClassVar[int]
    LAST_SEQ_FIELD_NUMBER: _ClassVar[int]
    TRACKED_VERSION_FIELD_NUMBER: _ClassVar[int]
    edge_id: str
    software_version: str
    last_seq: int
    tracked_version: int
    def __init__(self, edge_id: _Optional[str] = ..., software_version: _Optional[str] = ..., last_seq: _Optional[int] = ..., tracked_version: _Optional[int] = ...) -> None: ...

class Welcome(_message.Message):
    __slots__ = ("watermark", "max_message_bytes", "heartbeat_interval_ms", "hub_version")
    WATERMARK_FIELD_NUMBER: _ClassVar[int]
    MAX_MESSAGE_BYTES_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_INTERVAL_MS_FIELD_NUMBER: _ClassVar[int]
    HUB_VERSION_FIELD_NUMBER: _ClassVar[int]
    watermark: int
    max_message_bytes: int
    heartbeat_interval_ms: int
    hub_version: str
    def __init__(self, watermark: _Optional[int] = ..., max_message_bytes: _Optional[int] = ..., heartbeat_interval_ms: _Optional[int] = ..., hub_version: _Optional[str] = ...) -> None: ...

class SeriesKey(_message.Message):
    __slots__ = ("device_id", "sensor_type", "unit")
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    SENSOR_TYPE_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    device_id: str
    sensor_type: str
    unit: str
    def __init__(self, device_id: _Optional[str] = ..., sensor_type: _Optional[str] = ..., unit: _Optional[str] = ...) -> None: ...

class SampleBatch(_message.Message):
    __slots__ = ("first_seq", "last_seq", "count", "series", "series_index", "seqs", "timestamps_us", "values")
    FIRST_SEQ_FIELD_NUMBER: _ClassVar[int]
    LAST_SEQ_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    SERIES_FIELD_NUMBER: _ClassVar[int]
    SERIES_INDEX_FIELD_NUMBER: _ClassVar[int]
    SEQS_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMPS_US_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    first_seq: int
    last_seq: int
    count: int
    series: _containers.RepeatedCompositeFieldContainer[SeriesKey]
    series_index: bytes
    seqs: bytes
    timestamps_us: bytes
    values: bytes
    def __init__(self, first_seq: _Optional[int] = ..., last_seq: _Optional[int] = ..., count: _Optional[int] = ..., series: _Optional[_Iterable[_Union[SeriesKey, _Mapping]]] = ..., series_index: _Optional[bytes] = ..., seqs: _Optional[bytes] = ..., timestamps_us: _Optional[bytes] = ..., values: _Optional[bytes] = ...) -> None: ...

class Ack(_message.Message):
    __slots__ = ("watermark", "stored", "duplicates", "parked", "parked_reason")
    WATERMARK_FIELD_NUMBER: _ClassVar[int]
    STORED_FIELD_NUMBER: _ClassVar[int]
    DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    PARKED_FIELD_NUMBER: _ClassVar[int]
    PARKED_REASON_FIELD_NUMBER: _ClassVar[int]
    watermark: int
    stored: int
    duplicates: int
    parked: int
    parked_reason: str
    def __init__(self, watermark: _Optional[int] = ..., stored: _Optional[int] = ..., duplicates: _Optional[int] = ..., parked: _Optional[int] = ..., parked_reason: _Optional[str] = ...) -> None: ...

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

class TrackedSnapshot(_message.Message):
    __slots__ = ("version", "variables")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    VARIABLES_FIELD_NUMBER: _ClassVar[int]
    version: int
    variables: _containers.RepeatedCompositeFieldContainer[TrackedVariable]
    def __init__(self, version: _Optional[int] = ..., variables: _Optional[_Iterable[_Union[TrackedVariable, _Mapping]]] = ...) -> None: ...

class TrackedDelta(_message.Message):
    __slots__ = ("version", "upserts", "removes")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    UPSERTS_FIELD_NUMBER: _ClassVar[int]
    REMOVES_FIELD_NUMBER: _ClassVar[int]
    version: int
    upserts: _containers.RepeatedCompositeFieldContainer[TrackedVariable]
    removes: _containers.RepeatedCompositeFieldContainer[TrackedVariable]
    def __init__(self, version: _Optional[int] = ..., upserts: _Optional[_Iterable[_Union[TrackedVariable, _Mapping]]] = ..., removes: _Optional[_Iterable[_Union[TrackedVariable, _Mapping]]] = ...) -> None: ...

class TrackedAck(_message.Message):
    __slots__ = ("version",)
    VERSION_FIELD_NUMBER: _ClassVar[int]
    version: int
    def __init__(self, version: _Optional[int] = ...) -> None: ...

class Heartbeat(_message.Message):
    __slots__ = ("sent_at_us", "backlog", "last_seq", "oldest_unacked_us")
    SENT_AT_US_FIELD_NUMBER: _ClassVar[int]
    BACKLOG_FIELD_NUMBER: _ClassVar[int]
    LAST_SEQ_FIELD_NUMBER: _ClassVar[int]
    OLDEST_UNACKED_US_FIELD_NUMBER: _ClassVar[int]
    sent_at_us: int
    backlog: int
    last_seq: int
    oldest_unacked_us: int
    def __init__(self, sent_at_us: _Optional[int] = ..., backlog: _Optional[int] = ..., last_seq: _Optional[int] = ..., oldest_unacked_us: _Optional[int] = ...) -> None: ...
