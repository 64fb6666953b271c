/* Overview: every account and bot, from the snapshot and then live pushes merged by id. */
"use strict";

(function () {
  const page = document.getElementById("lw-page");
  const bots = new Map();
  const accounts = new Map();

  function botUrl(id) {
    return page.dataset.botUrl.replace(/0\/$/, id + "/");
  }

  function pnl(bot, field) {
    return bot.pnl ? LW.money(bot.pnl[field]) : null;
  }

  // A figure of the returns (README "Returns") of a bot's PnL or an account's summary.
  function ret(holder, field) {
    return holder && holder.returns ? LW.returnsText(field, holder.returns[field]) : null;
  }

  function renderBots() {
    const body = document.getElementById("bots");
    body.replaceChildren();
    for (const bot of bots.values()) {
      const link = LW.el("a", bot.name);
      link.href = botUrl(bot.id);
      const tr = LW.row([
        link, bot.symbol, LW.badge(bot.status), LW.el("span", bot.desired_state, "lw-word"), LW.price(bot.last_price, bot),
        LW.price(bot.centre_price, bot), bot.open_orders === undefined ? null : bot.open_orders,
        pnl(bot, "total"), pnl(bot, "grid_profit"), pnl(bot, "unrealized"), pnl(bot, "fees"),
        pnl(bot, "funding"), ret(bot.pnl, "roi_percent"), ret(bot.pnl, "apr_percent"),
        // Why a bot is not simply running: its error, what it waits for, a stop's reason.
        bot.status === "running" ? "" : bot.status_message,
      ]);
      tr.dataset.botId = bot.id;
      body.appendChild(tr);
    }
  }

  function positions(row) {
    // The account's last read (every 2 minutes while bots run): said, as it lags the bots.
    if (!row.balances_at) return "not read yet";
    const asOf = " · as of " + LW.time(row.balances_at);
    if (!row.positions || row.positions.length === 0) return "none" + asOf;
    // Who owns each position: the bots' own and the unattributed rest (bots.ownership).
    const unattributed = {};
    for (const m of row.ownership || []) {
      if (m.unattributed !== null && m.unattributed !== undefined && Number(m.unattributed) !== 0) {
        unattributed[m.symbol] = m.unattributed;
      }
    }
    return row.positions
      .map(function (p) {
        const upnl = p.unrealized_pnl === null || p.unrealized_pnl === undefined ? "" : " (PnL " + LW.money(p.unrealized_pnl) + ")";
        const rest = p.symbol in unattributed ? " [unattributed " + unattributed[p.symbol] + "]" : "";
        return p.symbol + " " + p.side + " " + p.size_base + upnl + rest;
      })
      .join(", ") + asOf;
  }

  function deadMansSwitch(row) {
    if (!row.dead_mans_switch_enabled) return "off";
    const until = row.account.dead_mans_switch_armed_until;
    return until ? "armed until " + LW.time(until) : "on (not armed)";
  }

  function renderAccounts() {
    const body = document.getElementById("accounts");
    body.replaceChildren();
    for (const row of accounts.values()) {
      const a = row.account;
      const budget = row.budget ? row.budget.used + " / " + row.budget.limit : null;
      const tr = LW.row([
        a.name, a.network, LW.money(row.equity), LW.money(row.available_balance), positions(row),
        ret(row, "capital"), ret(row, "roi_percent"), ret(row, "apr_percent"), ret(row, "max_drawdown"),
        budget, deadMansSwitch(row), a.last_error,
      ]);
      tr.dataset.accountId = a.id;
      body.appendChild(tr);
    }
  }

  // A hedge bot's row (rendered by the server) follows its status, desired state, the core's
  // state and the net: a stop, start or emergency stop shows without a reload.
  function renderHedge(data) {
    const row = document.getElementById("hedge-row-" + data.id);
    if (!row) return;
    const status = row.querySelector(".hedge-status");
    status.textContent = data.status;
    status.className = "lw-state lw-state-" + data.status + " hedge-status";
    row.querySelector(".hedge-desired").textContent = data.desired_state;
    row.querySelector(".hedge-core-state").textContent = data.state || "–";
    const net = row.querySelector(".hedge-net");
    net.textContent = data.net_base === null ? "–" : data.net_base;
    net.className = "hedge-net " + data.net_class;
  }

  function merge(map, id, data) {
    map.set(id, Object.assign({}, map.get(id) || {}, data));
  }

  function onMessage(kind, data) {
    if (kind === "snapshot") {
      bots.clear();
      accounts.clear();
      for (const bot of data.bots) bots.set(bot.id, bot);
      for (const row of data.accounts) accounts.set(row.account.id, row);
    } else if (kind === "bot" || kind === "bot_summary") {
      // A runner's price push carries the PnL without returns: keep the last returns.
      const before = bots.get(data.id);
      if (data.pnl && !data.pnl.returns && before && before.pnl && before.pnl.returns) {
        data = Object.assign({}, data, { pnl: Object.assign({}, data.pnl, { returns: before.pnl.returns }) });
      }
      merge(bots, data.id, data);
    } else if (kind === "account") {
      merge(accounts, data.account.id, { account: data.account });
    } else if (kind === "account_summary") {
      accounts.set(data.account.id, data);
    } else if (kind === "hedge_summary") {
      renderHedge(data);
      return;
    } else {
      return;
    }
    renderBots();
    renderAccounts();
  }

  LW.connect(page.dataset.wsPath, onMessage);
})();
