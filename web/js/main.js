// The edgehub web app: shell, router and the dashboards, devices and edges pages.
import { h, render } from "preact";
import { useEffect, useState } from "preact/hooks";
import htm from "htm";
import { api, login, session, setSession } from "./api.js";
import { fmtAge, fmtDateTime, fmtValue, zoneName } from "./fmt.js";
import { FlowEditor, FlowList } from "./flow.js";
import { Err, useLoad } from "./ui.js";
import { WidgetCard } from "./widgets.js";

const html = htm.bind(h);
const WIDGET_TYPES = ["time_series", "gauge", "stat", "table"];

// -- routing and shell ------------------------------------------------------------------------
function useRoute() {
  const [hash, setHash] = useState(location.hash || "#/dashboards");
  useEffect(() => {
    const on = () => setHash(location.hash || "#/dashboards");
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  return hash.slice(2).split("/").filter(Boolean);
}

function useTheme() {
  const [theme, setTheme] = useState(localStorage.getItem("edgehub.theme") || "auto");
  useEffect(() => {
    const media = matchMedia("(prefers-color-scheme: dark)");
    const apply = () => {
      const dark = theme === "dark" || (theme === "auto" && media.matches);
      document.documentElement.dataset.theme = dark ? "dark" : "light";
    };
    apply();
    localStorage.setItem("edgehub.theme", theme);
    media.addEventListener("change", apply);
    return () => media.removeEventListener("change", apply);
  }, [theme]);
  return [theme, setTheme];
}

function useHubState() {
  const [up, setUp] = useState(null);
  useEffect(() => {
    const check = () => fetch("/healthz").then((r) => setUp(r.ok)).catch(() => setUp(false));
    check();
    const t = setInterval(check, 5000);
    return () => clearInterval(t);
  }, []);
  return up;
}

function Shell({ route, children }) {
  const [theme, setTheme] = useTheme();
  const up = useHubState();
  const nav = [["dashboards", "Dashboards"], ["flows", "Flows"], ["devices", "Devices"], ["edges", "Edges"]];
  return html`<div class="shell">
    <header class="topbar">
      <span class="brand">edgehub</span>
      <span class="hubstate" aria-live="polite">
        <span class=${`dot ${up ? "live" : up === false ? "warn" : "stale"}`}></span>
        ${up ? "Hub connected" : up === false ? "Hub unreachable" : "Checking hub…"}</span>
      <span class="muted">Times in ${zoneName()}</span>
      <span class="spacer"></span>
      <label class="row" style="margin:0">Theme
        <select value=${theme} onChange=${(e) => setTheme(e.target.value)}>
          <option value="auto">System</option><option value="light">Light</option><option value="dark">Dark</option>
        </select></label>
      <span>${session.user}</span>
      <button onClick=${() => setSession(null, null)}>Log out</button>
    </header>
    <nav class="nav" aria-label="Main">
      ${nav.map(([k, label]) => html`<a href=${`#/${k}`} aria-current=${route[0] === k ? "page" : undefined}>${label}</a>`)}
    </nav>
    <main>${children}</main>
  </div>`;
}

function Login() {
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e) => {
    e.preventDefault();
    const form = new FormData(e.target);
    setBusy(true);
    try {
      await login(form.get("username"), form.get("password"));
    } catch (err) {
      setError(err.status === 401 ? "Wrong username or password." : err.message);
    }
    setBusy(false);
  };
  return html`<form class="login" onSubmit=${submit}>
    <h1>Log in to edgehub</h1>
    <label for="username">Username</label><input id="username" name="username" autocomplete="username" required />
    <label for="password">Password</label>
    <input id="password" name="password" type="password" autocomplete="current-password" required />
    <${Err} msg=${error} />
    <button class="primary" type="submit" disabled=${busy}>${busy ? "Logging in…" : "Log in"}</button>
  </form>`;
}

// -- dashboards -------------------------------------------------------------------------------
function Dashboards() {
  const [list, reload] = useLoad(() => api("GET", "/api/dashboard-templates/"));
  const [name, setName] = useState("");
  const [error, setError] = useState(null);
  const act = (fn) => fn().then(() => { setError(null); reload(); }).catch((err) => setError(err.message));
  const create = (e) => { e.preventDefault(); act(() => api("POST", "/api/dashboard-templates/", { name })).then(() => setName("")); };
  const rename = (d) => {
    const next = prompt("New name", d.name);
    if (next) act(() => api("PUT", `/api/dashboard-templates/${d.uuid}/`, { name: next }));
  };
  const remove = (d) => {
    if (confirm(`Delete dashboard "${d.name}" and its ${d.widgets.length} widgets?`)) {
      act(() => api("DELETE", `/api/dashboard-templates/${d.uuid}/`));
    }
  };
  return html`<h1>Dashboards</h1>
    <form class="row" onSubmit=${create} style="margin-bottom:14px">
      <label for="newdash" style="margin:0">New dashboard</label>
      <input id="newdash" value=${name} onInput=${(e) => setName(e.target.value)} placeholder="Name" required />
      <button class="primary" type="submit">Create</button>
    </form>
    <${Err} msg=${error || list.error} />
    ${list.data && !list.data.length ? html`<div class="empty">No dashboards yet: create one, or open a flow and use
      Visualize Output on a device node.</div>` : null}
    ${list.data && list.data.length ? html`<table class="list"><thead><tr><th>Name</th><th class="num">Widgets</th>
      <th>Updated</th><th></th></tr></thead><tbody>
      ${list.data.map((d) => html`<tr key=${d.uuid}><td><a href=${`#/dashboards/${d.uuid}`}>${d.name}</a></td>
        <td class="num">${d.widgets.length}</td><td>${fmtDateTime(d.updated_at)}</td>
        <td class="row"><button onClick=${() => rename(d)}>Rename</button>
          <button class="danger" onClick=${() => remove(d)}>Delete</button></td></tr>`)}
      </tbody></table>` : null}`;
}

function Dashboard({ uuid }) {
  const [dash, reload] = useLoad(() => api("GET", `/api/dashboard-templates/${uuid}/`), [uuid]);
  const [devs] = useLoad(() => api("GET", "/api/devices/"));
  const [editing, setEditing] = useState(null); // the widgets array being edited, or null
  const [error, setError] = useState(null);
  const [saved, setSaved] = useState(null);
  const devices = Object.fromEntries((devs.data || []).map((d) => [d.device_id, d]));
  if (dash.error) return html`<${Err} msg=${dash.error} />`;
  if (!dash.data) return html`<p class="muted">Loading…</p>`;
  const widgets = editing || dash.data.widgets;
  const change = (fn) => setEditing(fn(widgets.map((w) => ({ ...w, layout: { ...(w.layout || { w: 6, h: 4 }) } }))));
  const move = (i, d) => change((ws) => { const j = i + d; if (j < 0 || j >= ws.length) return ws; [ws[i], ws[j]] = [ws[j], ws[i]]; return ws; });
  const size = (i, key, d) => change((ws) => { const lim = key === "w" ? [2, 12] : [2, 10];
    ws[i].layout[key] = Math.min(lim[1], Math.max(lim[0], (ws[i].layout[key] || 4) + d)); return ws; });
  const remove = (i) => change((ws) => ws.filter((_, k) => k !== i));
  const save = async () => {
    try {
      await api("PUT", `/api/dashboard-templates/${uuid}/`, { widgets: editing });
      await reload(); // show the saved dashboard before leaving edit mode, so removed widgets never flash back
      setEditing(null); setError(null); setSaved("Saved.");
    } catch (err) { setError(`Not saved: ${err.message}`); }
  };
  const tools = (i, w) => html`<div class="wtools" role="group" aria-label=${`Arrange ${w.title}`}>
    <button onClick=${() => move(i, -1)} aria-label="Move earlier">◀</button>
    <button onClick=${() => move(i, 1)} aria-label="Move later">▶</button>
    <button onClick=${() => size(i, "w", -1)}>Narrower</button><button onClick=${() => size(i, "w", 1)}>Wider</button>
    <button onClick=${() => size(i, "h", -1)}>Shorter</button><button onClick=${() => size(i, "h", 1)}>Taller</button>
    <button class="danger" onClick=${() => remove(i)}>Remove</button></div>`;
  return html`<div class="row" style="margin-bottom:14px">
      <h1 style="margin:0">${dash.data.name}</h1><span class="spacer"></span>
      ${saved && !editing ? html`<span class="ok" role="status">${saved}</span>` : null}
      ${editing ? html`<span class="dirty">Unsaved changes</span>
        <button onClick=${() => { setEditing(null); setError(null); }}>Cancel</button>
        <button class="primary" onClick=${save}>Save</button>`
        : html`<button onClick=${() => { setSaved(null); setEditing(dash.data.widgets); }}>Edit layout</button>`}
    </div>
    <${Err} msg=${error} />
    ${editing ? html`<${AddWidget} devices=${devs.data || []} onAdd=${(w) => change((ws) => [...ws, w])} />` : null}
    ${!widgets.length ? html`<div class="empty">This dashboard has no widgets yet: open a flow, select a device node,
      pick a variable and use Visualize Output${editing ? ", or add one above" : ""}.</div>` : null}
    <div class=${`grid${editing ? " editing" : ""}`}>
      ${widgets.map((w, i) => html`<${WidgetCard} key=${w.id} dashUuid=${uuid} widget=${w} devices=${devices}
        editing=${!!editing} tools=${tools(i, w)} />`)}
    </div>`;
}

function AddWidget({ devices, onAdd }) {
  const [device, setDevice] = useState("");
  const [sensor, setSensor] = useState("");
  const [type, setType] = useState("time_series");
  const sensors = (devices.find((d) => d.device_id === device) || { sensors: [] }).sensors;
  const add = (e) => {
    e.preventDefault();
    const stamp = new Date().toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15);
    const id = `flow-widget-${stamp}-${Math.random().toString(16).slice(2, 10).padEnd(8, "0")}`;
    const dev = devices.find((d) => d.device_id === device);
    onAdd({ id, type, title: `${sensor} · ${dev ? dev.name : device.slice(0, 8)}`, max_samples: 50,
      dataSource: { kind: "device", device_id: device, sensor_type: sensor }, layout: { w: 6, h: 4 } });
  };
  return html`<form class="card row" onSubmit=${add} style="margin-bottom:14px">
    <label for="aw-dev" style="margin:0">Device</label>
    <select id="aw-dev" value=${device} onChange=${(e) => { setDevice(e.target.value); setSensor(""); }} required>
      <option value="">Choose…</option>
      ${devices.map((d) => html`<option value=${d.device_id}>${d.name}</option>`)}</select>
    <label for="aw-var" style="margin:0">Variable</label>
    <select id="aw-var" value=${sensor} onChange=${(e) => setSensor(e.target.value)} required>
      <option value="">Choose…</option>
      ${sensors.map((s) => html`<option value=${s.sensor_type}>${s.sensor_type} (${s.unit || "no unit"})</option>`)}</select>
    <label for="aw-type" style="margin:0">Type</label>
    <select id="aw-type" value=${type} onChange=${(e) => setType(e.target.value)}>
      ${WIDGET_TYPES.map((t) => html`<option value=${t}>${t.replace("_", " ")}</option>`)}</select>
    <button type="submit" disabled=${!device || !sensor}>Add widget</button>
  </form>`;
}

// -- devices and edges ------------------------------------------------------------------------
function useTicker(ms) {
  const [, setN] = useState(0);
  useEffect(() => { const t = setInterval(() => setN((n) => n + 1), ms); return () => clearInterval(t); }, [ms]);
}

function Devices() {
  const [list, reload] = useLoad(() => api("GET", "/api/devices/"));
  useEffect(() => { const t = setInterval(reload, 5000); return () => clearInterval(t); }, []);
  useTicker(1000);
  if (list.error) return html`<h1>Devices</h1><${Err} msg=${list.error} />`;
  if (!list.data) return html`<h1>Devices</h1><p class="muted">Loading…</p>`;
  return html`<h1>Devices</h1>
    ${!list.data.length ? html`<div class="empty">No devices yet: devices appear with their first reading.
      Point a device (or <code>edgehub sim</code>) at an edge's broker.</div>` : html`<table class="list">
      <thead><tr><th>Name</th><th>Edge</th><th>Last seen</th><th>Sensors (last value)</th></tr></thead><tbody>
      ${list.data.map((d) => html`<tr key=${d.device_id}><td><div>${d.name}</div><div class="muted">${d.device_id}</div></td>
        <td>${d.edge_id || (d.direct ? "direct" : "—")}</td>
        <td title=${fmtDateTime(d.last_seen)}>${fmtAge(d.last_seen)}</td>
        <td>${d.sensors.map((s) => html`<div>${s.sensor_type}: <strong>${fmtValue(s.last_value, s.unit)}</strong></div>`)}</td>
      </tr>`)}</tbody></table>`}`;
}

function Edges() {
  const [list, reload] = useLoad(() => api("GET", "/api/edges/"));
  useEffect(() => { const t = setInterval(reload, 3000); return () => clearInterval(t); }, []);
  useTicker(1000);
  if (list.error) return html`<h1>Edges</h1><${Err} msg=${list.error} />`;
  if (!list.data) return html`<h1>Edges</h1><p class="muted">Loading…</p>`;
  const edges = list.data;
  return html`<h1>Edges</h1>
    ${!edges.length ? html`<div class="empty">No edges registered: an admin registers one with POST /api/edges/.</div>`
      : html`<table class="list"><thead><tr><th>Edge</th><th>State</th><th class="num">Backlog</th>
      <th class="num">Lag</th><th class="num">Readings/s</th><th>Last seen</th></tr></thead><tbody>
      ${edges.map((e) => html`<tr key=${e.edge_id}><td>${e.edge_id}</td>
        <td><span class=${`dot ${e.connected ? "live" : "warn"}`}></span>${e.connected ? "Connected" : "Disconnected"}</td>
        <td class="num">${e.backlog === null ? "—" : `${e.backlog.toLocaleString()} readings`}</td>
        <td class="num">${e.lag_s === null || e.lag_s === undefined ? "—" : `${e.lag_s.toFixed(1)} s`}</td>
        <td class="num">${e.readings_per_s.toLocaleString()}</td>
        <td title=${fmtDateTime(e.last_seen)}>${fmtAge(e.last_seen)}</td></tr>`)}</tbody></table>`}`;
}

// -- app --------------------------------------------------------------------------------------
function App() {
  const [, setN] = useState(0);
  useEffect(() => { const fn = () => setN((n) => n + 1); session.listeners.add(fn); return () => session.listeners.delete(fn); }, []);
  const route = useRoute();
  if (!session.token) return html`<${Login} />`;
  let page;
  if (route[0] === "dashboards" && route[1]) page = html`<${Dashboard} uuid=${route[1]} key=${route[1]} />`;
  else if (route[0] === "flows" && route[1]) page = html`<${FlowEditor} uuid=${route[1]} key=${route[1]} />`;
  else if (route[0] === "flows") page = html`<${FlowList} />`;
  else if (route[0] === "devices") page = html`<${Devices} />`;
  else if (route[0] === "edges") page = html`<${Edges} />`;
  else page = html`<${Dashboards} />`;
  return html`<${Shell} route=${route}>${page}</${Shell}>`;
}

const root = document.getElementById("app");
root.textContent = ""; // drop the "Loading" placeholder
render(html`<${App} />`, root);
