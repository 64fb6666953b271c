/* Hedge bot page: its figures live over /ws/hedge/<id>/ (both legs, the bot's own positions,
   the net, the state, the events), written with textContent only. */
"use strict";

(function () {
  const page = document.getElementById("hedge-page");
  if (!page) return;

  function text(id, value) {
    const node = document.getElementById(id);
    if (node) node.textContent = value === null || value === undefined || value === "" ? "–" : value;
  }

  function render(data) {
    const status = document.getElementById("bot-status");
    status.textContent = data.status;
    status.className = "lw-state lw-state-" + data.status;
    text("bot-desired", data.desired_state);
    text("hedge-state", data.state === null ? null
      : data.state + (data.state_seconds === null ? "" : " for " + data.state_seconds + " s"));
    text("hedge-own-net", data.own_net_text);
    text("hedge-stop-loss", data.stop_loss_text);
    const net = document.getElementById("hedge-net");
    net.textContent = (data.net_text === null ? "unknown (an account was never checked)" : data.net_text)
      + " (tolerance " + data.tolerance_text + ")";
    net.className = data.net_class;
    document.getElementById("bot-message").textContent = data.status_message || "";
    data.legs.forEach(function (leg, i) {
      text("leg-" + i + "-position", leg.position_text);
      text("leg-" + i + "-own", leg.own_text);
      text("leg-" + i + "-entry", leg.entry_text);
      text("leg-" + i + "-checked", leg.checked_at === null ? "never" : LW.time(leg.checked_at));
    });
    const body = document.getElementById("hedge-events-body");
    body.replaceChildren();
    for (const e of data.events) {
      body.appendChild(LW.row([LW.time(e.created_at), LW.badge(e.level), e.kind, e.message]));
    }
    if (!data.events.length) {
      const none = LW.row(["none yet"]);
      none.firstChild.colSpan = 4;
      body.appendChild(none);
    }
    page.dataset.updates = String(Number(page.dataset.updates || 0) + 1);
  }

  LW.connect("/ws/hedge/" + page.dataset.botId + "/", function (kind, data) {
    if (kind === "hedge") render(data);
  });
})();
