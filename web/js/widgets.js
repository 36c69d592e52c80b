// Widget cards: time_series (uPlot), gauge (SVG arc), stat (value, trend, sparkline), table.
import { h } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import htm from "htm";
import uPlot from "uplot";
import { api } from "./api.js";
import { fmtNumber, fmtTime, fmtValue } from "./fmt.js";
import { usualInterval, useWidgetData } from "./live.js";
import { deviceLabel } from "./ui.js";

const html = htm.bind(h);
const RANGES = { "1 h": 3600, "24 h": 86400, "7 d": 604800 };

function Badge({ view }) {
  if (view.state === "live") return html`<span class="badge live" data-state="live"><span class="dot live"></span>Live</span>`;
  if (view.state === "reconnecting") {
    const s = Math.max(0, Math.ceil((view.retryAt - Date.now()) / 1000));
    return html`<span class="badge reconnecting" data-state="reconnecting">Reconnecting in ${s} s</span>`;
  }
  if (view.state === "stale") {
    const last = view.data[view.data.length - 1];
    return html`<span class="badge stale" data-state="stale">Stale since ${fmtTime(last && last.timestamp)}</span>`;
  }
  if (view.state === "error") return html`<span class="badge stale" data-state="error">Unavailable</span>`;
  return html`<span class="badge" data-state="connecting">Connecting…</span>`;
}

export function WidgetCard({ dashUuid, widget, devices, editing, tools }) {
  const view = useWidgetData(dashUuid, widget);
  const src = widget.dataSource || {};
  const device = devices[src.device_id];
  const subtitle = src.kind === "device"
    ? `${device ? deviceLabel(device) : `Device ${(src.device_id || "").slice(0, 8)}`} · ${src.sensor_type}`
    : `${src.node_type || "node"} ${src.node_id || ""}`;
  const last = view.data[view.data.length - 1];
  const Body = { time_series: TimeSeries, gauge: Gauge, stat: Stat, table: Table }[widget.type] || Table;
  const layout = widget.layout || {};
  const style = `grid-column: span ${layout.w || 6}; grid-row: span ${layout.h || 4};`;
  return html`<section class="widget" style=${style} data-widget=${widget.id} data-points=${view.data.length}
      aria-label=${widget.title}>
    <header>
      <span class="title">${widget.title}</span><span class="spacer"></span>
      <${Badge} view=${view} />
    </header>
    <div class="row"><span class="sub">${subtitle}</span><span class="spacer"></span>
      <span class="last">${last ? fmtValue(last.value, last.unit) : ""}</span></div>
    ${view.error ? html`<div class="error" role="alert">${view.error}</div>` : null}
    <div class="body">
      ${view.data.length || widget.type === "time_series"
        ? html`<${Body} data=${view.data} widget=${widget} />`
        : html`<p class="muted">Waiting for the first sample…</p>`}
    </div>
    ${editing ? tools : null}
  </section>`;
}

// Points with a gap of more than 3x the usual interval get a null between them: uPlot draws a break.
function withGaps(data) {
  const usual = usualInterval(data) || 0;
  const xs = [];
  const ys = [];
  for (let i = 0; i < data.length; i++) {
    const t = Date.parse(data[i].timestamp) / 1000;
    if (i && usual && (t - xs[xs.length - 1]) * 1000 > 3 * usual) {
      xs.push((t + xs[xs.length - 1]) / 2);
      ys.push(null);
    }
    xs.push(t);
    ys.push(data[i].value);
  }
  return [xs, ys];
}

// 24-hour local times; the date too when the chart spans more than a day.
const tickTime = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
const tickDay = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", hour12: false });
function timeTick(t, u) {
  const span = u.scales.x.max - u.scales.x.min;
  return (span > 86400 ? tickDay : tickTime).format(new Date(t * 1000));
}

function chartColors() {
  const css = getComputedStyle(document.documentElement);
  return { line: css.getPropertyValue("--chart").trim(), band: css.getPropertyValue("--chart-band").trim(),
    text: css.getPropertyValue("--muted").trim(), grid: css.getPropertyValue("--border").trim() };
}

function TimeSeries({ data, widget }) {
  const box = useRef(null);
  const plot = useRef(null);
  const [range, setRange] = useState(null);
  const [history, setHistory] = useState(null);
  const [error, setError] = useState(null);
  const src = widget.dataSource || {};
  const unit = (data[data.length - 1] || {}).unit || "";

  useEffect(() => {
    if (!range) { setHistory(null); return; }
    const to = new Date();
    const from = new Date(to.getTime() - RANGES[range] * 1000);
    const q = `sensor_type=${encodeURIComponent(src.sensor_type)}&from=${from.toISOString()}&to=${to.toISOString()}&max_points=400`;
    api("GET", `/api/devices/${src.device_id}/readings/?${q}`)
      .then((rows) => { setHistory(rows); setError(null); })
      .catch((err) => setError(err.message));
  }, [range]);

  useEffect(() => {
    const c = chartColors();
    const axis = { stroke: c.text, grid: { stroke: c.grid, width: 1 }, ticks: { stroke: c.grid } };
    const xAxis = { ...axis, values: (u, splits) => splits.map((t) => timeTick(t, u)) };
    const banded = !!history;
    const series = banded
      ? [{}, { label: "min", stroke: "transparent", points: { show: false } },
        { label: "max", stroke: "transparent", points: { show: false } },
        { label: `mean (${unit})`, stroke: c.line, width: 2, points: { show: false } }]
      : [{}, { label: `${src.sensor_type || "value"} (${unit})`, stroke: c.line, width: 2, spanGaps: false,
        points: { show: false } }];
    const el = box.current;
    const opts = {
      width: el.clientWidth || 300, height: Math.max(80, el.clientHeight - 34),
      series, axes: [xAxis, { ...axis, label: unit, size: 56 }],
      bands: banded ? [{ series: [2, 1], fill: c.band }] : undefined,
      scales: { x: { time: true } }, legend: { live: true }, cursor: { drag: { x: false, y: false } },
    };
    plot.current = new uPlot(opts, banded ? [[], [], [], []] : [[], []], el);
    const ro = new ResizeObserver(() => plot.current && plot.current.setSize(
      { width: el.clientWidth, height: Math.max(80, el.clientHeight - 34) }));
    ro.observe(el);
    return () => { ro.disconnect(); plot.current.destroy(); plot.current = null; };
  }, [history ? "band" : "live", unit]);

  useEffect(() => {
    if (!plot.current) return;
    if (history) {
      plot.current.setData([history.map((p) => Date.parse(p.timestamp) / 1000), history.map((p) => p.min),
        history.map((p) => p.max), history.map((p) => p.value)]);
    } else {
      plot.current.setData(withGaps(data));
    }
  }, [data, history]);

  return html`<div style="height:100%; display:flex; flex-direction:column">
    ${src.kind === "device" ? html`<div class="ranges" role="group" aria-label="Time range">
      <button aria-pressed=${range === null} onClick=${() => setRange(null)}>Live</button>
      ${Object.keys(RANGES).map((r) => html`<button aria-pressed=${range === r} onClick=${() => setRange(r)}>${r}</button>`)}
    </div>` : null}
    ${error ? html`<div class="error" role="alert">${error}</div>` : null}
    <div ref=${box} style="flex:1; min-height:0" data-chart-points=${history ? history.length : data.length}></div>
  </div>`;
}

function Gauge({ data, widget }) {
  const last = data[data.length - 1];
  const opts = widget.options || {};
  const values = data.map((s) => s.value);
  const lo = opts.min ?? Math.min(...values);
  const hi = opts.max ?? Math.max(...values);
  const span = hi - lo || 1;
  const frac = Math.min(1, Math.max(0, (last.value - lo) / span));
  const arc = (f) => {
    const a = Math.PI * (1 - f);
    return [60 + 48 * Math.cos(a), 62 - 48 * Math.sin(a)];
  };
  const [x, y] = arc(frac);
  const warn = opts.warn !== undefined && last.value >= opts.warn;
  const alarm = opts.alarm !== undefined && last.value >= opts.alarm;
  const color = alarm ? "var(--danger)" : warn ? "var(--warn)" : "var(--chart)";
  return html`<svg viewBox="0 0 120 80" role="img" style="width:100%; height:100%"
      aria-label=${`${fmtValue(last.value, last.unit)} on a scale from ${fmtNumber(lo)} to ${fmtNumber(hi)}`}>
    <path d="M12 62 A48 48 0 0 1 108 62" stroke="var(--border)" stroke-width="10" fill="none" />
    <path d=${`M12 62 A48 48 0 0 1 ${x.toFixed(2)} ${y.toFixed(2)}`} stroke=${color} stroke-width="10" fill="none" />
    <text x="60" y="58" text-anchor="middle" font-size="15" font-weight="600" fill="var(--text)">${fmtNumber(last.value)}</text>
    <text x="60" y="72" text-anchor="middle" font-size="8" fill="var(--muted)">${last.unit}</text>
    <text x="12" y="76" text-anchor="middle" font-size="7" fill="var(--muted)">${fmtNumber(lo)}</text>
    <text x="108" y="76" text-anchor="middle" font-size="7" fill="var(--muted)">${fmtNumber(hi)}</text>
  </svg>`;
}

function Stat({ data }) {
  const last = data[data.length - 1];
  const prev = data[data.length - 2];
  const diff = prev ? last.value - prev.value : 0;
  const trend = diff > 0 ? ["▲", "trend-up", "rising"] : diff < 0 ? ["▼", "trend-down", "falling"] : ["▶", "trend-flat", "steady"];
  const values = data.map((s) => s.value);
  const lo = Math.min(...values);
  const span = Math.max(...values) - lo || 1;
  const points = values.map((v, i) => `${(i / Math.max(1, values.length - 1)) * 100},${30 - ((v - lo) / span) * 28}`).join(" ");
  return html`<div style="display:flex; flex-direction:column; height:100%">
    <div class="row"><span class="stat-value">${fmtNumber(last.value)}</span><span class="muted">${last.unit}</span>
      <span class=${trend[1]} aria-label=${trend[2]} title=${trend[2]}>${trend[0]}</span></div>
    <svg viewBox="0 0 100 32" preserveAspectRatio="none" style="flex:1; width:100%" aria-hidden="true">
      <polyline points=${points} fill="none" stroke="var(--chart)" stroke-width="1.5" vector-effect="non-scaling-stroke" />
    </svg>
  </div>`;
}

function Table({ data }) {
  const rows = data.slice(-50).reverse();
  return html`<div style="overflow:auto; height:100%"><table class="wtable">
    <thead><tr><th>Time</th><th class="num">Value</th></tr></thead>
    <tbody>${rows.map((s) => html`<tr key=${s.timestamp}><td>${fmtTime(s.timestamp)}</td>
      <td class="num">${fmtValue(s.value, s.unit)}</td></tr>`)}</tbody></table></div>`;
}
