/* Shared helpers of the agent desktop and the supervisor dashboard.
 *
 * No framework and no build step: plain DOM. Every string from the server is put
 * into the page with textContent (never innerHTML), so a contact named
 * "<script>" stays a name. The bearer token lives in sessionStorage only (gone
 * when the tab closes) and is sent on every API call; the WebSocket, which cannot
 * carry headers from a browser, gives it as ?token= (see orchestrator/api/auth.py).
 */
"use strict";

const Dialer = (() => {
  const TOKEN_KEY = "dialer.token";

  function token() {
    return sessionStorage.getItem(TOKEN_KEY);
  }

  function setToken(value) {
    sessionStorage.setItem(TOKEN_KEY, value);
  }

  function clearToken() {
    sessionStorage.removeItem(TOKEN_KEY);
    // The page's extra panels (callbacks) forget what they showed.
    document.dispatchEvent(new CustomEvent("dialer:signedout"));
  }

  /** Tell the page's extra panels (e.g. callbacks) who signed in: they share the page's
   * sign-in and event stream rather than opening their own. */
  function announceSignedIn(me) {
    document.dispatchEvent(new CustomEvent("dialer:signedin", { detail: me }));
  }

  /** An error answer of the API: {error, message, field}, plus the HTTP status and the
   * whole answer (`data`: e.g. the `changed` values of a stale call-data save). */
  class ApiError extends Error {
    constructor(status, code, message, field, data) {
      super(message);
      this.status = status;
      this.code = code;
      this.field = field || null;
      this.data = data || {};
    }
  }

  /** Call the API; resolves with the decoded JSON, rejects with an ApiError. */
  async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    const t = token();
    if (t) headers.Authorization = "Bearer " + t;
    const init = { method, headers, cache: "no-store" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let resp;
    try {
      resp = await fetch(path, init);
    } catch (err) {
      throw new ApiError(0, "network", "cannot reach the dialer service (" + err.message + ")");
    }
    const text = await resp.text();
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch (_) {
        data = text;
      }
    }
    if (!resp.ok) {
      const d = data && typeof data === "object" ? data : {};
      const message = d.message || (typeof data === "string" && data) || resp.statusText;
      throw new ApiError(resp.status, d.error || "http_" + resp.status, message, d.field, d);
    }
    return data;
  }

  /** A human sentence for an error, naming the field the server named. */
  function describeError(err) {
    if (!(err instanceof ApiError)) return String(err && err.message ? err.message : err);
    const where = err.field ? err.field + ": " : "";
    const status = err.status ? " (HTTP " + err.status + ")" : "";
    if (err.status === 401) return "Not signed in: " + err.message + status;
    if (err.status === 403) return "Not allowed: " + where + err.message + status;
    return where + err.message + status;
  }

  /** Show an error (or clear it with null) in an element with role="alert". */
  function showError(box, err) {
    if (!box) return;
    if (err === null || err === undefined) {
      box.textContent = "";
      box.hidden = true;
      return;
    }
    box.textContent = typeof err === "string" ? err : describeError(err);
    box.hidden = false;
  }

  /** Build an element: el("td", {class: "x", dataset: {id: 1}}, "text", child, ...). */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "dataset") Object.assign(node.dataset, v);
      else if (k === "text") node.textContent = v;
      else if (k.startsWith("on") && typeof v === "function") node.addEventListener(k.slice(2), v);
      else if (v === true) node.setAttribute(k, "");
      else node.setAttribute(k, String(v));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function $(selector, root) {
    return (root || document).querySelector(selector);
  }

  /** 75 -> "1:15", 3725 -> "1:02:05". */
  function fmtDuration(seconds) {
    if (seconds === null || seconds === undefined || !isFinite(seconds)) return "–";
    const s = Math.max(0, Math.floor(seconds));
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const ss = String(s % 60).padStart(2, "0");
    return h > 0 ? h + ":" + String(m).padStart(2, "0") + ":" + ss : m + ":" + ss;
  }

  /** 0.0312 -> "3.1 %"; null -> "–". */
  function fmtPercent(fraction, digits) {
    if (fraction === null || fraction === undefined || !isFinite(fraction)) return "–";
    return (fraction * 100).toFixed(digits === undefined ? 1 : digits) + " %";
  }

  function fmtNumber(value, digits) {
    if (value === null || value === undefined || !isFinite(value)) return "–";
    return Number(value).toFixed(digits || 0);
  }

  function fmtTime(iso) {
    if (!iso) return "–";
    const d = new Date(iso);
    return isNaN(d) ? String(iso) : d.toLocaleTimeString();
  }

  function fmtDateTime(iso) {
    if (!iso) return "–";
    const d = new Date(iso);
    return isNaN(d) ? String(iso) : d.toLocaleString();
  }

  /** A date-time's parts in an IANA zone: {date: "YYYY-MM-DD", time: "HH:MM"}. */
  function zoneParts(iso, zone) {
    const d = new Date(iso);
    if (isNaN(d)) return { date: "", time: "" };
    let parts;
    try {
      parts = new Intl.DateTimeFormat("en-CA", { timeZone: zone, year: "numeric", month: "2-digit",
        day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).formatToParts(d);
    } catch (_) {
      return { date: iso.slice(0, 10), time: iso.slice(11, 16) };
    }
    const p = Object.fromEntries(parts.map((x) => [x.type, x.value]));
    return { date: p.year + "-" + p.month + "-" + p.day, time: p.hour + ":" + p.minute };
  }

  /** A callback's window in its own zone: "2026-12-09 10:00–11:00 Europe/Paris". */
  function fmtWindow(cb) {
    const a = zoneParts(cb.window_start, cb.time_zone);
    const b = zoneParts(cb.window_end, cb.time_zone);
    const end = b.date === a.date ? b.time : b.date + " " + b.time;
    return a.date + " " + a.time + "–" + end + " " + cb.time_zone;
  }

  const STATE_LABELS = {
    logged_out: "Logged out",
    not_ready: "Not ready",
    available: "Available",
    reserved: "Reserved",
    ringing: "Ringing",
    on_call: "On call",
    hold: "Hold",
    consulting: "Consulting",
    conferencing: "Conferencing",
    wrap_up: "Wrap-up",
  };

  function stateLabel(state) {
    return STATE_LABELS[state] || String(state || "unknown").replace(/_/g, " ");
  }

  /** Wall-clock start of a state: the server's `since` unless it lies in the future
   * (a clock ahead of ours, or a test service running its clock faster), then now. */
  function sinceMs(iso) {
    const now = Date.now();
    const t = iso ? Date.parse(iso) : NaN;
    return isNaN(t) || t > now ? now : t;
  }

  /** The set of "METHOD /path" of the API (from /openapi.json), to show only the
   * controls the server actually offers (e.g. Hold). */
  let featuresPromise = null;
  function features() {
    if (!featuresPromise) {
      featuresPromise = api("GET", "/openapi.json")
        .then((doc) => {
          const out = new Set();
          for (const [path, ops] of Object.entries((doc && doc.paths) || {})) {
            for (const method of Object.keys(ops)) out.add(method.toUpperCase() + " " + path);
          }
          return out;
        })
        .catch(() => new Set());
    }
    return featuresPromise;
  }

  /** The WebSocket event stream, reconnecting with jittered backoff.
   * onEvent(event) for each event; onStatus("live" | "connecting" | "offline"). */
  class EventStream {
    constructor(onEvent, onStatus) {
      this.onEvent = onEvent;
      this.onStatus = onStatus || (() => {});
      this.ws = null;
      this.stopped = true;
      this.failures = 0;
      this.timer = null;
    }

    start() {
      this.stopped = false;
      this._connect();
    }

    stop() {
      this.stopped = true;
      clearTimeout(this.timer);
      if (this.ws) this.ws.close();
      this.ws = null;
      this.onStatus("offline");
    }

    _connect() {
      if (this.stopped) return;
      const scheme = location.protocol === "https:" ? "wss:" : "ws:";
      const url = scheme + "//" + location.host + "/api/v1/events?token=" +
        encodeURIComponent(token() || "");
      this.onStatus("connecting");
      let ws;
      try {
        ws = new WebSocket(url);
      } catch (_) {
        this._retry();
        return;
      }
      this.ws = ws;
      ws.onmessage = (msg) => {
        let event;
        try {
          event = JSON.parse(msg.data);
        } catch (_) {
          return;
        }
        if (event.type === "hello") {
          this.failures = 0;
          this.onStatus("live");
        }
        this.onEvent(event);
        document.dispatchEvent(new CustomEvent("dialer:event", { detail: event }));
      };
      ws.onclose = () => {
        if (this.ws === ws) this.ws = null;
        if (!this.stopped) {
          this.onStatus("offline");
          this._retry();
        }
      };
    }

    _retry() {
      this.failures += 1;
      const cap = Math.min(15000, 500 * 2 ** Math.min(this.failures, 5));
      this.timer = setTimeout(() => this._connect(), cap / 2 + Math.random() * cap / 2);
    }
  }

  /** The sign-in form: a pasted token, checked with GET /api/v1/me.
   * Resolves onSignedIn(me) when signed in (at page load too, if a token is kept). */
  function setupSignIn({ form, input, errorBox, minRole, onSignedIn }) {
    const ranks = { agent: 0, supervisor: 1, admin: 2 };

    async function check() {
      const me = await api("GET", "/api/v1/me");
      if (minRole && (ranks[me.role] ?? -1) < ranks[minRole]) {
        clearToken();
        throw new ApiError(403, "forbidden", "this page needs the " + minRole +
          " role; the token is for " + me.username + " (" + me.role + ")", "token");
      }
      return me;
    }

    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const value = input.value.trim();
      if (!value) {
        showError(errorBox, "token: paste the access token you were given");
        input.focus();
        return;
      }
      setToken(value);
      try {
        const me = await check();
        input.value = "";
        showError(errorBox, null);
        onSignedIn(me);
        announceSignedIn(me);
      } catch (err) {
        if (err.status === 401) clearToken();
        showError(errorBox, err.status === 401 ? "token: unknown or revoked token" : err);
      }
    });

    if (token()) {
      check().then((me) => { onSignedIn(me); announceSignedIn(me); }).catch((err) => {
        if (err.status === 401 || err.status === 403) clearToken();
        showError(errorBox, err);
      });
    }
  }

  /** Show the connection status of the event stream in a badge. */
  function streamBadge(node) {
    const labels = { live: "Live", connecting: "Connecting…", offline: "Offline" };
    return (status) => {
      node.textContent = labels[status] || status;
      node.dataset.status = status;
    };
  }

  return {
    api, ApiError, describeError, showError, el, $, token, setToken, clearToken,
    fmtDuration, fmtPercent, fmtNumber, fmtTime, fmtDateTime, stateLabel, sinceMs,
    zoneParts, fmtWindow,
    features, EventStream, setupSignIn, streamBadge,
  };
})();
