// Flows: the list, and the editor (palette, canvas with nodes and wires, properties, Visualize Output).
import { h } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import htm from "htm";
import { api } from "./api.js";
import { deviceLabel, Err, useLoad } from "./ui.js";

const html = htm.bind(h);
const NODE_W = 170;
const NODE_H = 58;
const INTERNAL = {
  scale: { label: "Scale", data: { a: 1, b: 0 }, params: [["a", "factor a"], ["b", "offset b"]] },
  moving_average: { label: "Moving average", data: { n: 10 }, params: [["n", "samples n"]] },
  threshold: { label: "Threshold", data: { threshold: 50, hysteresis: 0 }, params: [["threshold", "threshold"], ["hysteresis", "hysteresis"]] },
  rate_of_change: { label: "Rate of change", data: {}, params: [] },
  min: { label: "Window min", data: { window_s: 60 }, params: [["window_s", "window (s)"]] },
  max: { label: "Window max", data: { window_s: 60 }, params: [["window_s", "window (s)"]] },
  mean: { label: "Window mean", data: { window_s: 60 }, params: [["window_s", "window (s)"]] },
};
const WIDGET_TYPES = {
  time_series: "A live line chart of the last samples",
  gauge: "The latest value on an arc between min and max",
  stat: "The latest value, its trend and a sparkline",
  table: "The latest samples as rows",
};

const ARROWS = { ArrowLeft: [-10, 0], ArrowRight: [10, 0], ArrowUp: [0, -10], ArrowDown: [0, 10] };

// A device node's device: data.device_id, or the UUID prefix of its id ({device_uuid}-{timestamp}).
const nodeDevice = (n) => (n.data && n.data.device_id) || n.id.split("-").slice(0, 5).join("-");

export function FlowList() {
  const [list, reload] = useLoad(() => api("GET", "/api/flows/"));
  const [name, setName] = useState("");
  const [error, setError] = useState(null);
  const create = async (e) => {
    e.preventDefault();
    try {
      const flow = await api("POST", "/api/flows/", { name, nodes: [], wires: [] });
      location.hash = `#/flows/${flow.flow_uuid}`;
    } catch (err) { setError(err.message); }
  };
  const remove = async (f) => {
    if (!confirm(`Delete flow "${f.name}"? Widgets made from its device nodes keep working.`)) return;
    try { await api("DELETE", `/api/flows/${f.flow_uuid}/`); reload(); } catch (err) { setError(err.message); }
  };
  return html`<h1>Flows</h1>
    <form class="row" onSubmit=${create} style="margin-bottom:14px">
      <label for="newflow" style="margin:0">New flow</label>
      <input id="newflow" value=${name} onInput=${(e) => setName(e.target.value)} placeholder="Name" required />
      <button class="primary" type="submit">Create</button></form>
    <${Err} msg=${error || list.error} />
    ${list.data && !list.data.length ? html`<div class="empty">No flows yet: create one, place a device node and
      visualise one of its variables.</div>` : null}
    ${list.data && list.data.length ? html`<table class="list"><thead><tr><th>Name</th><th class="num">Nodes</th><th></th></tr></thead>
      <tbody>${list.data.map((f) => html`<tr key=${f.flow_uuid}><td><a href=${`#/flows/${f.flow_uuid}`}>${f.name}</a></td>
        <td class="num">${f.nodes.length}</td><td><button class="danger" onClick=${() => remove(f)}>Delete</button></td></tr>`)}
      </tbody></table>` : null}`;
}

export function FlowEditor({ uuid }) {
  const [loaded] = useLoad(() => api("GET", `/api/flows/${uuid}/`), [uuid]);
  const [devs] = useLoad(() => api("GET", "/api/devices/"));
  const [flow, setFlow] = useState(null);
  const [dirty, setDirty] = useState(false);
  const [selected, setSelected] = useState(null); // {node: id} or {wire: index}
  const [status, setStatus] = useState(null);
  const [error, setError] = useState(null);
  const [view, setView] = useState({ x: 0, y: 0, k: 1 });
  const [dialog, setDialog] = useState(null);
  const canvas = useRef(null);
  const drag = useRef(null);
  const [pending, setPending] = useState(null); // a wire being drawn: {source, x, y}

  useEffect(() => { if (loaded.data) setFlow({ name: loaded.data.name, nodes: loaded.data.nodes, wires: loaded.data.wires }); }, [loaded.data]);
  const devices = Object.fromEntries((devs.data || []).map((d) => [d.device_id, d]));
  const update = (fn) => { setFlow((f) => fn({ ...f, nodes: [...f.nodes], wires: [...f.wires] })); setDirty(true); setStatus(null); };

  const toCanvas = (cx, cy) => {
    const r = canvas.current.getBoundingClientRect();
    return [(cx - r.left - view.x) / view.k, (cy - r.top - view.y) / view.k];
  };
  const addNode = (node, at) => {
    const r = canvas.current.getBoundingClientRect();
    const [x, y] = at || toCanvas(r.left + r.width / 2 - NODE_W / 2, r.top + r.height / 2 - NODE_H / 2);
    update((f) => { f.nodes.push({ ...node, position: { x: Math.round(x), y: Math.round(y) } }); return f; });
    setSelected({ node: node.id });
  };
  const deviceNode = (d) => ({ id: `${d.device_id}-${Date.now()}`, type: "device", data: { device_id: d.device_id, name: d.name } });
  const internalNode = (type) => ({ id: `${type}-${Date.now().toString(36)}`, type, data: { ...INTERNAL[type].data } });
  const removeSelected = () => {
    if (!selected) return;
    update((f) => {
      if (selected.node) {
        f.nodes = f.nodes.filter((n) => n.id !== selected.node);
        f.wires = f.wires.filter((w) => w.source !== selected.node && w.target !== selected.node);
      } else f.wires = f.wires.filter((_, i) => i !== selected.wire);
      return f;
    });
    setSelected(null);
  };

  useEffect(() => {
    const onKey = (e) => {
      if ((e.key === "Delete" || e.key === "Backspace") && !["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement.tagName)) {
        e.preventDefault();
        removeSelected();
      }
      const step = ARROWS[e.key];
      const focused = document.activeElement.dataset.node;
      if (step && focused) { // arrow keys move the focused node: 10 px, 50 with Shift
        e.preventDefault();
        const k = e.shiftKey ? 5 : 1;
        update((f) => {
          f.nodes = f.nodes.map((n) => (n.id === focused
            ? { ...n, position: { x: n.position.x + step[0] * k, y: n.position.y + step[1] * k } } : n));
          return f;
        });
      }
    };
    addEventListener("keydown", onKey);
    return () => removeEventListener("keydown", onKey);
  });

  const save = async () => {
    try {
      const saved = await api("PUT", `/api/flows/${uuid}/`, flow);
      setFlow({ name: saved.name, nodes: saved.nodes, wires: saved.wires });
      setDirty(false); setError(null); setStatus("Saved.");
      return true;
    } catch (err) { setError(`Not saved: ${err.message}`); return false; }
  };

  // pointer handling: drag nodes, pan the background, draw wires from output ports
  const onPointerDown = (e) => {
    const nodeEl = e.target.closest("[data-node]");
    if (e.target.classList.contains("out")) {
      const [x, y] = toCanvas(e.clientX, e.clientY);
      setPending({ source: nodeEl.dataset.node, x, y });
      drag.current = { kind: "wire" };
    } else if (nodeEl) {
      const node = flow.nodes.find((n) => n.id === nodeEl.dataset.node);
      setSelected({ node: node.id });
      drag.current = { kind: "node", id: node.id, sx: e.clientX, sy: e.clientY, ox: node.position.x, oy: node.position.y };
    } else if (e.target.dataset.wire !== undefined) {
      setSelected({ wire: Number(e.target.dataset.wire) });
      return;
    } else {
      setSelected(null);
      drag.current = { kind: "pan", sx: e.clientX, sy: e.clientY, ox: view.x, oy: view.y };
    }
    canvas.current.setPointerCapture(e.pointerId);
  };
  const onPointerMove = (e) => {
    const d = drag.current;
    if (!d) return;
    if (d.kind === "node") {
      const nx = d.ox + (e.clientX - d.sx) / view.k;
      const ny = d.oy + (e.clientY - d.sy) / view.k;
      update((f) => { f.nodes = f.nodes.map((n) => (n.id === d.id ? { ...n, position: { x: Math.round(nx), y: Math.round(ny) } } : n)); return f; });
    } else if (d.kind === "pan") setView((v) => ({ ...v, x: d.ox + e.clientX - d.sx, y: d.oy + e.clientY - d.sy }));
    else if (d.kind === "wire") { const [x, y] = toCanvas(e.clientX, e.clientY); setPending((p) => ({ ...p, x, y })); }
  };
  const onPointerUp = (e) => {
    const d = drag.current;
    drag.current = null;
    if (d && d.kind === "wire" && pending) {
      const [x, y] = toCanvas(e.clientX, e.clientY);
      const target = flow.nodes.find((n) => n.type !== "device" && x >= n.position.x - 10 && x <= n.position.x + NODE_W
        && y >= n.position.y - 10 && y <= n.position.y + NODE_H + 10);
      if (target && target.id !== pending.source && !flow.wires.some((w) => w.source === pending.source && w.target === target.id)) {
        update((f) => { f.wires.push({ source: pending.source, target: target.id }); return f; });
      }
      setPending(null);
    }
  };
  const onWheel = (e) => {
    e.preventDefault();
    const r = canvas.current.getBoundingClientRect();
    const k = Math.min(2.5, Math.max(0.3, view.k * (e.deltaY < 0 ? 1.1 : 1 / 1.1)));
    const px = e.clientX - r.left;
    const py = e.clientY - r.top;
    setView({ k, x: px - ((px - view.x) * k) / view.k, y: py - ((py - view.y) * k) / view.k });
  };
  const onDrop = (e) => {
    e.preventDefault();
    const payload = JSON.parse(e.dataTransfer.getData("application/x-edgehub-node") || "null");
    if (!payload) return;
    const at = toCanvas(e.clientX - NODE_W / 2, e.clientY - NODE_H / 2);
    addNode(payload.kind === "device" ? deviceNode(devices[payload.id]) : internalNode(payload.kind), at);
  };

  if (loaded.error) return html`<${Err} msg=${loaded.error} />`;
  if (!flow) return html`<p class="muted">Loading…</p>`;
  const byId = Object.fromEntries(flow.nodes.map((n) => [n.id, n]));
  const node = selected && selected.node ? byId[selected.node] : null;
  const labels = nodeLabels(flow.nodes, devices);
  const wirePath = (a, b) => {
    const x1 = a.x + NODE_W; const y1 = a.y + NODE_H / 2; const x2 = b.x; const y2 = b.y + NODE_H / 2;
    const c = Math.max(40, Math.abs(x2 - x1) / 2);
    return `M${x1} ${y1} C${x1 + c} ${y1} ${x2 - c} ${y2} ${x2} ${y2}`;
  };
  const dragStart = (payload) => (e) => e.dataTransfer.setData("application/x-edgehub-node", JSON.stringify(payload));

  return html`<div class="row" style="margin-bottom:10px">
      <h1 style="margin:0">${flow.name}</h1>
      ${dirty ? html`<span class="dirty">Unsaved changes</span>` : null}
      ${status ? html`<span class="ok" role="status">${status}</span>` : null}
      <span class="spacer"></span>
      <button onClick=${() => setView({ x: 0, y: 0, k: 1 })}>Reset view</button>
      <button class="primary" onClick=${save} disabled=${!dirty}>Save flow</button>
    </div>
    <${Err} msg=${error} />
    <div class="flow">
      <aside class="palette" aria-label="Palette">
        <h2>Devices</h2>
        ${(devs.data || []).length ? null : html`<p class="muted">No devices yet.</p>`}
        ${(devs.data || []).map((d) => html`<button draggable="true" onDragStart=${dragStart({ kind: "device", id: d.device_id })}
          onClick=${() => addNode(deviceNode(d))} title="Click or drag onto the canvas">+ ${deviceLabel(d)}</button>`)}
        <h2 style="margin-top:14px">Processing</h2>
        ${Object.entries(INTERNAL).map(([type, spec]) => html`<button draggable="true"
          onDragStart=${dragStart({ kind: type })} onClick=${() => addNode(internalNode(type))}>+ ${spec.label}</button>`)}
        <p class="muted" style="font-size:0.85em">Drag from a node's right port to another node to wire it, or
          select a node and use Wires in its properties. Delete removes the selection; wheel zooms; drag the
          background to pan.</p>
      </aside>
      <div class="canvas" ref=${canvas} onPointerDown=${onPointerDown} onPointerMove=${onPointerMove} onPointerUp=${onPointerUp}
        onWheel=${onWheel} onDragOver=${(e) => e.preventDefault()} onDrop=${onDrop} data-zoom=${view.k.toFixed(2)}>
        <div class="layer" style=${`transform: translate(${view.x}px, ${view.y}px) scale(${view.k})`}>
          <svg class="wires" width="1" height="1">
            ${flow.wires.map((w, i) => byId[w.source] && byId[w.target] ? html`<path data-wire=${i}
              class=${selected && selected.wire === i ? "selected" : ""} d=${wirePath(byId[w.source].position, byId[w.target].position)} />` : null)}
            ${pending && byId[pending.source] ? html`<path d=${wirePath(byId[pending.source].position, { x: pending.x, y: pending.y - NODE_H / 2 })} />` : null}
          </svg>
          ${flow.nodes.map((n) => html`<div key=${n.id} data-node=${n.id} tabindex="0" role="button"
              class=${`fnode ${n.type === "device" ? "device" : ""} ${node && node.id === n.id ? "selected" : ""}`}
              style=${`left:${n.position.x}px; top:${n.position.y}px`} onFocus=${() => setSelected({ node: n.id })}
              aria-label=${n.type === "device" ? `Device ${labels[n.id]}` : labels[n.id]}>
            <div class="kind">${n.type === "device" ? "device" : INTERNAL[n.type].label}</div>
            <div>${n.type === "device" ? labels[n.id] : summary(n)}</div>
            ${n.type !== "device" ? html`<span class="port in"></span>` : null}
            <span class="port out" title="Drag to another node to wire"></span>
          </div>`)}
        </div>
        ${!flow.nodes.length ? html`<div class="empty" style="position:absolute; inset:30% 15% auto">Add a device from
          the palette, then pick its variable and use Visualize Output.</div>` : null}
      </div>
      <aside class="props" aria-label="Properties">
        ${node ? html`<${Properties} node=${node} device=${node.type === "device" ? devices[nodeDevice(node)] : null} update=${update}
          onVisualize=${() => setDialog(node.id)} onDelete=${removeSelected}
          wiring=${html`<${Wiring} key=${node.id} node=${node} flow=${flow} labels=${labels} update=${update} />`} />`
          : html`<p class="muted">Select a node to see its properties.</p>`}
      </aside>
    </div>
    ${dialog ? html`<${VisualizeDialog} uuid=${uuid} node=${byId[dialog]} flowDirty=${dirty} save=${save}
      onClose=${() => setDialog(null)} />` : null}`;
}

function summary(n) {
  const d = n.data || {};
  if (n.type === "scale") return `${d.a}·x + ${d.b}`;
  if (n.type === "moving_average") return `last ${d.n}`;
  if (n.type === "threshold") return `> ${d.threshold}`;
  if (["min", "max", "mean"].includes(n.type)) return `${d.window_s} s window`;
  return "per second";
}

// Each node's name in lists: a device's label and variable, a processing node's kind and settings;
// a name that repeats gets a number ("Scale 1·x + 0 (2)").
function nodeLabels(nodes, devices) {
  const labels = {};
  const seen = {};
  for (const n of nodes) {
    let text;
    if (n.type === "device") {
      const d = devices[nodeDevice(n)];
      const variable = (n.data || {}).sensor_variable;
      text = (d ? deviceLabel(d) : n.id.slice(0, 8)) + (variable ? ` · ${variable}` : "");
    } else text = `${INTERNAL[n.type].label} ${summary(n)}`;
    seen[text] = (seen[text] || 0) + 1;
    labels[n.id] = seen[text] > 1 ? `${text} (${seen[text]})` : text;
  }
  return labels;
}

// The selected node's wires, listed and edited without a pointer: the keyboard's way to do what
// dragging from a port does. Offers only targets the hub accepts: processing nodes, not already
// wired from here, and not upstream of this node (that wire would close a loop).
function Wiring({ node, flow, labels, update }) {
  const [to, setTo] = useState("");
  const indexed = flow.wires.map((w, i) => [w, i]);
  const ins = indexed.filter(([w]) => w.target === node.id);
  const outs = indexed.filter(([w]) => w.source === node.id);
  const upstream = new Set([node.id]);
  for (let grew = true; grew;) {
    grew = false;
    for (const w of flow.wires) if (upstream.has(w.target) && !upstream.has(w.source)) { upstream.add(w.source); grew = true; }
  }
  const targets = flow.nodes.filter((n) => n.type !== "device" && !upstream.has(n.id) && !outs.some(([w]) => w.target === n.id));
  const connect = () => {
    if (!to) return;
    update((f) => { f.wires.push({ source: node.id, target: to }); return f; });
    setTo("");
  };
  const remove = (index) => update((f) => { f.wires = f.wires.filter((_, i) => i !== index); return f; });
  const list = (title, items, end) => (items.length ? html`<p class="muted" style="margin:8px 0 2px">${title}</p>
    <ul class="wire-list">${items.map(([w, i]) => html`<li key=${i}><span>${labels[w[end]]}</span>
      <button onClick=${() => remove(i)} aria-label=${`Remove the wire ${title.toLowerCase()} ${labels[w[end]]}`}>Remove</button></li>`)}</ul>` : null);
  return html`<h3 style="margin:16px 0 4px">Wires</h3>
    ${node.type !== "device" ? list("Input from", ins, "source") : null}
    ${list("Output to", outs, "target")}
    <label for="wire-to">Connect output to</label>
    <div class="row"><select id="wire-to" value=${to} onChange=${(e) => setTo(e.target.value)} disabled=${!targets.length}>
      <option value="">${targets.length ? "Choose a node…" : "None left"}</option>
      ${targets.map((n) => html`<option value=${n.id}>${labels[n.id]}</option>`)}</select>
      <button onClick=${connect} disabled=${!to}>Connect</button></div>
    ${targets.length ? null : html`<p class="muted">${flow.nodes.some((n) => n.type !== "device" && n.id !== node.id)
      ? "It feeds every node it can (a wire back upstream would close a loop); add a processing node from the palette for more."
      : "Add a processing node from the palette to wire this one to."}</p>`}`;
}

function Properties({ node, device, update, onVisualize, onDelete, wiring }) {
  const setData = (key, value) => node.data[key] !== value && update((f) => {
    f.nodes = f.nodes.map((n) => (n.id === node.id ? { ...n, data: { ...n.data, [key]: value } } : n));
    return f;
  });
  if (node.type === "device") {
    const sensors = device ? device.sensors : [];
    const chosen = node.data.sensor_variable || "";
    return html`<h2>${device ? deviceLabel(device) : "Unknown device"}</h2>
      <p class="muted" style="word-break:break-all">${nodeDevice(node)}</p>
      <label for="var">Variable</label>
      <select id="var" value=${chosen} onChange=${(e) => setData("sensor_variable", e.target.value)}>
        <option value="">Choose a variable…</option>
        ${sensors.map((s) => html`<option value=${s.sensor_type}>${s.sensor_type} (${s.unit || "no unit"})</option>`)}
      </select>
      ${!sensors.length ? html`<p class="muted">This device has not reported any variable yet.</p>` : null}
      <div style="margin-top:14px">
        <button class="primary" onClick=${onVisualize} disabled=${!chosen} aria-describedby="vis-hint">Visualize Output</button>
        ${!chosen ? html`<p id="vis-hint" class="muted">Choose a variable first: the widget shows that variable.</p>` : null}
      </div>
      ${wiring}
      <button class="danger" style="margin-top:14px" onClick=${onDelete}>Delete node</button>`;
  }
  const spec = INTERNAL[node.type];
  return html`<h2>${spec.label}</h2>
    ${spec.params.map(([key, label]) => html`<label for=${`p-${key}`}>${label}</label>
      <input id=${`p-${key}`} type="number" step="any" value=${node.data[key]}
        onInput=${(e) => setData(key, e.target.value === "" ? "" : Number(e.target.value))} />`)}
    <div style="margin-top:14px"><button class="primary" onClick=${onVisualize}>Visualize Output</button></div>
    ${wiring}
    <button class="danger" style="margin-top:14px" onClick=${onDelete}>Delete node</button>`;
}

function VisualizeDialog({ uuid, node, flowDirty, save, onClose }) {
  const ref = useRef(null);
  const [dashes] = useLoad(() => api("GET", "/api/dashboard-templates/"));
  const [type, setType] = useState("time_series");
  const [target, setTarget] = useState("");
  const [newName, setNewName] = useState("");
  const [error, setError] = useState(null);
  const [done, setDone] = useState(null);
  useEffect(() => { ref.current.showModal(); }, []);
  useEffect(() => { if (dashes.data && !target) setTarget(dashes.data.length ? dashes.data[0].uuid : "new"); }, [dashes.data]);
  const create = async (e) => {
    e.preventDefault();
    try {
      if (flowDirty && !(await save())) throw new Error("the flow could not be saved first");
      let dashUuid = target;
      if (target === "new") dashUuid = (await api("POST", "/api/dashboard-templates/", { name: newName })).uuid;
      const body = { widget_type: type, dashboard_uuid: dashUuid };
      if (node.type === "device") body.sensor_variable = node.data.sensor_variable;
      await api("POST", `/api/flows/${uuid}/nodes/${encodeURIComponent(node.id)}/create-widget/`, body);
      setDone(dashUuid);
      setError(null);
    } catch (err) { setError(`The widget was not created: ${err.message}`); }
  };
  return html`<dialog ref=${ref} onClose=${onClose} aria-labelledby="vis-title">
    <form onSubmit=${create}>
      <h2 id="vis-title">Visualize ${node.type === "device" ? node.data.sensor_variable : node.type}</h2>
      <fieldset style="border:0; padding:0; margin:10px 0"><legend class="muted">Widget type</legend>
        ${Object.entries(WIDGET_TYPES).map(([t, text]) => html`<label class="choice"><input type="radio" name="wtype"
          value=${t} checked=${type === t} onChange=${() => setType(t)} /><span><strong>${t.replace("_", " ")}</strong>
          <br /><span class="muted">${text}</span></span></label>`)}
      </fieldset>
      <label for="vis-dash">Dashboard</label>
      <select id="vis-dash" value=${target} onChange=${(e) => setTarget(e.target.value)}>
        ${(dashes.data || []).map((d) => html`<option value=${d.uuid}>${d.name}</option>`)}
        <option value="new">New dashboard…</option></select>
      ${target === "new" ? html`<label for="vis-new">New dashboard name</label>
        <input id="vis-new" value=${newName} onInput=${(e) => setNewName(e.target.value)} required />` : null}
      <${Err} msg=${error} />
      ${done ? html`<p class="ok" role="status">Widget created. <a href=${`#/dashboards/${done}`} onClick=${onClose}>Open dashboard</a></p>` : null}
      <div class="row" style="margin-top:14px"><span class="spacer"></span>
        <button type="button" onClick=${() => ref.current.close()}>${done ? "Close" : "Cancel"}</button>
        ${done ? null : html`<button class="primary" type="submit">Create widget</button>`}</div>
    </form></dialog>`;
}
