// Small shared pieces of the web app.
import { h } from "preact";
import { useEffect, useState } from "preact/hooks";
import htm from "htm";

const html = htm.bind(h);

// Load data once (or when deps change); returns [{data, error, loading}, reload].
export function useLoad(loader, deps = []) {
  const [state, setState] = useState({ data: null, error: null, loading: true });
  const reload = () => loader().then((data) => setState({ data, error: null, loading: false }))
    .catch((err) => setState({ data: null, error: err.message, loading: false }));
  useEffect(() => { reload(); }, deps);
  return [state, reload];
}

// An API error in plain words, next to what failed.
export const Err = ({ msg }) => (msg ? html`<div class="error" role="alert">${msg}</div>` : null);

// A device's name, or a short form of its id while it has none of its own.
export const deviceLabel = (d) => (d.name && d.name !== d.device_id ? d.name : `Device ${d.device_id.slice(0, 8)}`);
