/* The dashboard's pending callbacks (MISSION F): the open callbacks grouped by Asterisk
 * queue, and by campaign for those of no queue, each with its name, number (masked when
 * the campaign masks), window, attempts, why it waits and its agent. Read again on
 * callback.updated and every 15 s. It shares the dashboard's sign-in and event stream.
 */
"use strict";

(() => {
  const { api, el, $, showError, fmtWindow } = Dialer;

  const STATUS_LABELS = { pending: "Pending", offered: "Offered", dialing: "Dialing" };

  let me = null;
  let reloadTimer = null;
  const ui = { groups: $("#pcb-groups"), empty: $("#pcb-empty"), error: $("#pcb-error"),
    count: $("#pcb-count") };

  function groupOf(cb) {
    if (cb.queue) return "Queue " + cb.queue;
    return "Campaign " + (cb.campaign || "#" + cb.campaign_id);
  }

  function row(cb) {
    const pos = cb.queue_position !== null && cb.queue_position !== undefined
      ? " (place " + cb.queue_position + ")" : "";
    return el("tr", { dataset: { callback: cb.id } },
      el("td", {}, cb.name || "–", pos),
      el("td", { class: "mono" }, cb.e164),
      el("td", {}, fmtWindow(cb)),
      el("td", {}, cb.attempts_made + "/" + cb.max_attempts),
      el("td", {}, STATUS_LABELS[cb.status] || cb.status),
      el("td", { class: "pcb-waiting" }, cb.waiting_reason || "–"),
      el("td", {}, cb.assigned_agent_id ? "Agent " + cb.assigned_agent_id : "Anyone"));
  }

  function table(title, items) {
    const id = "pcb-" + title.toLowerCase().replace(/[^a-z0-9]+/g, "-");
    return el("div", { class: "pcb-group", dataset: { group: title } },
      el("h3", { id }, title, el("span", { class: "muted" }, " · " + items.length)),
      el("table", { class: "table compact", "aria-labelledby": id },
        el("thead", {}, el("tr", {}, ["Name", "Number", "Window", "Attempts", "Status",
          "Waiting", "Agent"].map((h) => el("th", { scope: "col" }, h)))),
        el("tbody", {}, items.map(row))));
  }

  async function load() {
    if (!me) return;
    try {
      const out = await api("GET", "/api/v1/callbacks?status=open&limit=1000");
      const groups = new Map();
      for (const cb of out.callbacks || []) {
        const key = groupOf(cb);
        if (!groups.has(key)) groups.set(key, []);
        groups.get(key).push(cb);
      }
      const keys = [...groups.keys()].sort();
      ui.groups.replaceChildren(...keys.map((k) => table(k, groups.get(k))));
      const n = (out.callbacks || []).length;
      ui.empty.hidden = n > 0;
      ui.count.textContent = n ? n + " open" : "";
      showError(ui.error, null);
    } catch (err) {
      showError(ui.error, err);
    }
  }

  /** A burst of callback.updated events: one read. */
  function soon() {
    clearTimeout(reloadTimer);
    reloadTimer = setTimeout(load, 300);
  }

  document.addEventListener("dialer:signedin", (e) => {
    me = e.detail;
    load();
  });
  document.addEventListener("dialer:signedout", () => {
    me = null;
    ui.groups.replaceChildren();
  });
  document.addEventListener("dialer:event", (e) => {
    const type = (e.detail || {}).type;
    if (type === "callback.updated" || type === "hello") soon();
  });
  setInterval(() => { if (me) load(); }, 15000);
})();
