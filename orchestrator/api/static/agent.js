/* The agent desktop: sign in, campaign login, state control, preview card, on-call
 * panel, wrap-up dialog.
 *
 * The server is the source of truth: every event of the WebSocket (and every action
 * the agent takes) triggers a re-read of GET /api/v1/agents/{id}/session, and the page
 * is rendered from that answer. Events only add what the session does not carry (the
 * customer call's progress) and make the page react at once. Nothing is unmasked or
 * computed on the client: the page shows what the server sends.
 */
"use strict";

(() => {
  const { api, el, $, showError, fmtDuration, fmtDateTime, stateLabel, sinceMs } = Dialer;

  /** Agent states in which the agent is handling (or being offered) a call. */
  const CALL_STATES = new Set(["reserved", "ringing", "on_call", "hold", "consulting",
    "conferencing"]);
  const TALKING = new Set(["on_call", "hold", "consulting", "conferencing"]);
  const CALL_STATE_LABELS = {
    created: "Preparing", agent_dialing: "Calling your phone", originating: "Dialing",
    ringing: "Ringing", amd: "Answered (detecting machine)", live: "Answered",
    connecting: "Connecting you", bridged: "Connected", voicemail: "Leaving message",
    abandoning: "Abandoned", hanging_up: "Ending", ended: "Ended",
  };

  /** What the call is doing (call_control.mode). */
  const MODE_LABELS = { talk: "Talking", consult: "Consulting", conference: "Conference",
    post_call: "Customer left" };
  const PARTY_STATES = { dialing: "Ringing", talking: "Talking", held: "On hold", left: "Left",
    gone: "Left" };
  const PARTY_KINDS = { agent: "agent", queue: "queue", number: "number", entry: "entry point" };
  const TARGET_HINTS = { agent: "Agent id, e.g. 7", queue: "Campaign id (empty: this campaign)",
    number: "+33 6 12 34 56 78", entry: "Entry point name" };

  let me = null;
  let session = null;
  let stream = null;
  let features = new Set();
  let lastSince = null;
  let stateSince = Date.now();
  let lastState = null;
  let previewKey = null;
  let previewDeadline = null;
  let previewTotal = null;
  let callKey = null;
  /** When the party list was drawn (its clocks count on from there). */
  let partiesAt = Date.now();
  /** The call's data (CAD) as last read: {attempt_id, version, variables}. */
  let cad = null;
  /** The call whose data is read (or being read): read once per call. */
  let cadFor = null;
  let talkStart = null;
  let wrapKey = null;
  let wrapStart = null;
  let wrapDeadline = null;
  /** attempt id -> {state, outcome} from call.state events. */
  const callProgress = new Map();
  /** attempt id -> the preview it came from (its contact and history, for the screen pop). */
  const accepted = new Map();

  const ui = {
    who: $("#who"), stream: $("#stream"), signout: $("#signout"),
    signin: $("#signin"), campaignLogin: $("#campaign-login"), desktop: $("#desktop"),
    campaignForm: $("#campaign-form"), campaign: $("#campaign"), endpoint: $("#endpoint"),
    campaignList: $("#campaign-list"), campaignChoices: $("#campaign-choices"),
    nailed: $("#nailed"), campaignError: $("#campaign-error"),
    badge: $("#state-badge"), reason: $("#state-reason"), stateTime: $("#state-time"),
    stateCampaign: $("#state-campaign"), stateError: $("#state-error"),
    goAvailable: $("#go-available"), goNotReady: $("#go-not-ready"), nrReason: $("#nr-reason"),
    goLogout: $("#go-logout"),
    preview: $("#preview"), previewContact: $("#preview-contact"),
    previewCountdown: $("#preview-countdown"), previewCountdownLabel: $("#preview-countdown-label"),
    previewCountdownBox: $("#preview-countdown-box"),
    previewProgress: $("#preview-progress"), previewError: $("#preview-error"),
    rsForm: $("#reschedule-form"), pdForm: $("#pdispo-form"), pdCode: $("#pd-code"),
    call: $("#call"), callState: $("#call-state"), callTimer: $("#call-timer"),
    callContact: $("#call-contact"), callError: $("#call-error"), callNote: $("#call-note"),
    hangup: $("#call-hangup"), hold: $("#call-hold"), resume: $("#call-resume"),
    machine: $("#call-machine"), fax: $("#call-fax"),
    cad: $("#cad"), cadFields: $("#cad-fields"), cadSave: $("#cad-save"), cadRevert: $("#cad-revert"),
    cadNote: $("#cad-note"), cadError: $("#cad-error"),
    control: $("#call-control"), ccMode: $("#cc-mode"), ccController: $("#cc-controller"),
    ccParticipants: $("#cc-participants"), ccRecording: $("#cc-recording"), ccParties: $("#cc-parties"),
    consult: $("#call-consult"), blind: $("#call-blind"), transfer: $("#call-transfer"),
    hint: $("#call-hint"), xferForm: $("#xfer-form"), xferKind: $("#xfer-kind"),
    xferTarget: $("#xfer-target"), xferTitle: $("#xfer-title"), xferSubmit: $("#xfer-submit"),
    idle: $("#idle"), idleText: $("#idle-text"),
    wrapup: $("#wrapup"), wrapForm: $("#wrapup-form"), wrapCodes: $("#wrapup-codes"),
    wrapNotes: $("#wrapup-notes"), wrapError: $("#wrapup-error"),
    wrapCountdown: $("#wrapup-countdown"), wrapCountdownLabel: $("#wrapup-countdown-label"),
    wrapContact: $("#wrapup-contact"), log: $("#log"),
  };

  /** The buttons only a call under control offers (consult, transfer, conference...). */
  const ccButtons = [...document.querySelectorAll("#call [data-cc]")];

  // ------------------------------------------------------------------ helpers

  function meId() {
    return me ? me.agent_id : null;
  }

  function base() {
    return "/api/v1/agents/" + me.agent_id;
  }

  function log(text) {
    const item = el("li", {}, el("time", { class: "mono" }, new Date().toLocaleTimeString()), " ", text);
    ui.log.prepend(item);
    while (ui.log.children.length > 30) ui.log.lastChild.remove();
  }

  /** Run an API action with its buttons disabled; errors go to `errorBox`. */
  async function act(buttons, errorBox, fn) {
    const list = [].concat(buttons || []);
    list.forEach((b) => { b.disabled = true; });
    showError(errorBox, null);
    try {
      const out = await fn();
      return out;
    } catch (err) {
      showError(errorBox, err);
      return undefined;
    } finally {
      list.forEach((b) => { b.disabled = false; });
      await refresh();
    }
  }

  // ------------------------------------------------------------- rendering

  /** Contact facts, custom fields and the attempt history (tabs). */
  function renderContact(container, info, prefix) {
    container.replaceChildren();
    if (!info || (!info.contact && !info.target)) {
      container.append(el("p", { class: "muted" }, "No contact details were sent for this call."));
      return;
    }
    const c = info.contact || {};
    const t = info.target || {};
    const name = [c.first_name, c.last_name].filter(Boolean).join(" ") || "(no name)";
    const facts = el("dl", { class: "facts" });
    const fact = (label, value, cls) => {
      if (value === null || value === undefined || value === "") return;
      facts.append(el("dt", {}, label), el("dd", { class: cls || null }, String(value)));
    };
    const num = t.number || t.e164;
    fact("Number", num ? num + (t.description ? " (" + t.description + ")" : "") : null, "mono");
    fact("Attempts", t.attempts);
    fact("Last outcome", t.last_outcome);
    fact("External id", c.external_id);
    fact("Postal code", c.postal_code);
    fact("Time zone", c.time_zone);
    fact("Contact id", c.contact_id ?? c.id);
    fact("Expires", c.expires_at ? fmtDateTime(c.expires_at) : null);

    const custom = c.custom_fields || {};
    const customKeys = Object.keys(custom);
    const detailsPanel = el("div", { role: "tabpanel", id: prefix + "-details",
      "aria-labelledby": prefix + "-tab-details", class: "tabpanel" }, facts);
    if (customKeys.length) {
      const dl = el("dl", { class: "facts custom" });
      for (const k of customKeys) {
        const v = custom[k];
        dl.append(el("dt", {}, k), el("dd", {}, typeof v === "object" ? JSON.stringify(v) : String(v)));
      }
      detailsPanel.append(el("h3", {}, "Custom fields"), dl);
    }

    const history = info.history || info.attempts || null;
    const historyPanel = el("div", { role: "tabpanel", id: prefix + "-history",
      "aria-labelledby": prefix + "-tab-history", class: "tabpanel", hidden: true });
    if (!Array.isArray(history)) {
      historyPanel.append(el("p", { class: "muted" }, "The server sent no attempt history."));
    } else if (!history.length) {
      historyPanel.append(el("p", { class: "muted" }, "No earlier attempts."));
    } else {
      const table = el("table", { class: "table compact" },
        el("thead", {}, el("tr", {}, ["Attempt", "When", "Outcome", "Agent", "Disposition"]
          .map((h) => el("th", { scope: "col" }, h)))));
      const body = el("tbody");
      history.forEach((h, i) => {
        const n = h.attempt_no || h.n || h.number || history.length - i;
        const desc = h.target_description || h.description || t.description || "";
        body.append(el("tr", {},
          el("th", { scope: "row" }, h.title || "Attempt " + n + (desc ? " (" + desc + ")" : "")),
          el("td", {}, fmtDateTime(h.started_at || h.at || h.created_at)),
          el("td", {}, h.outcome || "–"),
          el("td", {}, h.agent || (h.agent_id ? "agent " + h.agent_id : "–")),
          el("td", {}, h.disposition || h.code || "–")));
      });
      table.append(body);
      historyPanel.append(table);
    }

    const tabDetails = el("button", { type: "button", role: "tab", id: prefix + "-tab-details",
      "aria-selected": "true", "aria-controls": prefix + "-details" }, "Contact");
    const tabHistory = el("button", { type: "button", role: "tab", id: prefix + "-tab-history",
      "aria-selected": "false", "aria-controls": prefix + "-history", tabindex: "-1" },
      "Attempt history" + (Array.isArray(history) ? " (" + history.length + ")" : ""));
    const select = (which) => {
      const details = which === "details";
      tabDetails.setAttribute("aria-selected", String(details));
      tabHistory.setAttribute("aria-selected", String(!details));
      tabDetails.tabIndex = details ? 0 : -1;
      tabHistory.tabIndex = details ? -1 : 0;
      detailsPanel.hidden = !details;
      historyPanel.hidden = details;
    };
    tabDetails.addEventListener("click", () => select("details"));
    tabHistory.addEventListener("click", () => select("history"));
    const tabs = el("div", { role: "tablist", class: "tabs", "aria-label": "Contact" }, tabDetails, tabHistory);
    tabs.addEventListener("keydown", (e) => {
      if (e.key === "ArrowRight" || e.key === "ArrowLeft") {
        const next = document.activeElement === tabDetails ? tabHistory : tabDetails;
        select(next === tabDetails ? "details" : "history");
        next.focus();
      }
    });

    container.append(el("p", { class: "contact-name" }, name), tabs, detailsPanel, historyPanel);
  }

  function renderState(s) {
    const state = s.state;
    if (s.since !== lastSince || state !== lastState) {
      stateSince = s.since !== lastSince ? sinceMs(s.since) : Date.now();
      lastSince = s.since;
      lastState = state;
    }
    ui.badge.textContent = stateLabel(state);
    ui.badge.dataset.state = state;
    ui.reason.textContent = state === "not_ready" && s.reason ? "Reason: " + s.reason : "";
    ui.stateCampaign.textContent = s.campaign || "–";
    ui.goAvailable.disabled = !(state === "not_ready");
    ui.goNotReady.disabled = !(state === "available" || state === "not_ready");
    ui.nrReason.disabled = ui.goNotReady.disabled;
    if (state === "not_ready" && s.reason) {
      const known = [...ui.nrReason.options].some((o) => o.value === s.reason);
      if (!known) ui.nrReason.append(el("option", { value: s.reason }, s.reason));
    }
  }

  function renderPreview(p) {
    const visible = Boolean(p) && p.state !== "pending" && p.state !== "closed";
    ui.preview.hidden = !visible;
    if (!visible) {
      previewKey = null;
      previewDeadline = null;
      ui.rsForm.hidden = true;
      ui.pdForm.hidden = true;
      return;
    }
    const key = p.preview_id + "|" + p.state;
    if (key !== previewKey) {
      previewKey = key;
      accepted.set(p.preview_id, p);
      renderContact(ui.previewContact, p, "pv");
      showError(ui.previewError, null);
      ui.rsForm.hidden = true;
      ui.pdForm.hidden = true;
      if (p.remaining_s !== null && p.remaining_s !== undefined) {
        previewDeadline = Date.now() + p.remaining_s * 1000;
        previewTotal = Math.max(1, p.remaining_s);
      } else {
        previewDeadline = null;
      }
      const zone = $("#rs-zone");
      zone.value = (p.contact && p.contact.time_zone) || Intl.DateTimeFormat().resolvedOptions().timeZone;
      $("#rs-date").value = "";
      $("#rs-time").value = "";
      $("#rs-number").value = "";
      $("#rs-notes").value = "";
      $("#pd-notes").value = "";
    }
    const allowed = new Set(p.allowed_actions || []);
    for (const b of ui.preview.querySelectorAll(".actions button[data-action]")) {
      b.hidden = !allowed.has(b.dataset.action);
    }
    ui.previewCountdownBox.hidden = previewDeadline === null;
    ui.previewCountdownLabel.textContent = "Auto-" + (p.auto_action || "action") + " in";
  }

  function contactForCall(s) {
    const aid = s.attempt_id || s.last_attempt_id;
    if (s.call && (s.call.contact || s.call.target)) return s.call;
    if (s.contact || s.target) return { contact: s.contact, target: s.target, history: s.history };
    return accepted.get(aid) || null;
  }

  function renderCall(s) {
    const inCall = CALL_STATES.has(s.state) && s.attempt_id && !(s.preview && s.preview.preview_id === s.attempt_id);
    ui.call.hidden = !inCall;
    if (!inCall) {
      callKey = null;
      talkStart = null;
      ui.xferForm.hidden = true;
      closeCad();
      return;
    }
    const info = contactForCall(s);
    // The screen pop may arrive a moment after the call (read from the ledger once the
    // attempt is committed): render again when it does.
    const key = s.attempt_id + (info ? "|pop" : "");
    if (key !== callKey) {
      if (!callKey || !callKey.startsWith(s.attempt_id)) {
        talkStart = null;
        ui.callNote.textContent = "";
        showError(ui.callError, null);
        ui.xferForm.hidden = true;
        closeCad();
      }
      callKey = key;
      renderContact(ui.callContact, info, "call");
    }
    if (TALKING.has(s.state) && talkStart === null) talkStart = stateSince;
    const progress = callProgress.get(s.attempt_id);
    const label = s.state === "hold" ? "On hold"
      : progress ? (CALL_STATE_LABELS[progress.state] || progress.state)
        : stateLabel(s.state);
    ui.callState.textContent = label;
    ui.callState.dataset.state = s.state;
    $("#call-title").textContent = TALKING.has(s.state) ? "On call" : "Incoming call";
    const cc = s.call_control || null;
    if (cc) {
      const held = cc.customer && cc.customer.on_hold;
      ui.callState.textContent = cc.mode === "talk" ? (held ? "On hold" : progress ? label : "Connected")
        : MODE_LABELS[cc.mode] || cc.mode;
    }
    renderControl(s, cc);
    // The call's data, once its attempt is in the ledger (read again until it is).
    if (cadFor !== s.attempt_id) loadCad(s.attempt_id);
    const mine = !cc || cc.you_control;
    ui.machine.disabled = !TALKING.has(s.state) || !mine;
    ui.fax.disabled = !TALKING.has(s.state) || !mine;
  }

  /** The call-control bar, the party list and who is in control, from the session's
   * call_control (the server's rules: a button is enabled only when the call allows it,
   * and a disabled one says why). Without call_control (a call not yet connected, or a
   * server without call control) only Hang up and Hold/Resume are offered, as before. */
  function renderControl(s, cc) {
    ui.control.hidden = !cc;
    if (!cc) {
      for (const b of ccButtons) b.hidden = true;
      const canHold = features.has("POST /api/v1/agents/{agent_id}/hold");
      const canResume = features.has("POST /api/v1/agents/{agent_id}/resume") ||
        features.has("POST /api/v1/agents/{agent_id}/unhold");
      ui.hold.hidden = !(canHold && s.state === "on_call");
      ui.resume.hidden = !(canResume && s.state === "hold");
      ui.hold.disabled = false;
      ui.resume.disabled = false;
      ui.hold.title = "";
      ui.resume.title = "";
      // A held call cannot be ended (MISSION E).
      ui.hangup.disabled = s.state === "hold";
      ui.hangup.title = ui.hangup.disabled ? "a held call cannot be ended" : "";
      ui.hint.hidden = true;
      ui.xferForm.hidden = true;
      return;
    }
    const controls = cc.controls || {};
    const recorded = Boolean(cc.recording && cc.recording.name);
    const paused = recorded && cc.recording.paused;
    const onHold = Boolean(controls.unhold && controls.unhold.enabled);
    const shown = {
      hold: !onHold, unhold: onHold, consult: true, switch: true, cancel_consult: true,
      transfer: true, blind_transfer: true, conference: true, leave: true,
      pause_recording: recorded && !paused, resume_recording: recorded && paused, hangup: true,
    };
    const why = new Map();
    for (const b of [ui.hold, ui.resume, ...ccButtons, ui.hangup]) {
      const name = b.dataset.control;
      const c = controls[name] || { enabled: false, reason: "not offered by the server" };
      b.hidden = !shown[name];
      b.disabled = !c.enabled;
      b.title = c.enabled ? "" : c.reason || "";
      if (!b.hidden && !c.enabled && c.reason) {
        if (!why.has(c.reason)) why.set(c.reason, []);
        why.get(c.reason).push(b.textContent.replace("…", ""));
      }
    }
    // One line per reason: "Switch, Transfer, Conference: no answered consultation".
    ui.hint.replaceChildren(...[...why].map(([reason, names], i) =>
      el("span", { class: "why" }, (i ? " · " : "") + names.join(", ") + ": " + reason)));
    ui.hint.hidden = why.size === 0;
    const purpose = ui.xferForm.dataset.purpose;
    if (!ui.xferForm.hidden && purpose && !(controls[purpose] && controls[purpose].enabled)) {
      ui.xferForm.hidden = true;
    }
    ui.consult.setAttribute("aria-expanded", String(!ui.xferForm.hidden && purpose === "consult"));
    ui.blind.setAttribute("aria-expanded", String(!ui.xferForm.hidden && purpose === "blind_transfer"));

    ui.ccMode.textContent = MODE_LABELS[cc.mode] || cc.mode;
    ui.ccMode.dataset.mode = cc.mode;
    ui.ccController.textContent = cc.you_control ? "You are in control"
      : cc.controller ? "Agent " + cc.controller + " is in control" : "";
    ui.ccController.dataset.you = String(Boolean(cc.you_control));
    ui.ccParticipants.textContent = cc.participants + " of " + cc.max_participants + " participants";
    ui.ccRecording.hidden = !cc.recording || (!recorded && !cc.recording.failed);
    ui.ccRecording.textContent = cc.recording && cc.recording.failed ? "Recording failed"
      : paused ? "Recording paused" : "● Recording";
    ui.ccRecording.dataset.paused = String(Boolean(paused));
    renderParties(cc);
  }

  /** Who is on the call: the customer, the primary agent while present, each party. */
  function renderParties(cc) {
    const me = String(meId());
    partiesAt = Date.now();
    const rows = [];
    const c = cc.customer || {};
    rows.push(partyRow("Customer", c.present ? (c.on_hold ? "held" : "talking") : "left", null, null));
    const primary = cc.primary || {};
    if (primary.present) {
      rows.push(partyRow(primary.agent_id === me ? "You (primary agent)" : "Agent " + primary.agent_id + " (primary)",
        "talking", null, null));
    }
    const removable = cc.you_control && (cc.mode === "conference" || cc.mode === "post_call");
    for (const p of cc.parties || []) {
      const you = p.agent_id && p.agent_id === me;
      const who = (you ? "You" : partyLabel(p)) + " · " + (PARTY_KINDS[p.kind] || p.kind);
      const remove = removable && !you
        ? el("button", { type: "button", class: "small-button", "aria-label": "Remove " + partyLabel(p),
          onclick: (e) => act(e.currentTarget, ui.callError, () =>
            api("POST", base() + "/call/remove-party", { attempt_id: cc.attempt_id, party_id: p.party_id })) },
        "Remove")
        : null;
      rows.push(partyRow(who, p.state, p, remove));
    }
    ui.ccParties.replaceChildren(...rows);
  }

  function partyLabel(p) {
    return p.agent_id ? "Agent " + p.agent_id : p.label;
  }

  function partyRow(who, state, party, action) {
    const clock = party && party.joined_at !== null && party.joined_at !== undefined;
    return el("tr", { dataset: { party: party ? party.party_id : who === "Customer" ? "customer" : "primary", state } },
      el("th", { scope: "row" }, who),
      el("td", {}, el("span", { class: "party-state", dataset: { state } }, PARTY_STATES[state] || state)),
      el("td", { class: "mono", dataset: clock ? { seconds: party.seconds, live: String(state !== "gone") } : {} },
        clock ? fmtDuration(party.seconds) : party ? "–" : ""),
      el("td", {}, action));
  }

  function renderWrapup(s) {
    if (s.state !== "wrap_up") {
      wrapKey = null;
      if (ui.wrapup.open) ui.wrapup.close();
      return;
    }
    const aid = s.attempt_id || s.last_attempt_id;
    if (aid !== wrapKey) {
      wrapKey = aid;
      wrapStart = stateSince;
      const remaining = s.wrapup_remaining_s ?? null;
      const seconds = s.wrapup_seconds ?? null;
      wrapDeadline = remaining !== null ? Date.now() + remaining * 1000
        : s.wrapup_deadline ? Date.parse(s.wrapup_deadline)
          : seconds !== null ? wrapStart + seconds * 1000 : null;
      ui.wrapCountdownLabel.textContent = wrapDeadline !== null ? "Auto-disposition in" : "Time in wrap-up";
      ui.wrapCodes.replaceChildren();
      (s.wrapup_codes || []).forEach((code, i) => {
        const id = "wc-" + i;
        ui.wrapCodes.append(el("label", { class: "code", for: id },
          el("input", { type: "radio", name: "wrapup-code", id, value: code.label }),
          " ", code.label,
          el("span", { class: "code-class" }, (code.outcome_class || "").replace(/_/g, " "))));
      });
      if (!(s.wrapup_codes || []).length) {
        ui.wrapCodes.append(el("p", { class: "muted" }, "This campaign has no wrap-up codes."));
      }
      ui.wrapNotes.value = "";
      showError(ui.wrapError, null);
      const info = contactForCall(s);
      const c = info && info.contact;
      ui.wrapContact.textContent = c ? "Call with " + ([c.first_name, c.last_name].filter(Boolean).join(" ") || "contact " + c.contact_id)
        : "Call " + String(aid || "").slice(0, 8);
    }
    if (!ui.wrapup.open) ui.wrapup.showModal();
  }

  function renderIdle(s) {
    const busy = !ui.preview.hidden || !ui.call.hidden;
    ui.idle.hidden = busy;
    if (s.state === "available") ui.idleText.textContent = "Available: waiting for your next contact…";
    else if (s.state === "not_ready") ui.idleText.textContent = "Not ready. Choose Available to take calls.";
    else if (s.state === "wrap_up") ui.idleText.textContent = "Wrap-up: choose a wrap-up code.";
    else ui.idleText.textContent = stateLabel(s.state) + ".";
  }

  /** The campaigns this agent may log in to (its teams'), offered in the login form. */
  async function loadCampaigns() {
    try {
      const out = await api("GET", base() + "/campaigns");
      const list = (out.campaigns || []).filter((c) => c.status === "running" || c.status === "paused");
      ui.campaignList.replaceChildren(...list.map((c) => el("option", { value: c.name }, c.name + " (" + c.mode.replace(/_/g, " ") + ")")));
      ui.campaignChoices.hidden = list.length === 0;
      ui.campaignChoices.textContent = list.length ? "Your campaigns: " + list.map((c) => c.name).join(", ") : "";
    } catch (_) {
      ui.campaignChoices.hidden = true;  // typing the name still works
    }
  }

  function render(s) {
    session = s;
    if (s.state === "logged_out") {
      if (lastState !== "logged_out") loadCampaigns();
      ui.desktop.hidden = true;
      ui.campaignLogin.hidden = false;
      if (ui.wrapup.open) ui.wrapup.close();
      if (!ui.campaign.value) ui.campaign.value = localStorage.getItem("dialer.campaign") || "";
      lastState = "logged_out";
      return;
    }
    ui.campaignLogin.hidden = true;
    ui.desktop.hidden = false;
    renderState(s);
    renderPreview(s.preview || null);
    renderCall(s);
    renderWrapup(s);
    renderIdle(s);
    const codes = s.wrapup_codes || [];
    if (ui.pdCode.options.length !== codes.length) {
      ui.pdCode.replaceChildren(...codes.map((c) => el("option", { value: c.label }, c.label)));
    }
    tick();
  }

  /** Clocks: time in state, preview countdown, call timer, wrap-up countdown. */
  function tick() {
    if (!session || session.state === "logged_out") return;
    const now = Date.now();
    ui.stateTime.textContent = fmtDuration((now - stateSince) / 1000);
    if (previewDeadline !== null && !ui.preview.hidden) {
      const left = Math.max(0, (previewDeadline - now) / 1000);
      ui.previewCountdown.textContent = left > 0 ? fmtDuration(Math.ceil(left)) : "now";
      ui.previewProgress.value = Math.round((left / previewTotal) * 100);
      ui.previewCountdownBox.classList.toggle("urgent", left <= 10);
    }
    if (!ui.call.hidden && !ui.control.hidden) {
      for (const td of ui.ccParties.querySelectorAll("td[data-live='true']")) {
        td.textContent = fmtDuration(Number(td.dataset.seconds) + (now - partiesAt) / 1000);
      }
    }
    if (!ui.call.hidden) {
      ui.callTimer.textContent = talkStart !== null ? fmtDuration((now - talkStart) / 1000) : "–:––";
    }
    if (ui.wrapup.open) {
      if (wrapDeadline !== null) {
        const left = Math.max(0, (wrapDeadline - now) / 1000);
        ui.wrapCountdown.textContent = fmtDuration(Math.ceil(left));
      } else {
        ui.wrapCountdown.textContent = fmtDuration((now - wrapStart) / 1000);
      }
    }
  }

  // ---------------------------------------------------------- server reads

  let refreshing = null;
  let again = false;

  /** Re-read the session; concurrent calls collapse into one more read. */
  function refresh() {
    if (!me) return Promise.resolve();
    if (refreshing) {
      again = true;
      return refreshing;
    }
    refreshing = (async () => {
      do {
        again = false;
        try {
          render(await api("GET", base() + "/session"));
        } catch (err) {
          if (err.status === 401) {
            signOut("Your token is no longer valid: " + err.message);
            return;
          }
          showError(ui.stateError, err);
        }
      } while (again);
    })().finally(() => { refreshing = null; });
    return refreshing;
  }

  function onEvent(e) {
    const d = e.data || {};
    switch (e.type) {
      case "hello":
        refresh();
        break;
      case "agent.state":
        if (d.agent_id === me.agent_id) {
          log("State: " + stateLabel(d.state) + (d.reason ? " (" + d.reason + ")" : ""));
          refresh();
        }
        break;
      case "call.state": {
        const before = callProgress.get(d.attempt_id);
        callProgress.set(d.attempt_id, { state: d.state, outcome: d.outcome });
        if (callProgress.size > 200) callProgress.delete(callProgress.keys().next().value);
        if (before && before.state === d.state && before.outcome === d.outcome) break;
        log("Call: " + (CALL_STATE_LABELS[d.state] || d.state) + (d.outcome ? " – " + d.outcome : ""));
        if (session) renderCall(session);
        if (d.state === "ended") refresh();
        break;
      }
      case "preview.show":
        log("Preview: " + [d.contact && d.contact.first_name, d.contact && d.contact.last_name].filter(Boolean).join(" "));
        if (session) renderPreview(d);
        refresh();
        break;
      case "preview.closed":
        log("Preview closed" + (d.closed_by ? " (" + d.closed_by + ")" : ""));
        refresh();
        break;
      case "preview.refused":
        log("Call refused by the rules: " + (d.reason || "unknown reason"));
        showError(ui.previewError, "The call was not placed: " + (d.reason || "refused"));
        refresh();
        break;
      case "call.data":
        // Saved from elsewhere (another tab, the other agent of a consultation): shown
        // at once unless the agent is editing; their Save then says what changed.
        if (cad && d.attempt_id === cad.attempt_id && d.version !== cad.version &&
            !Object.keys(cadChanges()).length) {
          loadCad(d.attempt_id, "Updated by another save.");
        }
        break;
      case "call.disposition":
        log("Disposition saved: " + d.code + (d.automatic ? " (automatic)" : ""));
        refresh();
        break;
      default:
        break;
    }
  }

  // ------------------------------------------------------------- sign in/out

  function signedIn(who) {
    me = who;
    ui.signin.hidden = true;
    ui.who.hidden = false;
    ui.who.textContent = who.username + " · " + who.role;
    ui.signout.hidden = false;
    Dialer.features().then((f) => {
      features = f;
      if (session) render(session);
    });
    stream = new Dialer.EventStream(onEvent, Dialer.streamBadge(ui.stream));
    stream.start();
    refresh();
  }

  function signOut(message) {
    Dialer.clearToken();
    if (stream) stream.stop();
    stream = null;
    me = null;
    session = null;
    if (ui.wrapup.open) ui.wrapup.close();
    ui.desktop.hidden = true;
    ui.campaignLogin.hidden = true;
    ui.signin.hidden = false;
    ui.who.hidden = true;
    ui.signout.hidden = true;
    showError($("#signin-error"), message || null);
  }

  // ------------------------------------------------------------------ wiring

  Dialer.setupSignIn({ form: $("#signin-form"), input: $("#token"), errorBox: $("#signin-error"),
    onSignedIn: signedIn });
  ui.signout.addEventListener("click", () => signOut());

  ui.campaignForm.addEventListener("submit", (e) => {
    e.preventDefault();
    const campaign = ui.campaign.value.trim();
    if (!campaign) {
      showError(ui.campaignError, "campaign: enter the name of your campaign");
      ui.campaign.focus();
      return;
    }
    const body = { campaign };
    if (ui.endpoint.value.trim()) body.endpoint = ui.endpoint.value.trim();
    if (ui.nailed.checked) body.nailed_up = true;
    const submit = ui.campaignForm.querySelector("button[type=submit]");
    act(submit, ui.campaignError, async () => {
      await api("POST", base() + "/session", body);
      localStorage.setItem("dialer.campaign", campaign);
      log("Logged in to " + campaign);
    });
  });

  ui.goAvailable.addEventListener("click", () =>
    act(ui.goAvailable, ui.stateError, () => api("POST", base() + "/state", { state: "available" })));
  ui.goNotReady.addEventListener("click", () =>
    act(ui.goNotReady, ui.stateError, () =>
      api("POST", base() + "/state", { state: "not_ready", reason: ui.nrReason.value })));
  ui.goLogout.addEventListener("click", () =>
    act(ui.goLogout, ui.stateError, async () => {
      const out = await api("DELETE", base() + "/session");
      if (out && out.state !== "logged_out") log("Log out will happen when the call ends.");
    }));

  // Preview actions
  function previewId() {
    return session && session.preview ? session.preview.preview_id : null;
  }

  async function previewAction(action, body, button) {
    const pid = previewId();
    const buttons = [...ui.preview.querySelectorAll("button")];
    await act(buttons.concat(button || []), ui.previewError, async () => {
      const out = await api("POST", base() + "/preview/" + action, body || {});
      log("Preview: " + action);
      return out;
    });
    if (action === "accept" && pid && session && session.attempt_id === pid) {
      renderCall(session);
    }
  }

  for (const b of ui.preview.querySelectorAll(".actions button[data-action]")) {
    b.addEventListener("click", () => {
      const action = b.dataset.action;
      if (action === "reschedule" || action === "disposition") {
        const form = action === "reschedule" ? ui.rsForm : ui.pdForm;
        const other = action === "reschedule" ? ui.pdForm : ui.rsForm;
        other.hidden = true;
        form.hidden = !form.hidden;
        b.setAttribute("aria-expanded", String(!form.hidden));
        if (!form.hidden) form.querySelector("input, select").focus();
        return;
      }
      previewAction(action, {}, b);
    });
  }
  for (const form of [ui.rsForm, ui.pdForm]) {
    form.querySelector(".cancel").addEventListener("click", () => { form.hidden = true; });
  }

  ui.rsForm.addEventListener("submit", (e) => {
    e.preventDefault();
    const date = $("#rs-date").value;
    const time = $("#rs-time").value;
    const zone = $("#rs-zone").value.trim();
    const missing = !date ? "local_date: choose a date" : !time ? "local_time: choose a time"
      : !zone ? "time_zone: give an IANA time zone, e.g. Europe/Paris" : null;
    if (missing) {
      showError(ui.previewError, missing);
      return;
    }
    const body = { local_date: date, local_time: time, time_zone: zone,
      assignee: $("#rs-assignee").value, notes: $("#rs-notes").value };
    const other = $("#rs-number").value.trim();
    if (other) body.other_number = other;
    previewAction("reschedule", body);
  });

  ui.pdForm.addEventListener("submit", (e) => {
    e.preventDefault();
    if (!ui.pdCode.value) {
      showError(ui.previewError, "code: choose a wrap-up code");
      return;
    }
    previewAction("disposition", { code: ui.pdCode.value, notes: $("#pd-notes").value });
  });

  // Call controls
  ui.hangup.addEventListener("click", () =>
    act(ui.hangup, ui.callError, () => api("POST", base() + "/hangup",
      { attempt_id: session && session.attempt_id })));
  ui.hold.addEventListener("click", () =>
    act(ui.hold, ui.callError, () => api("POST", base() + "/hold", { attempt_id: session.attempt_id })));
  ui.resume.addEventListener("click", () => {
    const path = features.has("POST /api/v1/agents/{agent_id}/resume") ? "/resume" : "/unhold";
    act(ui.resume, ui.callError, () => api("POST", base() + path, { attempt_id: session.attempt_id }));
  });

  /** A call action: POST, then the session is read again (act does) and drawn. */
  function callAction(button, path, body, done) {
    return act(button, ui.callError, async () => {
      const out = await api("POST", base() + path,
        Object.assign({ attempt_id: session && session.attempt_id }, body || {}));
      log(done);
      return out;
    });
  }

  const SIMPLE_ACTIONS = [
    [$("#call-switch"), "/call/switch", "Switched between the customer and the consulted party"],
    [$("#call-cancel-consult"), "/call/cancel-consult", "Consultation cancelled"],
    [$("#call-transfer"), "/transfer", "Transferred: the consulted party has the customer"],
    [$("#call-conference"), "/call/conference", "Conference: everybody together"],
    [$("#call-leave"), "/call/leave", "You left the conference"],
    [$("#call-rec-pause"), "/call/pause-recording", "Recording paused"],
    [$("#call-rec-resume"), "/call/resume-recording", "Recording resumed"],
  ];
  for (const [button, path, done] of SIMPLE_ACTIONS) {
    button.addEventListener("click", () => callAction(button, path, {}, done));
  }

  /** The consult / blind transfer form: whom (kind) and the target. */
  function openXfer(purpose) {
    const form = ui.xferForm;
    if (!form.hidden && form.dataset.purpose === purpose) {
      form.hidden = true;
      renderControl(session, session.call_control || null);
      return;
    }
    form.dataset.purpose = purpose;
    const blind = purpose === "blind_transfer";
    ui.xferTitle.textContent = blind ? "Blind transfer" : "Consult";
    ui.xferSubmit.textContent = blind ? "Transfer now" : "Start consultation";
    form.hidden = false;
    renderControl(session, session.call_control || null);
    ui.xferTarget.focus();
  }
  ui.xferKind.addEventListener("change", () => {
    ui.xferTarget.placeholder = TARGET_HINTS[ui.xferKind.value] || "";
  });
  ui.consult.addEventListener("click", () => openXfer("consult"));
  ui.blind.addEventListener("click", () => openXfer("blind_transfer"));
  ui.xferForm.querySelector(".cancel").addEventListener("click", () => {
    ui.xferForm.hidden = true;
    if (session) renderControl(session, session.call_control || null);
  });
  ui.xferForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const kind = ui.xferKind.value;
    const target = ui.xferTarget.value.trim();
    if (!target && kind !== "queue") {
      showError(ui.callError, "target: enter the " + (kind === "agent" ? "agent id" : kind === "number"
        ? "number" : "entry point") + " to reach");
      ui.xferTarget.focus();
      return;
    }
    const blind = ui.xferForm.dataset.purpose === "blind_transfer";
    const whom = (PARTY_KINDS[kind] || kind) + (target ? " " + target : "");
    const out = await callAction(ui.xferSubmit, blind ? "/transfer" : "/consult", { kind, target },
      blind ? "Blind transfer to " + whom : "Consulting " + whom);
    if (out !== undefined) {
      ui.xferForm.hidden = true;
      ui.xferTarget.value = "";
      if (session) renderControl(session, session.call_control || null);
    }
  });

  /** Keyboard shortcuts on the call (listed on the page): Alt+H hold or resume, Alt+C
   * consult (focus on its target), Alt+T transfer, Alt+X hang up. A disabled control says
   * why instead. Alt+letter is matched on the key's position (e.code), so a keyboard
   * layout where Alt makes another character still works. */
  const SHORTCUTS = {
    KeyH: () => (ui.resume.hidden ? ui.hold : ui.resume),
    KeyC: () => ui.consult,
    KeyT: () => ui.transfer,
    KeyX: () => ui.hangup,
  };
  document.addEventListener("keydown", (e) => {
    if (!e.altKey || e.ctrlKey || e.metaKey || !SHORTCUTS[e.code] || ui.call.hidden) return;
    if (ui.wrapup.open) return;
    const button = SHORTCUTS[e.code]();
    e.preventDefault();
    if (button.hidden || button.disabled) {
      const name = button.textContent.replace("…", "");
      ui.callNote.textContent = name + " is not possible now" + (button.title ? ": " + button.title : "") + ".";
      return;
    }
    if (button === ui.consult) {
      if (ui.xferForm.hidden || ui.xferForm.dataset.purpose !== "consult") openXfer("consult");
      else ui.xferTarget.focus();
      return;
    }
    button.click();
  });

  // One click: the disposition is kept by the server and written when the call ends (no
  // wrap-up), then the call is ended.
  for (const b of [ui.machine, ui.fax]) {
    b.addEventListener("click", () =>
      act([b, ui.hangup], ui.callError, async () => {
        const aid = session && session.attempt_id;
        await api("POST", base() + "/disposition", { attempt_id: aid, code: b.dataset.code });
        ui.callNote.textContent = b.dataset.code + ": recorded, ending the call.";
        log("One-click disposition: " + b.dataset.code);
        await api("POST", base() + "/hangup", { attempt_id: aid });
      }));
  }


  // ------------------------------------------------------- call-associated data

  const CAD_PATH = "/api/v1/agents/{agent_id}/call-data";

  function closeCad() {
    cad = null;
    cadFor = null;
    ui.cad.hidden = true;
    ui.cadFields.replaceChildren();
    ui.cadNote.textContent = "";
    showError(ui.cadError, null);
  }

  /** Read the call's data again (a new call, Revert, a save from elsewhere). */
  async function loadCad(attemptId, note) {
    if (!features.has("GET " + CAD_PATH)) return;
    cadFor = attemptId;
    try {
      const out = await api("GET", base() + "/call-data?attempt_id=" + encodeURIComponent(attemptId));
      if (!session || session.attempt_id !== attemptId) return;
      renderCad(out);
      if (note !== undefined) ui.cadNote.textContent = note;
    } catch (err) {
      if (cadFor !== attemptId) return;
      // Not in the ledger yet (404): read again at the next render of the call.
      if (err.status === 404) closeCad();
      else showError(ui.cad.hidden ? ui.callError : ui.cadError, err);
    }
  }

  /** Who saved a value: {display_name, username} from the server. */
  function byName(by) {
    return by ? by.display_name || by.username || "agent " + by.agent_id : null;
  }

  /** The variables: label, input (read-only unless editable and the call is ours to
   * save), a secure one masked by the server (a password field to type a new value). */
  function renderCad(data) {
    cad = data;
    const vars = (data && data.variables) || [];
    ui.cad.hidden = vars.length === 0;
    showError(ui.cadError, null);
    ui.cadNote.textContent = "";
    const writable = Boolean(data && data.writable);
    ui.cadFields.replaceChildren(...vars.map((v, i) => {
      const id = "cad-" + i;
      const editable = writable && v.editable;
      const shown = v.value ?? "";
      const input = el("input", {
        id, type: v.secure && editable ? "password" : "text", name: v.name, maxlength: 256,
        autocomplete: v.secure ? "new-password" : "off", spellcheck: "false",
        readonly: !editable, dataset: { original: v.secure && editable ? "" : shown },
        placeholder: v.secure && editable ? "type a new value" : null,
      });
      input.value = v.secure && editable ? "" : shown;
      input.addEventListener("input", () => { ui.cadNote.textContent = ""; });
      const saved = v.updated_by ? "saved by " + byName(v.updated_by) : null;
      return el("div", { class: "cad-field", dataset: { name: v.name } },
        el("label", { for: id }, v.label || v.name,
          !editable ? el("span", { class: "hint" }, " (read-only)") : null,
          v.secure ? el("span", { class: "hint" }, " (secure" + (shown ? ": " + shown : "") + ")") : null),
        input,
        saved ? el("span", { class: "hint small cad-by" }, saved) : null);
    }));
    ui.cadSave.disabled = !writable || !vars.some((v) => v.editable);
    ui.cadRevert.disabled = ui.cadSave.disabled;
  }

  /** The edited values: only what the agent changed (an untouched secure field is not sent). */
  function cadChanges() {
    const values = {};
    for (const input of ui.cadFields.querySelectorAll("input:not([readonly])")) {
      if (input.value !== input.dataset.original) values[input.name] = input.value;
    }
    return values;
  }

  ui.cad.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!cad) return;
    const values = cadChanges();
    if (!Object.keys(values).length) {
      ui.cadNote.textContent = "Nothing changed.";
      return;
    }
    ui.cadSave.disabled = true;
    showError(ui.cadError, null);
    try {
      const out = await api("PUT", base() + "/call-data",
        { attempt_id: cad.attempt_id, version: cad.version, values });
      renderCad(out);
      ui.cadNote.textContent = "Saved.";
      log("Call data saved: " + Object.keys(values).join(", "));
    } catch (err) {
      if (err.status === 409 && Array.isArray(err.data.changed)) {
        // The first save wins: say what the other save wrote, then show the values now.
        const what = err.data.changed.map((c) => (c.label || c.name) + " is now " +
          (c.value === "" ? "(empty)" : c.value) + (c.by ? " (by " + byName(c.by) + ")" : "")).join("; ");
        if (err.data.call_data) renderCad(err.data.call_data);
        else await loadCad(cad.attempt_id);
        showError(ui.cadError, "Someone else saved first: " + (what || err.message));
        log("Call data not saved: someone else saved first");
      } else {
        showError(ui.cadError, err);
        ui.cadSave.disabled = false;
      }
    }
  });
  ui.cadRevert.addEventListener("click", () => {
    if (cad) loadCad(cad.attempt_id, "Reverted to the saved values.");
  });

  // Wrap-up
  ui.wrapForm.addEventListener("submit", (e) => {
    e.preventDefault();
    const chosen = ui.wrapForm.querySelector("input[name=wrapup-code]:checked");
    if (!chosen) {
      showError(ui.wrapError, "code: choose a wrap-up code");
      return;
    }
    const aid = session && (session.attempt_id || session.last_attempt_id);
    act($("#wrapup-save"), ui.wrapError, async () => {
      await api("POST", base() + "/disposition",
        { attempt_id: aid, code: chosen.value, notes: ui.wrapNotes.value });
      log("Wrap-up: " + chosen.value);
    });
  });
  // Escape must not hide the wrap-up: the disposition is required (or the countdown ends).
  ui.wrapup.addEventListener("cancel", (e) => e.preventDefault());

  // Time zones for the reschedule form.
  try {
    const zones = Intl.supportedValuesOf ? Intl.supportedValuesOf("timeZone") : [];
    $("#zones").replaceChildren(...zones.map((z) => el("option", { value: z })));
  } catch (_) { /* old browser: free text */ }

  setInterval(tick, 250);
  // A call under control changes without an event of this agent (the consulted party
  // answers, another agent leaves the conference): read it again every 1.5 s meanwhile.
  setInterval(() => { if (me && session && session.call_control) refresh(); }, 1500);
  // A safety net behind the event stream (a missed event, a sleeping laptop).
  setInterval(() => { if (me) refresh(); }, 15000);
})();
