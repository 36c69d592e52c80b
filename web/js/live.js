// useWidgetData: the seed's front-end hook. Fetch /samples/, open /ws/widgets/{id}/, append, keep the
// last max_samples. On every (re)connect and when the tab becomes visible again it refetches /samples/
// and merges by timestamp, so a gap is filled. Renders are coalesced to one per animation frame.
import { useEffect, useRef, useState } from "preact/hooks";
import { api, setSession, wsUrl } from "./api.js";

const STALE_FACTOR = 3; // stale when nothing came for 3x the usual interval
const MIN_STALE_MS = 3000;
const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 10000];

function merge(current, incoming, max) {
  const byTime = new Map(current.map((s) => [s.timestamp, s]));
  for (const s of incoming) byTime.set(s.timestamp, s);
  const all = [...byTime.values()].sort((a, b) => (a.timestamp < b.timestamp ? -1 : a.timestamp > b.timestamp ? 1 : 0));
  return all.length > max ? all.slice(all.length - max) : all;
}

// The usual interval between samples: the median of the last gaps, in ms.
export function usualInterval(data) {
  const gaps = [];
  for (let i = Math.max(1, data.length - 11); i < data.length; i++) {
    gaps.push(Date.parse(data[i].timestamp) - Date.parse(data[i - 1].timestamp));
  }
  if (!gaps.length) return null;
  gaps.sort((a, b) => a - b);
  return gaps[Math.floor(gaps.length / 2)];
}

export function useWidgetData(dashUuid, widget) {
  const max = widget.max_samples || 50;
  const [view, setView] = useState({ data: [], state: "connecting", retryAt: 0, lastArrival: 0, error: null });
  const live = useRef(null);

  useEffect(() => {
    const r = { data: [], ws: null, raf: 0, attempt: 0, timer: 0, closed: false, state: "connecting",
      retryAt: 0, lastArrival: 0, error: null };
    live.current = r;
    // For the browser tests and for a curious operator's console: the buffer behind each widget.
    (window.edgehubWidgets ||= {})[widget.id] = () => r.data;
    const samplesPath = `/api/dashboard-templates/${dashUuid}/widgets/${widget.id}/samples/`;

    const render = () => {
      if (r.raf || r.closed) return;
      r.raf = requestAnimationFrame(() => {
        r.raf = 0;
        setView({ data: r.data, state: r.state, retryAt: r.retryAt, lastArrival: r.lastArrival, error: r.error });
      });
    };
    const refetch = async () => {
      try {
        const samples = await api("GET", samplesPath);
        r.data = merge(r.data, samples, max);
        if (samples.length && !r.lastArrival) r.lastArrival = Date.now();
        r.error = null;
      } catch (err) {
        r.error = err.message;
      }
      render();
    };
    const connect = () => {
      if (r.closed) return;
      const ws = new WebSocket(wsUrl(`/ws/widgets/${widget.id}/`));
      r.ws = ws;
      ws.onopen = () => {
        r.attempt = 0;
        r.state = "live";
        r.error = null;
        refetch(); // fills whatever happened while we were away
      };
      ws.onmessage = (event) => {
        const sample = JSON.parse(event.data);
        const last = r.data[r.data.length - 1];
        r.data = last && sample.timestamp > last.timestamp
          ? (r.data.length >= max ? [...r.data.slice(1), sample] : [...r.data, sample])
          : merge(r.data, [sample], max);
        r.lastArrival = Date.now();
        if (r.state !== "live") r.state = "live";
        render();
      };
      ws.onclose = (event) => {
        if (r.closed) return;
        if (event.code === 4401) {
          setSession(null, null);
          return;
        }
        if (event.code === 4403 || event.code === 4404 || event.code === 1000) {
          r.state = "error";
          r.error = event.reason || "This widget is no longer available.";
          render();
          return;
        }
        const delay = BACKOFF_MS[Math.min(r.attempt, BACKOFF_MS.length - 1)] * (0.75 + Math.random() * 0.5);
        r.attempt += 1;
        r.state = "reconnecting";
        r.retryAt = Date.now() + delay;
        render();
        r.timer = setTimeout(connect, delay);
      };
    };
    const onVisible = () => {
      if (document.visibilityState === "visible") refetch();
    };
    // A once-a-second tick: the countdown and the stale check need time to pass, not data.
    const tick = setInterval(() => {
      if (r.state === "reconnecting") render();
      if (r.state === "live" || r.state === "stale") {
        const usual = usualInterval(r.data);
        const limit = Math.max(MIN_STALE_MS, STALE_FACTOR * (usual || 1000));
        const next = r.lastArrival && Date.now() - r.lastArrival > limit ? "stale" : "live";
        if (next !== r.state) {
          r.state = next;
          render();
        }
      }
    }, 1000);
    refetch().then(connect);
    document.addEventListener("visibilitychange", onVisible);
    return () => {
      r.closed = true;
      clearTimeout(r.timer);
      clearInterval(tick);
      cancelAnimationFrame(r.raf);
      document.removeEventListener("visibilitychange", onVisible);
      if (r.ws) r.ws.close();
    };
  }, [dashUuid, widget.id, max]);
  return view;
}
