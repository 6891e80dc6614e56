/* The supervisor dashboard: agents and their states, live calls, per-campaign pacing
 * and compliance figures, campaign start/pause/stop; supervision (listen, whisper, barge
 * from the supervisor's own phone, mode switch, stop) and forcing an agent ready, not
 * ready or logged out.
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
  /** "METHOD /path" the server offers (supervision is shown only when it is). */
  let features = new Set();
  /** The supervisor's supervision in progress (or just ended), as the server gave it. */
  let supervision = null;
  const SUPERVISE = "POST /api/v1/calls/{attempt_id}/supervise";
  const MODES = [["listen", "Listen", "Listen to"], ["whisper", "Whisper", "Whisper into"],
    ["barge", "Barge", "Barge into"]];
  const PHASES = ["ringing", "active", "ended"];
  const SV_STATES = { ringing: "Ringing your phone", active: "Active", ended: "Ended" };
  const PHONE_KEY = "dialer.supervisorPhone";

  const ui = {
    who: $("#who"), stream: $("#stream"), signout: $("#signout"), signin: $("#signin"),
    dashboard: $("#dashboard"), dashError: $("#dash-error"), updated: $("#updated"),
    campaigns: $("#campaigns"), campaignError: $("#campaign-error"), showAll: $("#show-all"),
    agents: $("#agents"), agentsEmpty: $("#agents-empty"),
    calls: $("#calls"), callsEmpty: $("#calls-empty"), feed: $("#feed"), announce: $("#announce"),
    superviseCard: $("#supervise-card"), endpoint: $("#sup-endpoint"), sv: $("#supervision"),
    svText: $("#sv-text"), svState: $("#sv-state"), svStop: $("#sv-stop"), svResult: $("#sv-result"),
    svError: $("#sv-error"), forceReason: $("#force-reason"), agentResult: $("#agent-result"),
    agentError: $("#agent-error"),
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
      el("td", { class: "mono small" }, a.attempt_id ? a.attempt_id.slice(0, 8) : "–"),
      el("td", {}, agentActions(a)))));
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
      el("td", { class: "mono", dataset: { start: c.start } }, fmtDuration(((c.endedAt || now) - c.start) / 1000)),
      canSupervise() ? el("td", {}, c.endedAt ? null : superviseButtons(c.attempt_id, c.agent_id)) : null)));
    ui.callsEmpty.hidden = rows.length > 0;
    const live = rows.filter((c) => !c.endedAt).length;
    $("#sum-calls").textContent = totalCalls === null ? live : totalCalls;
  }


  // ------------------------------------------------------------ supervision

  function canSupervise() {
    return features.has(SUPERVISE);
  }

  function live(sv) {
    return sv && sv.state !== "ended";
  }

  /** Listen / Whisper / Barge for one call. While a supervision is in progress the
   * buttons of other calls are off (one at a time: the server refuses a second). */
  function superviseButtons(attemptId, agentId) {
    if (!canSupervise()) return null;
    const busy = live(supervision);
    const here = busy && supervision.attempt_id === attemptId;
    if (here) {
      return el("span", { class: "badge supervising", dataset: { state: "on_call" } },
        "Supervising: " + supervision.mode);
    }
    const who = agentId ? " (" + agentName(agentId) + ")" : "";
    return el("div", { class: "row-actions", role: "group", "aria-label": "Supervise call " + attemptId.slice(0, 8) },
      ...MODES.map(([mode, label, verb]) => el("button", {
        type: "button", class: "small-button", dataset: { mode },
        "aria-label": verb + " call " + attemptId.slice(0, 8) + who,
        title: busy ? "end your supervision in progress first" : null, disabled: busy,
        onclick: (e) => startSupervision(attemptId, agentId, mode, e.currentTarget),
      }, label)));
  }

  async function startSupervision(attemptId, agentId, mode, button) {
    button.disabled = true;
    showError(ui.svError, null);
    ui.svResult.textContent = "";
    const body = { mode };
    const phone = ui.endpoint.value.trim();
    if (phone) body.endpoint = phone;
    try {
      const out = await api("POST", "/api/v1/calls/" + encodeURIComponent(attemptId) + "/supervise", body);
      setSupervision(out);
      // The stream may already have said the phone answered.
      ui.svResult.textContent = supervision.state === "active" ? "On the call: " + supervision.mode + "."
        : "Calling your phone to " + mode + " call " + attemptId.slice(0, 8) +
          (agentId ? " of " + agentName(agentId) : "") + ".";
    } catch (err) {
      showError(ui.svError, err);
      button.disabled = false;
    }
  }

  /** The supervision panel: the call, its state, the mode switch and Stop. */
  function setSupervision(sv) {
    if (sv && supervision && sv.supervision_id !== supervision.supervision_id && live(supervision) &&
        sv.state === "ended") {
      return;  // an older one ending: the current one stays shown
    }
    // The answer to a request and the stream's events may cross (the phone answers before
    // the POST's answer arrives): a supervision's phase never goes back.
    if (sv && supervision && sv.supervision_id === supervision.supervision_id &&
        PHASES.indexOf(sv.state) < PHASES.indexOf(supervision.state)) {
      sv = Object.assign({}, sv, { state: supervision.state, ended_reason: supervision.ended_reason });
    }
    supervision = sv;
    renderSupervision();
    renderCalls();
    renderAgents();
  }

  function renderSupervision() {
    const sv = supervision;
    ui.sv.hidden = !sv;
    if (!sv) return;
    const ended = sv.state === "ended";
    ui.svText.textContent = "Call " + sv.attempt_id.slice(0, 8) +
      (sv.agent_id ? " · " + agentName(sv.agent_id) : "");
    ui.svState.textContent = (SV_STATES[sv.state] || sv.state) +
      (sv.state === "active" ? ": " + sv.mode : "") + (ended && sv.ended_reason ? " (" + sv.ended_reason + ")" : "");
    ui.svState.dataset.state = sv.state === "active" ? "on_call" : sv.state === "ringing" ? "ringing" : "logged_out";
    for (const b of ui.sv.querySelectorAll(".mode-switch button")) {
      const current = b.dataset.mode === sv.mode;
      b.setAttribute("aria-pressed", String(current));
      b.disabled = ended || current;
    }
    ui.svStop.disabled = ended;
  }

  async function changeMode(mode, button) {
    if (!live(supervision)) return;
    button.disabled = true;
    showError(ui.svError, null);
    try {
      const out = await api("PATCH", "/api/v1/supervisions/" + encodeURIComponent(supervision.supervision_id), { mode });
      setSupervision(out);
      ui.svResult.textContent = "Mode: " + mode + ".";
    } catch (err) {
      showError(ui.svError, err);
      renderSupervision();
    }
  }

  async function stopSupervision() {
    if (!live(supervision)) return;
    ui.svStop.disabled = true;
    showError(ui.svError, null);
    try {
      const out = await api("DELETE", "/api/v1/supervisions/" + encodeURIComponent(supervision.supervision_id));
      setSupervision(Object.assign({}, out, { state: "ended" }));
      ui.svResult.textContent = "Supervision stopped.";
    } catch (err) {
      showError(ui.svError, err);
      renderSupervision();
    }
  }

  /** The supervisions in progress (after sign-in and every reconnect). */
  async function loadSupervisions() {
    if (!features.has("GET /api/v1/supervisions")) return;
    try {
      const out = await api("GET", "/api/v1/supervisions");
      const mine = (out.supervisions || []).filter(live);
      if (mine.length) setSupervision(mine[0]);
      else if (live(supervision)) setSupervision(null);
    } catch (err) {
      showError(ui.svError, err);
    }
  }

  // ------------------------------------------------------- forcing an agent

  function agentActions(a) {
    const name = a.display_name || a.username || "agent " + a.agent_id;
    const force = (label, state, disabled, fn) => el("button", {
      type: "button", class: "small-button" + (state === "logout" ? " danger-outline" : ""),
      "aria-label": label + " " + name, disabled,
      onclick: (e) => forceAgent(a.agent_id, name, state, e.currentTarget, fn),
    }, label);
    return el("div", { class: "row-actions" },
      a.attempt_id && canSupervise() ? superviseButtons(a.attempt_id, a.agent_id) : null,
      force("Force ready", "available", a.state === "available"),
      force("Force not ready", "not_ready", a.state === "not_ready"),
      force("Log out", "logout", false));
  }

  /** Force ready / not ready (POST .../state) or log out (DELETE .../session); no
   * confirmation: the result (or the server's refusal) is shown under the table. */
  async function forceAgent(agentId, name, what, button) {
    button.disabled = true;
    showError(ui.agentError, null);
    ui.agentResult.textContent = "";
    const path = "/api/v1/agents/" + encodeURIComponent(agentId);
    try {
      if (what === "logout") {
        const out = await api("DELETE", path + "/session");
        ui.agentResult.textContent = out && out.state && out.state !== "logged_out"
          ? name + " will be logged out when the call ends." : name + ": logged out.";
      } else {
        const body = what === "available" ? { state: "available" }
          : { state: "not_ready", reason: ui.forceReason.value };
        const out = await api("POST", path + "/state", body);
        const now = out && out.state ? out.state : what;
        const asked = stateLabel(what) + (what === "not_ready" ? " (" + body.reason + ")" : "");
        // An agent on a call becomes not ready once the call is over (the server keeps it).
        ui.agentResult.textContent = now === what ? name + ": " + asked + "."
          : name + " is " + stateLabel(now) + ": " + asked + " once the call is over.";
      }
    } catch (err) {
      showError(ui.agentError, err);
      button.disabled = false;
    } finally {
      soonStats();
    }
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
        loadSupervisions();
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
      case "supervision.state":
        feed("Supervision " + ({ ringing: "ringing", active: "on", ended: "ended" }[d.state] || d.state) + ": " + d.mode + " on call " +
          String(d.attempt_id).slice(0, 8) + " of ", agentTag(d.agent_id),
          me && d.supervisor_id === me.agent_id ? " (you)" : " by ", me && d.supervisor_id === me.agent_id ? null : agentTag(d.supervisor_id));
        if (me && d.supervisor_id === me.agent_id) {
          setSupervision(d);
          if (d.state === "active") ui.svResult.textContent = "On the call: " + d.mode + ".";
          if (d.state === "ended") ui.svResult.textContent = "Supervision ended" + (d.ended_reason ? ": " + d.ended_reason : "") + ".";
        }
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
    Dialer.features().then((f) => {
      features = f;
      ui.superviseCard.hidden = !canSupervise();
      for (const th of document.querySelectorAll(".sv-col")) th.hidden = !canSupervise();
      renderCalls();
      renderAgents();
      loadSupervisions();
    });
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
    supervision = null;
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
  // The supervisor's phone is remembered on this computer (it is not a secret).
  ui.endpoint.value = localStorage.getItem(PHONE_KEY) || "";
  ui.endpoint.addEventListener("change", () => {
    const v = ui.endpoint.value.trim();
    if (v) localStorage.setItem(PHONE_KEY, v);
    else localStorage.removeItem(PHONE_KEY);
  });
  for (const b of ui.sv.querySelectorAll(".mode-switch button")) {
    b.addEventListener("click", () => changeMode(b.dataset.mode, b));
  }
  ui.svStop.addEventListener("click", stopSupervision);

  setInterval(tick, 1000);
  setInterval(() => { if (me) loadStats(); }, 5000);
  setInterval(() => { if (me) loadCalls(); }, 5000);
  setInterval(() => { if (me) loadCampaigns(); }, 30000);
  setInterval(() => { if (me) renderCalls(); }, 2000);
})();
