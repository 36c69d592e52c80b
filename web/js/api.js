// REST and WebSocket access to the hub, with the session's access token.
const TOKEN = "edgehub.token";
const USER = "edgehub.user";

export const session = {
  token: localStorage.getItem(TOKEN),
  user: localStorage.getItem(USER),
  listeners: new Set(),
};

export function setSession(token, user) {
  session.token = token;
  session.user = user;
  if (token) {
    localStorage.setItem(TOKEN, token);
    localStorage.setItem(USER, user);
  } else {
    localStorage.removeItem(TOKEN);
    localStorage.removeItem(USER);
  }
  session.listeners.forEach((fn) => fn());
}

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// Every failure becomes an ApiError whose message is plain words the page can show as is.
export async function api(method, path, body) {
  let res;
  try {
    res = await fetch(path, {
      method,
      headers: { "Content-Type": "application/json", ...(session.token ? { Authorization: `Bearer ${session.token}` } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, "The hub cannot be reached. Check the network and that the hub is running.");
  }
  if (res.status === 401 && session.token && path !== "/api/auth/token/") {
    setSession(null, null);
    throw new ApiError(401, "Your session has ended. Please log in again.");
  }
  if (!res.ok) {
    let message = `${res.status} ${res.statusText}`;
    try {
      const payload = await res.json();
      if (payload && typeof payload.error === "string") message = payload.error;
    } catch { /* not JSON: keep the status line */ }
    throw new ApiError(res.status, message);
  }
  return res.status === 204 ? null : res.json();
}

export function wsUrl(path) {
  const proto = location.protocol === "https:" ? "wss" : "ws";
  return `${proto}://${location.host}${path}?token=${encodeURIComponent(session.token || "")}`;
}

export async function login(username, password) {
  const body = await api("POST", "/api/auth/token/", { username, password });
  setSession(body.access, username);
}
