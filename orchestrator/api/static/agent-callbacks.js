/* The agent desktop's callbacks (MISSION F): schedule one, list the campaign's open
 * callbacks (or only the agent's), edit one (the form again, sending only what changed)
 * and delete one (a reason asked). A callback call announces itself: a banner with the
 * name and number, the number shown for 5 seconds only.
 *
 * It shares the desktop's sign-in and event stream (app.js's dialer:* events) and reads
 * the campaign the agent is logged in to from the state panel.
 */
"use strict";

(() => {
  const { api, el, $, showError, fmtWindow, zoneParts } = Dialer;

  /** How long a callback call's number stays on screen (MISSION F). */
  const BANNER_MS = 5000;
  const STATUS_LABELS = { pending: "Pending", offered: "Offered", dialing: "Dialing" };

  let me = null;
  /** The callback being edited and the form's values when it was opened (to send only
   * the changes: a masked number is never sent back). */
  let editing = null;
  let bannerTimer = null;
  let reloadTimer = null;

  const ui = {
    form: $("#cb-form"), title: $("#cb-form-title"), submit: $("#cb-submit"),
    cancel: $("#cb-cancel"), note: $("#cb-note"), error: $("#cb-error"),
    phone: $("#cb-phone"), name: $("#cb-name"), date: $("#cb-date"), start: $("#cb-start"),
    end: $("#cb-end"), zone: $("#cb-zone"), assign: $("#cb-assign"), reason: $("#cb-reason"),
    notes: $("#cb-notes"), onlyMine: $("#cb-only-mine"), list: $("#cb-list"),
    empty: $("#cb-empty"), listError: $("#cb-list-error"), campaign: $("#state-campaign"),
    banner: $("#cb-banner"), bannerName: $("#cb-banner-name"),
    bannerNumber: $("#cb-banner-number"), bannerMeta: $("#cb-banner-meta"),
  };

  function campaign() {
    const name = ui.campaign.textContent.trim();
    return name && name !== "–" ? name : null;
  }

  function browserZone() {
    try {
      return Intl.DateTimeFormat().resolvedOptions().timeZone || "";
    } catch (_) {
      return "";
    }
  }

  /** Tomorrow 10:00-11:00 in the browser's zone: a sensible start to change. */
  function defaults() {
    const d = new Date(Date.now() + 86400000);
    const day = d.getFullYear() + "-" + String(d.getMonth() + 1).padStart(2, "0") + "-" +
      String(d.getDate()).padStart(2, "0");
    return { phone: "", name: "", date: day, start_time: "10:00", end_time: "11:00",
      time_zone: browserZone(), assign_to: "anyone", reason: "", notes: "" };
  }

  const FIELDS = { phone: "phone", name: "name", date: "date", start_time: "start",
    end_time: "end", time_zone: "zone", assign_to: "assign", reason: "reason", notes: "notes" };

  function formValues() {
    const out = {};
    for (const [key, id] of Object.entries(FIELDS)) out[key] = ui[id].value.trim();
    return out;
  }

  function fill(values) {
    for (const [key, id] of Object.entries(FIELDS)) ui[id].value = values[key] || "";
  }

  function resetForm() {
    editing = null;
    fill(defaults());
    ui.title.textContent = "Schedule a callback";
    ui.submit.textContent = "Schedule callback";
    ui.cancel.hidden = true;
  }

  function startEdit(cb) {
    const a = zoneParts(cb.window_start, cb.time_zone);
    const b = zoneParts(cb.window_end, cb.time_zone);
    const values = { phone: cb.e164, name: cb.name || "", date: a.date, start_time: a.time,
      end_time: b.time, time_zone: cb.time_zone,
      assign_to: cb.assigned_agent_id && cb.assigned_agent_id === me.agent_id ? "me" : "anyone",
      reason: cb.reason || "", notes: cb.notes || "" };
    fill(values);
    editing = { id: cb.id, values: formValues(), endDate: b.date !== a.date ? b.date : null };
    ui.title.textContent = "Edit callback " + (cb.name || "#" + cb.id);
    ui.submit.textContent = "Save changes";
    ui.cancel.hidden = false;
    showError(ui.error, null);
    ui.note.textContent = "";
    ui.name.focus();
  }

  // ---------------------------------------------------------------- the list

  function row(cb) {
    const edit = el("button", { type: "button", class: "small", onclick: () => startEdit(cb) }, "Edit");
    const del = el("button", { type: "button", class: "small danger-outline",
      onclick: () => remove(cb, del) }, "Delete");
    return el("tr", { dataset: { callback: cb.id } },
      el("td", {}, cb.name || "–", cb.kind === "personal" ? el("span", { class: "muted" }, " · personal") : null),
      el("td", { class: "mono" }, cb.e164),
      el("td", {}, fmtWindow(cb)),
      el("td", { class: "cb-reason" }, cb.reason || "–"),
      el("td", {}, STATUS_LABELS[cb.status] || cb.status),
      el("td", { class: "cb-waiting" }, cb.waiting_reason || "–"),
      el("td", { class: "actions" }, edit, del));
  }

  async function load() {
    if (!me || !campaign()) return;
    const q = new URLSearchParams({ status: "open", campaign: campaign() });
    if (ui.onlyMine.checked) q.set("mine", "1");
    try {
      const out = await api("GET", "/api/v1/callbacks?" + q);
      const items = out.callbacks || [];
      ui.list.replaceChildren(...items.map(row));
      ui.empty.hidden = items.length > 0;
      showError(ui.listError, null);
    } catch (err) {
      showError(ui.listError, err);
    }
  }

  /** Events come in bursts (one per callback touched): one read for a burst. */
  function soon() {
    clearTimeout(reloadTimer);
    reloadTimer = setTimeout(load, 300);
  }

  async function remove(cb, button) {
    const why = window.prompt("Why delete the callback of " + (cb.name || cb.e164) + "?", "");
    if (why === null) return;
    button.disabled = true;
    showError(ui.listError, null);
    try {
      const q = why.trim() ? "?" + new URLSearchParams({ reason: why.trim() }) : "";
      await api("DELETE", "/api/v1/callbacks/" + cb.id + q);
      if (editing && editing.id === cb.id) resetForm();
      ui.note.textContent = "Callback of " + (cb.name || cb.e164) + " deleted.";
      await load();
    } catch (err) {
      showError(ui.listError, err);
    } finally {
      button.disabled = false;
    }
  }

  // ---------------------------------------------------------------- the form

  function changes() {
    const now = formValues();
    const out = {};
    for (const [key, value] of Object.entries(now)) {
      if (value !== editing.values[key]) out[key] = value;
    }
    // A window's part changed: send the whole window (its day may need the end's day).
    if (["date", "start_time", "end_time", "time_zone"].some((k) => k in out)) {
      Object.assign(out, { date: now.date, start_time: now.start_time, end_time: now.end_time,
        time_zone: now.time_zone });
      if (editing.endDate && now.date === editing.values.date) out.end_date = editing.endDate;
    }
    return out;
  }

  function createBody() {
    const v = formValues();
    const body = { ...v, campaign: campaign() };
    for (const key of ["reason", "notes"]) if (!body[key]) delete body[key];
    return body;
  }

  ui.form.addEventListener("submit", async (e) => {
    e.preventDefault();
    showError(ui.error, null);
    ui.note.textContent = "";
    if (!editing && !campaign()) {
      showError(ui.error, "campaign: log in to a campaign first");
      return;
    }
    ui.submit.disabled = true;
    try {
      if (editing) {
        const body = changes();
        if (!Object.keys(body).length) {
          ui.note.textContent = "Nothing changed.";
          return;
        }
        const cb = await api("PATCH", "/api/v1/callbacks/" + editing.id, body);
        ui.note.textContent = "Callback of " + (cb.name || cb.e164) + " saved.";
      } else {
        const cb = await api("POST", "/api/v1/callbacks", createBody());
        ui.note.textContent = "Callback of " + (cb.name || cb.e164) + " scheduled for " +
          fmtWindow(cb) + ".";
      }
      resetForm();
      await load();
    } catch (err) {
      showError(ui.error, err);
      const id = err.field && FIELDS[err.field];
      if (id) ui[id].focus();
    } finally {
      ui.submit.disabled = false;
    }
  });
  ui.cancel.addEventListener("click", () => {
    resetForm();
    showError(ui.error, null);
  });
  ui.onlyMine.addEventListener("change", load);

  // ------------------------------------------------------------ announcement

  function announce(d) {
    ui.bannerName.textContent = d.name || "(no name)";
    ui.bannerNumber.textContent = d.number || "";
    ui.bannerNumber.hidden = false;
    const meta = [d.personal ? "personal" : d.kind, d.reason,
      d.attempt ? "attempt " + d.attempt + "/" + d.max_attempts : null].filter(Boolean);
    ui.bannerMeta.textContent = meta.length ? "· " + meta.join(" · ") : "";
    ui.banner.hidden = false;
    clearTimeout(bannerTimer);
    // The number is shown for 5 seconds, then the whole announcement goes.
    bannerTimer = setTimeout(() => {
      ui.bannerNumber.textContent = "";
      ui.bannerNumber.hidden = true;
      ui.banner.hidden = true;
    }, BANNER_MS);
  }

  // ------------------------------------------------------------------ wiring

  document.addEventListener("dialer:signedin", (e) => {
    me = e.detail;
    resetForm();
    load();
  });
  document.addEventListener("dialer:signedout", () => {
    me = null;
    ui.list.replaceChildren();
    ui.banner.hidden = true;
  });
  document.addEventListener("dialer:event", (e) => {
    const ev = e.detail || {};
    if (ev.type === "callback.call" && (ev.agent_id === undefined || !me || ev.agent_id === me.agent_id)) {
      announce(ev.data || {});
      soon();
    } else if (ev.type === "callback.updated" || ev.type === "hello") {
      soon();
    }
  });
  // The campaign shown changes on login: list its callbacks.
  new MutationObserver(soon).observe(ui.campaign, { childList: true, characterData: true, subtree: true });
  setInterval(() => { if (me) load(); }, 15000);
})();
