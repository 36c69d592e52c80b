"""The scenarios (a)-(d) of issue 2. Each starts its own mosquitto, hub and edge as needed and
stops them all (by pid) before returning, also when it fails.

Timing: every time is ``time.monotonic()`` (CLOCK_MONOTONIC, one clock for all processes of this
machine). A run starts when the parent tells the prepared load generator "go" and ends at the
first metrics response that shows the whole run counted; the poll interval is the resolution.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench import procs as P
from bench.loadgen import Publisher, Spec
from bench.subscriber import BareSubscriber

EDGE_INGESTED = "edgehub_edge_readings_ingested_total"
EDGE_MQTT_CONNECTED = "edgehub_edge_mqtt_connected"
HUB_STORED = "edgehub_hub_readings_stored_total"
POLL_S = 0.02  # throughput runs: metrics poll interval (the end time's resolution)
LATENCY_POLL_S = 0.002  # latency run: pause between hub /metrics polls
WARMUP_MESSAGES = 1_000
RUN_TIMEOUT_S = 900.0


@dataclass
class Sizes:
    raw_messages: int
    single_messages: int
    bulk_readings: int
    e2e_readings: int
    latency_seconds: float
    latency_rate: float
    drain_readings: int


QUICK = Sizes(raw_messages=50_000, single_messages=50_000, bulk_readings=1_000_000, e2e_readings=500_000,
              latency_seconds=10.0, latency_rate=1_000.0, drain_readings=200_000)
FULL = Sizes(raw_messages=300_000, single_messages=300_000, bulk_readings=3_000_000, e2e_readings=3_000_000,
             latency_seconds=60.0, latency_rate=1_000.0, drain_readings=1_000_000)


@dataclass
class Outcome:
    """What one scenario measured; ``values`` feed the table, ``notes`` the method details."""

    name: str
    values: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    error: str | None = None


def _publish(port: int, messages: int, per_message: int, **kw: Any) -> Publisher:
    pub = Publisher(Spec("127.0.0.1", port, messages, per_message, **kw))
    pub.prepare()
    return pub


def _cpu(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far of each named process, of this process, and of the whole machine."""
    out = {}
    for name, pid in pids.items():
        try:
            out[name] = P.cpu_seconds(pid)
        except OSError:
            out[name] = float("nan")
    out["bench"] = time.process_time()
    out["_machine"] = P.machine_busy_seconds()
    return out


def _add_cpu(before: dict[str, float], after: dict[str, float], name: str, seconds: float) -> None:
    """Add a process that reported its own CPU time (load generator, subscriber)."""
    before[name] = 0.0
    after[name] = seconds


def _cpu_note(out: Outcome, before: dict[str, float], after: dict[str, float], seconds: float) -> str:
    """Each process's CPU share during the run, and what the rest of the machine used: processes
    that are not part of the benchmark (another user's tests, say) make a run less trustworthy."""
    ours = {n: after[n] - before[n] for n in before if not n.startswith("_")}
    machine = after["_machine"] - before["_machine"]
    other = machine - sum(v for v in ours.values() if v == v)
    parts = [f"{n} {100 * v / seconds:.0f}%" for n, v in ours.items()]
    parts.append(f"everything else on the machine {max(0.0, 100 * other / seconds):.0f}%")
    out.values["other_load"] = max(out.values.get("other_load", 0.0), max(0.0, other / seconds))
    return "CPU during the run (100% = one core): " + ", ".join(parts)


def _histograms(edge_port: int | None, hub_port: int | None) -> str:
    """One line with the means of the product's own latency histograms (seconds → ms)."""
    parts = []
    try:
        if edge_port is not None:
            text = P.scrape(edge_port)
            for name, label in (("edgehub_edge_commit_seconds", "edge group commit"),
                                ("edgehub_edge_ack_seconds", "edge batch send→ack")):
                n, mean = P.histogram_mean(text, name)
                if n:
                    parts.append(f"{label} {mean * 1000:.1f} ms (n={n:,.0f})")
            n, mean = P.histogram_mean(text, "edgehub_edge_batch_readings")
            if n:
                parts.append(f"uplink batch {mean:,.0f} readings (n={n:,.0f})")
        if hub_port is not None:
            n, mean = P.histogram_mean(P.scrape(hub_port), "edgehub_hub_commit_seconds")
            if n:
                parts.append(f"hub batch decode+commit {mean * 1000:.1f} ms (n={n:,.0f})")
    except Exception as exc:  # the histograms are a diagnosis aid; never fail a run on them
        parts.append(f"(histograms unavailable: {exc})")
    return "means of the product's histograms: " + ", ".join(parts)


def _start_edge(ps: P.Procs, mqtt_port: int, grpc_port: int, token: str, edge_id: str = "bench-edge",
                ) -> tuple[P.Proc, P.Poller]:
    metrics_port = P.free_port()
    edge = ps.edge(edge_id, grpc_port, token, mqtt_port, ps.tmp / "edge-data", metrics_port)
    poller = P.Poller(metrics_port)
    P.wait_metric(poller, EDGE_MQTT_CONNECTED, 1, timeout=P.START_TIMEOUT_S, interval=0.05, watch=[edge])
    return edge, poller


def _warm_up(mqtt_port: int, poller: P.Poller, metric: str, watch: list[P.Proc]) -> float:
    """Publish WARMUP_MESSAGES single readings and wait until ``metric`` counts them: the
    subscription is live, the series exist and the caches are warm. Return the count after."""
    base = poller.value(metric)
    pub = _publish(mqtt_port, WARMUP_MESSAGES, 1)  # the same devices as the runs: their series exist after
    try:
        pub.go()
        pub.result()
    finally:
        pub.stop()
    _, value = P.wait_metric(poller, metric, base + WARMUP_MESSAGES, timeout=60, watch=watch)
    return value


def _hub_stack(ps: P.Procs) -> tuple[P.Proc, int, int, str]:
    http_port, grpc_port = P.free_port(), P.free_port()
    hub = ps.hub(ps.tmp / "hub-data", http_port, grpc_port)
    P.wait_hub(http_port, hub)
    token = P.register_edge(http_port, "bench-edge")
    return hub, http_port, grpc_port, token


# -- (0) + (a) ---------------------------------------------------------------------------------
def raw_ceiling(sizes: Sizes) -> Outcome:
    out = Outcome("raw")
    ps = P.Procs("raw")
    try:
        broker, port = ps.mosquitto()
        n = sizes.raw_messages
        # (0) the load generator alone: no subscriber, the broker only PUBACKs.
        pub = _publish(port, n, 1)
        try:
            t0 = pub.go()
            res = pub.result()
        finally:
            pub.stop()
        out.values["gen_single_msgs"] = n / (res["t_acked"] - t0)
        pub = _publish(port, max(1, n // 100), 100)
        try:
            t0 = pub.go()
            res = pub.result()
        finally:
            pub.stop()
        out.values["gen_bulk_readings"] = max(1, n // 100) * 100 / (res["t_acked"] - t0)
        # (a) the bare paho subscriber.
        sub = BareSubscriber("127.0.0.1", port, n, timeout=RUN_TIMEOUT_S)
        pub = _publish(port, n, 1)
        try:
            sub.start()
            cpu0 = _cpu({"mosquitto": broker.pid})
            t0 = pub.go()
            gen = pub.result()
            res = sub.result()
            cpu1 = _cpu({"mosquitto": broker.pid})
        finally:
            pub.stop()
            sub.stop()
        if not res.get("complete"):
            raise P.BenchError(f"bare subscriber got {res.get('messages')} of {n} messages")
        elapsed = res["t_last"] - t0
        out.values["raw_msgs"] = n / elapsed
        out.values["raw_gen_msgs"] = n / (gen["t_acked"] - t0)
        out.notes.append(f"(a) {n:,} single-reading messages in {elapsed:.2f} s; the generator had all "
                         f"PUBACKed after {gen['t_acked'] - t0:.2f} s")
        _add_cpu(cpu0, cpu1, "subscriber", res["cpu_s"])
        _add_cpu(cpu0, cpu1, "loadgen", gen["cpu_s"])
        out.notes.append("(a) " + _cpu_note(out, cpu0, cpu1, elapsed))
    except Exception as exc:
        out.error = f"{type(exc).__name__}: {exc}\n{ps.tails()}"
    finally:
        ps.stop_all()
    return out


# -- (b) ---------------------------------------------------------------------------------------
def edge_ingest(sizes: Sizes, per_message: int) -> Outcome:
    """MQTT → edge DuckDB buffer, committed, with no hub reachable (the edge buffers regardless):
    this isolates ingest; (c) measures it with the uplink running."""
    kind = "single" if per_message == 1 else "bulk"
    out = Outcome(f"ingest_{kind}")
    ps = P.Procs(f"ingest-{kind}")
    try:
        broker, mqtt_port = ps.mosquitto()
        edge, poller = _start_edge(ps, mqtt_port, P.free_port(), "no-hub-token")
        base = _warm_up(mqtt_port, poller, EDGE_INGESTED, [edge])
        rss_before = P.rss_kib(edge.pid)[0] / 1024
        messages = sizes.single_messages if per_message == 1 else sizes.bulk_readings // per_message
        readings = messages * per_message
        pub = _publish(mqtt_port, messages, per_message)
        try:
            pids = {"edge": edge.pid, "mosquitto": broker.pid}
            cpu0 = _cpu(pids)
            t0 = pub.go()
            t_done, _ = P.wait_metric(poller, EDGE_INGESTED, base + readings, RUN_TIMEOUT_S, POLL_S, [edge])
            cpu1 = _cpu(pids)
            gen = pub.result()
        finally:
            pub.stop()
        elapsed = t_done - t0
        out.values["readings_per_s"] = readings / elapsed
        out.values["messages_per_s"] = messages / elapsed
        out.values["gen_msgs"] = messages / (gen["t_acked"] - t0)
        out.values["edge_rss_mib"] = P.rss_kib(edge.pid)[0] / 1024
        out.notes.append(f"(b {kind}) {readings:,} readings in {messages:,} messages committed in {elapsed:.2f} s "
                         f"(±{POLL_S * 1000:.0f} ms poll); the generator had all PUBACKed after "
                         f"{gen['t_acked'] - t0:.2f} s; edge RSS {rss_before:.0f} MiB after the warm-up, "
                         f"{out.values['edge_rss_mib']:.0f} MiB at the end")
        _add_cpu(cpu0, cpu1, "loadgen", gen["cpu_s"])
        out.notes.append(f"(b {kind}) " + _cpu_note(out, cpu0, cpu1, elapsed))
        out.notes.append(f"(b {kind}) " + _histograms(poller.port, None))
    except Exception as exc:
        out.error = f"{type(exc).__name__}: {exc}\n{ps.tails()}"
    finally:
        ps.stop_all()
    return out


# -- (c) throughput ----------------------------------------------------------------------------
def end_to_end_throughput(sizes: Sizes) -> Outcome:
    out = Outcome("e2e")
    ps = P.Procs("e2e")
    try:
        broker, mqtt_port = ps.mosquitto()
        hub, http_port, grpc_port, token = _hub_stack(ps)
        edge, edge_poller = _start_edge(ps, mqtt_port, grpc_port, token)
        hub_poller = P.Poller(http_port)
        base = _warm_up(mqtt_port, hub_poller, HUB_STORED, [edge, hub])
        edge_base = edge_poller.value(EDGE_INGESTED)
        readings = sizes.e2e_readings
        pub = _publish(mqtt_port, readings // 100, 100)
        trace: list[tuple[float, float]] = []
        t_edge_done = None
        try:
            pids = {"edge": edge.pid, "hub": hub.pid, "mosquitto": broker.pid}
            cpu0 = _cpu(pids)
            t0 = pub.go()
            deadline = t0 + RUN_TIMEOUT_S
            stored = 0.0
            while stored < readings:
                if time.monotonic() > deadline:
                    raise P.BenchError(f"hub stored {stored:.0f} of {readings} within {RUN_TIMEOUT_S:.0f} s")
                stored = hub_poller.value(HUB_STORED) - base
                now = time.monotonic()
                trace.append((now - t0, stored))
                if t_edge_done is None and edge_poller.value(EDGE_INGESTED) - edge_base >= readings:
                    t_edge_done = time.monotonic() - t0
                for proc in (edge, hub):
                    if not proc.alive():
                        raise P.BenchError(f"{proc.name} exited:\n{proc.tail()}")
                time.sleep(POLL_S)
            cpu1 = _cpu(pids)
            gen = pub.result()
        finally:
            pub.stop()
        elapsed = trace[-1][0]
        out.values["readings_per_s"] = readings / elapsed
        times = np.array([t for t, _ in trace])
        counts = np.array([c for _, c in trace])
        t10 = times[np.searchsorted(counts, 0.1 * readings)]
        t90 = times[np.searchsorted(counts, 0.9 * readings)]
        out.values["readings_per_s_10_90"] = 0.8 * readings / (t90 - t10) if t90 > t10 else float("nan")
        out.values["edge_done_s"] = t_edge_done
        out.values["elapsed_s"] = elapsed
        out.notes.append(
            f"(c) {readings:,} readings (100 per message) publish → hub commit in {elapsed:.2f} s; the edge had "
            f"committed all of them to its buffer after {t_edge_done or float('nan'):.2f} s, the generator had "
            f"all PUBACKed after {gen['t_acked'] - t0:.2f} s; steady rate between 10 % and 90 % stored: "
            f"{out.values['readings_per_s_10_90']:,.0f}/s")
        _add_cpu(cpu0, cpu1, "loadgen", gen["cpu_s"])
        out.notes.append("(c) " + _cpu_note(out, cpu0, cpu1, elapsed))
        out.notes.append("(c) " + _histograms(edge_poller.port, http_port))
    except Exception as exc:
        out.error = f"{type(exc).__name__}: {exc}\n{ps.tails()}"
    finally:
        ps.stop_all()
    return out


# -- (c) latency -------------------------------------------------------------------------------
def end_to_end_latency(sizes: Sizes) -> Outcome:
    """Publish single readings at a fixed rate; poll the hub's stored counter every ~2 ms.

    Readings keep their publish order all the way (one publisher connection, one subscriber, one
    writer thread assigning sequence numbers, batches stored in sequence order), so reading i is
    committed on the hub when the counter first reaches i + 1. Its latency is bounded above by the
    receive time of the first poll showing that count, and below by the send time of the poll
    before it; the headline uses the upper bound.
    """
    out = Outcome("latency")
    ps = P.Procs("latency")
    try:
        broker, mqtt_port = ps.mosquitto()
        hub, http_port, grpc_port, token = _hub_stack(ps)
        edge, edge_poller = _start_edge(ps, mqtt_port, grpc_port, token)
        # Only the counter it needs (Prometheus's name[] filter): the whole page, with the DuckDB
        # memory query behind it, cost the hub a large share of a core at ~100 polls a second.
        poller = P.Poller(http_port, f"/metrics?name[]={HUB_STORED}")
        base = _warm_up(mqtt_port, poller, HUB_STORED, [edge, hub])
        n = int(sizes.latency_seconds * sizes.latency_rate)
        pub = _publish(mqtt_port, n, 1, rate=sizes.latency_rate)
        polls: list[tuple[float, float, float]] = []
        try:
            cpu_pids = {"edge": edge.pid, "hub": hub.pid, "mosquitto": broker.pid}
            cpu0 = _cpu(cpu_pids)
            t0 = pub.go()
            deadline = t0 + sizes.latency_seconds + 60
            count = 0.0
            while count < n:
                if time.monotonic() > deadline:
                    raise P.BenchError(f"hub stored {count:.0f} of {n} by the deadline")
                sent = time.monotonic()
                count = P.metric(poller.get(), HUB_STORED) or 0.0
                count -= base
                polls.append((sent, time.monotonic(), count))
                time.sleep(LATENCY_POLL_S)
            cpu1 = _cpu(cpu_pids)
            gen = pub.result()
        finally:
            pub.stop()
        pub_mono = np.array(gen["pub_mono"])
        sent_t = np.array([p[0] for p in polls])
        recv_t = np.array([p[1] for p in polls])
        counts = np.array([p[2] for p in polls])
        counts = np.maximum.accumulate(counts)
        idx = np.searchsorted(counts, np.arange(1, n + 1), side="left")  # first poll with count >= i+1
        upper = (recv_t[idx] - pub_mono) * 1000
        prev = np.maximum(idx - 1, 0)
        lower = np.maximum((sent_t[prev] - pub_mono) * 1000, 0.0)
        period = np.diff(sent_t)
        rtt = (recv_t - sent_t) * 1000
        pub_span = pub_mono[-1] - pub_mono[0]
        out.values.update({
            "p50_ms": float(np.percentile(upper, 50)), "p99_ms": float(np.percentile(upper, 99)),
            "max_ms": float(upper.max()), "p50_lower_ms": float(np.percentile(lower, 50)),
            "p99_lower_ms": float(np.percentile(lower, 99)), "poll_period_ms": float(np.median(period) * 1000),
            "poll_rtt_ms": float(np.median(rtt)), "achieved_rate": (n - 1) / pub_span if pub_span else 0.0,
            "messages": n,
        })
        out.notes.append(
            f"(c latency) {n:,} single-reading messages at {out.values['achieved_rate']:,.0f}/s; "
            f"hub /metrics polled {len(polls):,} times, median period {out.values['poll_period_ms']:.1f} ms "
            f"(request round trip {out.values['poll_rtt_ms']:.1f} ms); latency bounds "
            f"p50 {out.values['p50_lower_ms']:.1f}-{out.values['p50_ms']:.1f} ms, "
            f"p99 {out.values['p99_lower_ms']:.1f}-{out.values['p99_ms']:.1f} ms, max {out.values['max_ms']:.1f} ms")
        _add_cpu(cpu0, cpu1, "loadgen", gen["cpu_s"])
        out.notes.append("(c latency) " + _cpu_note(out, cpu0, cpu1, polls[-1][1] - t0))
        out.notes.append("(c latency) " + _histograms(edge_poller.port, http_port))
    except Exception as exc:
        out.error = f"{type(exc).__name__}: {exc}\n{ps.tails()}"
    finally:
        ps.stop_all()
    return out


# -- (d) backlog drain -------------------------------------------------------------------------
def _uplink_up(poller: P.Poller) -> bool:
    text = poller.get()
    return any((P.metric(text, "edgehub_edge_uplink_state", f'state="{st}"') or 0) >= 1
               for st in ("syncing", "streaming", "draining"))


def backlog_drain(sizes: Sizes) -> Outcome:
    """A real outage: the hub knows the edge's devices (warm-up), goes down, the devices keep
    publishing into the edge buffer, then the hub comes back and the edge drains its backlog."""
    out = Outcome("drain")
    ps = P.Procs("drain")
    try:
        _, mqtt_port = ps.mosquitto()
        hub, http_port, grpc_port, token = _hub_stack(ps)
        edge, edge_poller = _start_edge(ps, mqtt_port, grpc_port, token)
        _warm_up(mqtt_port, P.Poller(http_port), HUB_STORED, [edge, hub])
        ps.stop(hub)  # the outage
        readings = sizes.drain_readings
        ingested0 = edge_poller.value(EDGE_INGESTED)
        pub = _publish(mqtt_port, readings // 100, 100)
        try:
            pub.go()
            P.wait_metric(edge_poller, EDGE_INGESTED, ingested0 + readings, RUN_TIMEOUT_S, 0.1, [edge])
            pub.result()
        finally:
            pub.stop()
        # Let the gauges (updated every second) settle, then measure the edge holding the backlog.
        time.sleep(2.0)
        backlog = edge_poller.value("edgehub_edge_backlog_rows")
        out.values["backlog_rows"] = backlog
        out.values["edge_rss_holding_mib"] = P.rss_kib(edge.pid)[0] / 1024
        if backlog != readings:
            out.notes.append(f"(d) note: backlog gauge {backlog:,.0f} != {readings:,} published during the outage")
        t_start = time.monotonic()
        hub = ps.hub(ps.tmp / "hub-data", http_port, grpc_port, name="hub-2")
        t_ready = P.wait_hub(http_port, hub)
        cpu_pids = {"edge": edge.pid, "hub": hub.pid}
        cpu0 = _cpu(cpu_pids)
        hub_poller = P.Poller(http_port)
        t_link: float | None = None  # first poll seeing the edge's uplink past CONNECTING
        stored_at_link = 0.0  # what the hub had stored by then (normally nothing)
        stored = 0.0  # the restarted hub's counter counts only what it stores after the outage
        while stored < readings:
            if time.monotonic() > t_ready + RUN_TIMEOUT_S:
                raise P.BenchError(f"hub stored {stored:.0f} of {readings} within {RUN_TIMEOUT_S:.0f} s")
            if t_link is None and _uplink_up(edge_poller):
                t_link = time.monotonic()
                stored_at_link = hub_poller.value(HUB_STORED)
            stored = hub_poller.value(HUB_STORED)
            for proc in (edge, hub):
                if not proc.alive():
                    raise P.BenchError(f"{proc.name} exited:\n{proc.tail()}")
            if stored < readings:
                time.sleep(POLL_S)
        t_done = time.monotonic()
        cpu1 = _cpu(cpu_pids)
        if t_link is None:
            t_link = t_ready
        rss, hwm = P.rss_kib(edge.pid)
        out.values["readings_per_s"] = (readings - stored_at_link) / (t_done - t_link)
        out.values["stored_at_link"] = stored_at_link
        out.values["readings_per_s_from_ready"] = readings / (t_done - t_ready)
        out.values["readings_per_s_incl_start"] = readings / (t_done - t_start)
        out.values["reconnect_s"] = t_link - t_ready
        out.values["edge_rss_mib"] = rss / 1024
        out.values["edge_hwm_mib"] = hwm / 1024
        out.values["hub_rss_mib"] = P.rss_kib(hub.pid)[0] / 1024
        out.values["total"] = readings
        out.notes.append(
            f"(d) {readings:,} readings buffered during the outage (backlog gauge {backlog:,.0f}); the restarted "
            f"hub answered HTTP {t_ready - t_start:.2f} s after its process started, the edge's uplink was up "
            f"{t_link - t_ready:.2f} s later (reconnect backoff, ±{POLL_S * 1000:.0f} ms), and the hub had stored "
            f"the whole backlog {t_done - t_link:.2f} s after that ({stored_at_link:,.0f} were stored when the "
            f"uplink was first seen up): {out.values['readings_per_s']:,.0f}/s "
            f"({out.values['readings_per_s_from_ready']:,.0f}/s counted from the hub answering)")
        out.notes.append(
            f"(d) edge RSS {out.values['edge_rss_holding_mib']:.0f} MiB while holding the backlog, "
            f"{rss / 1024:.0f} MiB at the end (peak {hwm / 1024:.0f} MiB); hub RSS "
            f"{out.values['hub_rss_mib']:.0f} MiB at the end")
        out.notes.append("(d) " + _cpu_note(out, cpu0, cpu1, t_done - t_ready))
        out.notes.append("(d) " + _histograms(edge_poller.port, http_port))
    except Exception as exc:
        out.error = f"{type(exc).__name__}: {exc}\n{ps.tails()}"
    finally:
        ps.stop_all()
    return out
