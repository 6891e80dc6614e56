/* The supervisor dashboard: agents and their states, live calls, per-campaign pacing
 * and compliance figures, campaign start/pause/stop.
 *
 * GET /api/v1/stats and /api/v1/campaigns give the full picture (read again every few
 * seconds and after every reconnect); the WebSocket events (agent.state, call.state,
 * campaign.stats, campaign.state) update it between reads, so a state change shows
 * at once.
 */
"use strict";

(() => {
  const { api, el, $, showError, fmtDuration, fmtPercent, fmtNumber, stateLabel, sinceMs } = Dialer;

  const TRANSITIONS = {
    start: ["draft", "paused", "stopped", "completed"],
    pause: ["running"],
    stop: ["draft", "running", "paused", "completed"],
  };
  const LIVE_STATUSES = new Set(["running", "paused"]);
  const CALL_STATE_LABELS = {
    created: "Preparing", agent_dialing: "Calling agent", originating: "Dialing",
    ringing: "Ringing", amd: "Machine detection", live: "Waiting for agent",
    connecting: "Connecting agent", bridged: "Talking", voicemail: "Voicemail drop",
    abandoning: "Abandoned", hanging_up: "Ending", ended: "Ended", with_agent: "With agent",
  };

  let me = null;
  let stream = null;
  /** agent_id -> row data */
  const agents = new Map();
  /** attempt_id -> {attempt_id, campaign_id, state, agent_id, start, endedAt} */
  const calls = new Map();
  /** campaign id -> settings (GET /api/v1/campaigns) */
  const campaigns = new Map();
  /** campaign id -> live stats */
  const stats = new Map();
  /** campaign id -> {card, fields} */
  const cards = new Map();
  let totalCalls = null;

  const ui = {
    who: $("#who"), stream: $("#stream"), signout: $("#signout"), signin: $("#signin"),
    dashboard: $("#dashboard"), dashError: $("#dash-error"), updated: $("#updated"),
    campaigns: $("#campaigns"), campaignError: $("#campaign-error"), showAll: $("#show-all"),
    agents: $("#agents"), agentsEmpty: $("#agents-empty"),
    calls: $("#calls"), callsEmpty: $("#calls-empty"), feed: $("#feed"), announce: $("#announce"),
  };

  function feed(...parts) {
    ui.feed.prepend(el("li", {}, el("time", { class: "mono" }, new Date().toLocaleTimeString()), " ", ...parts));
    while (ui.feed.children.length > 40) ui.feed.lastChild.remove();
  }

  function campaignName(id) {
    const c = campaigns.get(id) || stats.get(id);
    return c ? c.name : id === null || id === undefined ? "–" : "#" + id;
  }

  /** agent id -> display name, kept after logout (for the feed and the calls table). */
  const names = new Map();

  function agentName(id) {
    if (id === null || id === undefined) return "–";
    return names.get(id) || "agent " + id;
  }

  /** An agent's name in the feed: filled in once the agent list has it. */
  function agentTag(id) {
    return el("span", { class: "agent-name", dataset: { agentId: id } }, agentName(id));
  }

  function fillNames() {
    for (const span of ui.feed.querySelectorAll(".agent-name")) {
      span.textContent = agentName(Number(span.dataset.agentId));
    }
  }

  // ---------------------------------------------------------------- agents

  function setAgent(data, fromServer) {
    const prev = agents.get(data.agent_id) || {};
    const row = Object.assign({}, prev, data);
    row.since = prev.since;
    if (fromServer) {
      if (prev.sinceIso !== data.since) row.since = sinceMs(data.since);
      row.sinceIso = data.since;
    } else if (prev.state !== data.state) {
      row.since = Date.now();
    }
    if (row.since === undefined) row.since = Date.now();
    if (row.display_name || row.username) names.set(row.agent_id, row.display_name || row.username);
    agents.set(data.agent_id, row);
  }

  function renderAgents() {
    const rows = [...agents.values()].filter((a) => a.state !== "logged_out")
      .sort((a, b) => String(a.username).localeCompare(String(b.username)));
    ui.agents.replaceChildren(...rows.map((a) => el("tr", { dataset: { agent: a.agent_id } },
      el("th", { scope: "row" }, a.display_name || a.username || "agent " + a.agent_id,
        a.username && a.display_name ? el("span", { class: "muted small" }, " " + a.username) : null),
      el("td", {}, a.campaign || campaignName(a.campaign_id)),
      el("td", {}, el("span", { class: "badge", dataset: { state: a.state } }, stateLabel(a.state)),
        a.state === "not_ready" && a.reason ? el("span", { class: "muted small" }, " " + a.reason) : null),
      el("td", { class: "mono", dataset: { since: a.since } }, fmtDuration((Date.now() - a.since) / 1000)),
      el("td", { class: "mono small" }, a.attempt_id ? a.attempt_id.slice(0, 8) : "–"))));
    ui.agentsEmpty.hidden = rows.length > 0;
    const count = (pred) => rows.filter(pred).length;
    $("#sum-agents").textContent = rows.length;
    $("#sum-available").textContent = count((a) => a.state === "available");
    $("#sum-oncall").textContent = count((a) => ["on_call", "hold", "consulting", "conferencing"].includes(a.state));
    $("#sum-wrap").textContent = count((a) => a.state === "wrap_up");
    $("#sum-notready").textContent = count((a) => a.state === "not_ready");
  }

  // ----------------------------------------------------------------- calls

  function renderCalls() {
    const now = Date.now();
    for (const [id, c] of calls) {
      if (c.endedAt && now - c.endedAt > 4000) calls.delete(id);
    }
    const rows = [...calls.values()].sort((a, b) => a.start - b.start);
    ui.calls.replaceChildren(...rows.map((c) => el("tr", { dataset: { attempt: c.attempt_id }, class: c.endedAt ? "ended" : null },
      el("th", { scope: "row", class: "mono small" }, c.attempt_id.slice(0, 8)),
      el("td", {}, campaignName(c.campaign_id)),
      el("td", { class: "mono small" }, c.number || "–"),
      el("td", {}, (CALL_STATE_LABELS[c.state] || c.state) + (c.outcome ? " · " + c.outcome : "")),
      el("td", {}, c.agent_id ? agentName(c.agent_id) : "–"),
      el("td", { class: "mono", dataset: { start: c.start } }, fmtDuration(((c.endedAt || now) - c.start) / 1000)))));
    ui.callsEmpty.hidden = rows.length > 0;
    const live = rows.filter((c) => !c.endedAt).length;
    $("#sum-calls").textContent = totalCalls === null ? live : totalCalls;
  }

  // -------------------------------------------------------------- campaigns

  const METRICS = [
    ["dial_level", "Dial level (lines per agent)"],
    ["limit", "Dialing limited by"],
    ["abandon_24h", "Abandon rate 24 h"],
    ["abandon_30d", "Abandon rate 30 d"],
    ["answer_rate", "Answer rate"],
    ["occupancy", "Agent occupancy"],
    ["calls", "Calls in progress"],
    ["left", "Contacts left"],
    ["agents", "Agents (available / logged in)"],
    ["attempts", "Attempts"],
  ];

  function makeCard(id) {
    const fields = {};
    const title = el("h3", {});
    const status = el("span", { class: "badge status" });
    const mode = el("span", { class: "muted small" });
    const buttons = {};
    const group = el("div", { class: "actions", role: "group" });
    for (const action of ["start", "pause", "stop"]) {
      const b = el("button", { type: "button", class: action === "stop" ? "danger-outline" : action === "start" ? "primary" : null,
        dataset: { action } }, action[0].toUpperCase() + action.slice(1));
      b.addEventListener("click", () => campaignAction(id, action, b));
      buttons[action] = b;
      group.append(b);
    }
    const dl = el("dl", { class: "metrics" });
    for (const [key, label] of METRICS) {
      const dd = el("dd", { dataset: { metric: key } }, "–");
      fields[key] = dd;
      dl.append(el("div", { class: "metric" }, el("dt", {}, label), dd));
    }
    const card = el("article", { class: "campaign-card", dataset: { campaignId: id } },
      el("div", { class: "campaign-head" }, el("div", { class: "campaign-title" }, title, status, mode), group), dl);
    card.setAttribute("aria-label", "Campaign");
    return { card, fields, title, status, mode, buttons, group };
  }

  /** Abandon rate over a window, against the cap, with the drops still allowed. */
  function showAbandon(dd, win, cap) {
    dd.classList.remove("alarm", "warn");
    if (!win) {
      dd.replaceChildren("–");
      return;
    }
    const rate = win.rate === null || win.rate === undefined ? "–" : fmtPercent(win.rate, 2);
    const capText = cap !== undefined && cap !== null ? " (cap " + fmtPercent(cap, 0) + ")" : "";
    const budget = win.remaining_budget;
    const drops = budget === undefined || budget === null ? ""
      : budget < 0 ? "over budget by " + -budget + " drop" + (budget === -1 ? "" : "s")
        : budget + " drop" + (budget === 1 ? "" : "s") + " left";
    dd.replaceChildren(rate, el("span", { class: "sub" }, capText), el("span", { class: "sub block" }, drops));
    if (budget < 0) dd.classList.add("alarm");
    else if (budget === 0 && win.live_answers > 0) dd.classList.add("warn");
  }

  /** Lines per available agent: the pacer's for predictive, fixed by the mode otherwise. */
  function dialLevel(c, p) {
    if (p.dial_level !== undefined && p.dial_level !== null) {
      return fmtNumber(p.dial_level, 2) + (p.warming_up ? " (warming up)" : "");
    }
    if (c.mode === "progressive") return "1.00";
    if (c.mode === "power" && c.power_lines_per_agent) return fmtNumber(c.power_lines_per_agent, 2);
    if (c.mode === "preview" || c.mode === "direct_preview") return "1.00 (on accept)";
    return "–";
  }

  function renderCampaigns() {
    const ids = new Set([...campaigns.keys(), ...stats.keys()]);
    const shown = [...ids].map((id) => Object.assign({ id }, campaigns.get(id) || {}, stats.get(id) || {}))
      .filter((c) => ui.showAll.checked || LIVE_STATUSES.has(c.status))
      .sort((a, b) => String(a.name).localeCompare(String(b.name)));
    const keep = new Set(shown.map((c) => c.id));
    for (const [id, entry] of cards) {
      if (!keep.has(id)) {
        entry.card.remove();
        cards.delete(id);
      }
    }
    if (!shown.length) {
      ui.campaigns.replaceChildren(el("p", { class: "muted" },
        ui.showAll.checked ? "No campaign exists yet." : "No campaign is running or paused."));
      return;
    }
    const nodes = [];
    for (const c of shown) {
      let entry = cards.get(c.id);
      if (!entry) {
        entry = makeCard(c.id);
        cards.set(c.id, entry);
      }
      const s = stats.get(c.id) || {};
      const p = s.pacing || {};
      entry.title.textContent = c.name;
      entry.card.dataset.campaign = c.name;
      entry.card.setAttribute("aria-label", "Campaign " + c.name);
      entry.group.setAttribute("aria-label", "Control campaign " + c.name);
      entry.status.textContent = c.status;
      entry.status.dataset.status = c.status;
      entry.mode.textContent = (c.mode || "").replace(/_/g, " ");
      for (const [action, from] of Object.entries(TRANSITIONS)) {
        entry.buttons[action].disabled = !from.includes(c.status);
        entry.buttons[action].setAttribute("aria-label", action + " " + c.name);
      }
      const f = entry.fields;
      f.dial_level.textContent = dialLevel(c, p);
      f.limit.textContent = c.status !== "running" ? "–"
        : s.dial_limit ? String(s.dial_limit).replace(/_/g, " ") : "nothing";
      showAbandon(f.abandon_24h, s.abandon_24h, c.abandon_cap);
      showAbandon(f.abandon_30d, s.abandon_30d, c.abandon_cap);
      f.answer_rate.textContent = fmtPercent(s.answer_rate ?? p.answer_rate);
      f.occupancy.textContent = fmtPercent(s.occupancy);
      f.calls.textContent = s.calls_in_progress ?? "–";
      f.left.textContent = s.targets_left ?? "–";
      const byState = s.agents || {};
      f.agents.textContent = s.agents_logged_in !== undefined
        ? (byState.available || 0) + " / " + s.agents_logged_in : "–";
      f.attempts.textContent = s.attempts ?? "–";
      nodes.push(entry.card);
    }
    ui.campaigns.replaceChildren(...nodes);
  }

  async function campaignAction(id, action, button) {
    const name = campaignName(id);
    if (action === "stop" && !window.confirm("Stop campaign " + name + "? Its leases are released.")) return;
    button.disabled = true;
    showError(ui.campaignError, null);
    try {
      const c = await api("POST", "/api/v1/campaigns/" + encodeURIComponent(id) + "/" + action);
      campaigns.set(c.id, c);
      if (stats.has(c.id)) stats.get(c.id).status = c.status;
      ui.announce.textContent = "Campaign " + c.name + " is " + c.status;
    } catch (err) {
      showError(ui.campaignError, err);
    } finally {
      renderCampaigns();
      loadStats();
    }
  }

  // ------------------------------------------------------------ server reads

  async function loadStats() {
    try {
      const out = await api("GET", "/api/v1/stats");
      totalCalls = out.calls_in_progress ?? null;
      const seen = new Set();
      for (const a of out.agents || []) {
        setAgent(a, true);
        seen.add(a.agent_id);
        if (a.attempt_id && !calls.has(a.attempt_id)) {
          calls.set(a.attempt_id, { attempt_id: a.attempt_id, campaign_id: a.campaign_id,
            state: "with_agent", agent_id: a.agent_id, start: Date.now() });
        }
      }
      for (const id of [...agents.keys()]) if (!seen.has(id)) agents.delete(id);
      // Drop calls the server no longer knows of (an event missed while offline).
      const withAgents = new Set((out.agents || []).map((a) => a.attempt_id).filter(Boolean));
      for (const [id, c] of calls) {
        const stale = Date.now() - c.start > 5000;
        if (!c.endedAt && ((c.state === "with_agent" && !withAgents.has(id)) ||
            (totalCalls === 0 && stale && !withAgents.has(id)))) calls.delete(id);
      }
      const live = new Set();
      for (const s of out.campaigns || []) {
        stats.set(s.campaign_id, s);
        live.add(s.campaign_id);
      }
      for (const id of [...stats.keys()]) if (!live.has(id)) stats.delete(id);
      showError(ui.dashError, null);
      ui.updated.hidden = false;
      ui.updated.textContent = "Updated " + new Date().toLocaleTimeString();
    } catch (err) {
      if (err.status === 401) return signOut("Your token is no longer valid: " + err.message);
      showError(ui.dashError, err);
    }
    fillNames();
    renderAgents();
    renderCalls();
    renderCampaigns();
  }

  /** GET /api/v1/calls: every live call (numbers masked by the server when the campaign
   * masks them), also those placed by another instance. */
  async function loadCalls() {
    try {
      const out = await api("GET", "/api/v1/calls");
      const live = new Set();
      for (const r of out.calls || []) {
        live.add(r.attempt_id);
        const c = calls.get(r.attempt_id) || { attempt_id: r.attempt_id, start: Date.parse(r.started_at) || Date.now() };
        c.campaign_id = r.campaign_id;
        c.number = r.number;
        if (!c.state) c.state = r.state;
        if (r.agent_id) c.agent_id = r.agent_id;
        if (r.agent) names.set(r.agent_id, names.get(r.agent_id) || r.agent);
        calls.set(r.attempt_id, c);
      }
      for (const [id, c] of calls) if (!c.endedAt && !live.has(id) && Date.now() - c.start > 5000) calls.delete(id);
    } catch (err) {
      if (err.status === 401) return signOut("Your token is no longer valid: " + err.message);
    }
    renderCalls();
  }

  async function loadCampaigns() {
    try {
      const out = await api("GET", "/api/v1/campaigns");
      campaigns.clear();
      for (const c of out.campaigns || []) campaigns.set(c.id, c);
    } catch (err) {
      showError(ui.dashError, err);
    }
    renderCampaigns();
  }

  let statsTimer = null;
  function soonStats() {
    // Several events in a burst cost one read.
    if (statsTimer) return;
    statsTimer = setTimeout(() => { statsTimer = null; loadStats(); loadCalls(); }, 300);
  }

  function onEvent(e) {
    const d = e.data || {};
    switch (e.type) {
      case "hello":
        loadCampaigns();
        loadStats();
        loadCalls();
        break;
      case "agent.state": {
        const known = agents.has(d.agent_id);
        if (d.state === "logged_out") agents.delete(d.agent_id);
        else setAgent({ agent_id: d.agent_id, state: d.state, reason: d.reason,
          attempt_id: d.attempt_id, campaign_id: d.campaign_id }, false);
        feed(agentTag(d.agent_id), ": " + stateLabel(d.state) + (d.reason ? " (" + d.reason + ")" : ""));
        ui.announce.textContent = agentName(d.agent_id) + " is " + stateLabel(d.state);
        renderAgents();
        if (!known) soonStats();
        break;
      }
      case "call.state": {
        const c = calls.get(d.attempt_id) || { attempt_id: d.attempt_id, start: Date.now() };
        c.campaign_id = d.campaign_id ?? e.campaign_id;
        c.state = d.state;
        c.outcome = d.outcome;
        if (e.agent_id) c.agent_id = e.agent_id;
        if (d.state === "ended") {
          c.endedAt = Date.now();
          feed("Call " + d.attempt_id.slice(0, 8) + " ended" + (d.outcome ? ": " + d.outcome : ""));
        }
        if (!calls.has(d.attempt_id) || d.state === "ended") soonStats();
        calls.set(d.attempt_id, c);
        renderCalls();
        break;
      }
      case "call.abandoned":
        feed("Abandoned call " + String(d.attempt_id).slice(0, 8) + " in " + campaignName(e.campaign_id));
        soonStats();
        break;
      case "call.disposition":
        feed("Disposition " + d.code + (d.automatic ? " (automatic)" : "") + " by ", agentTag(e.agent_id));
        break;
      case "campaign.stats":
        stats.set(d.campaign_id, d);
        renderCampaigns();
        break;
      case "campaign.state": {
        const id = d.campaign_id !== undefined ? Number(d.campaign_id) : e.campaign_id;
        const c = campaigns.get(id);
        if (c) c.status = d.state;
        if (stats.has(id)) stats.get(id).status = d.state;
        feed("Campaign " + campaignName(id) + ": " + d.state);
        renderCampaigns();
        soonStats();
        break;
      }
      default:
        break;
    }
  }

  function tick() {
    const now = Date.now();
    for (const td of ui.agents.querySelectorAll("td[data-since]")) {
      td.textContent = fmtDuration((now - Number(td.dataset.since)) / 1000);
    }
    for (const td of ui.calls.querySelectorAll("tr:not(.ended) td[data-start]")) {
      td.textContent = fmtDuration((now - Number(td.dataset.start)) / 1000);
    }
  }

  // --------------------------------------------------------------- sign in

  function signedIn(who) {
    me = who;
    ui.signin.hidden = true;
    ui.dashboard.hidden = false;
    ui.who.hidden = false;
    ui.who.textContent = who.username + " · " + who.role;
    ui.signout.hidden = false;
    stream = new Dialer.EventStream(onEvent, Dialer.streamBadge(ui.stream));
    stream.start();
    loadCampaigns();
    loadStats();
  }

  function signOut(message) {
    Dialer.clearToken();
    if (stream) stream.stop();
    stream = null;
    me = null;
    ui.dashboard.hidden = true;
    ui.signin.hidden = false;
    ui.who.hidden = true;
    ui.signout.hidden = true;
    ui.updated.hidden = true;
    showError($("#signin-error"), message || null);
  }

  Dialer.setupSignIn({ form: $("#signin-form"), input: $("#token"), errorBox: $("#signin-error"),
    minRole: "supervisor", onSignedIn: signedIn });
  ui.signout.addEventListener("click", () => signOut());
  ui.showAll.addEventListener("change", renderCampaigns);

  setInterval(tick, 1000);
  setInterval(() => { if (me) loadStats(); }, 5000);
  setInterval(() => { if (me) loadCalls(); }, 5000);
  setInterval(() => { if (me) loadCampaigns(); }, 30000);
  setInterval(() => { if (me) renderCalls(); }, 2000);
})();
