/* LighterWeb dashboard: one websocket per page with reconnect, confirmed CSRF-checked controls,
   and small DOM helpers. Data is written with textContent only, never as HTML. */
"use strict";

window.LW = (function () {
  const BACKOFF_MIN_MS = 500;
  const BACKOFF_MAX_MS = 10000;

  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function row(cells, className) {
    const tr = el("tr", null, className);
    for (const cell of cells) {
      tr.appendChild(cell instanceof Node ? wrap(cell) : el("td", cell === null ? "–" : cell));
    }
    return tr;
  }

  function wrap(node) {
    const td = el("td");
    td.appendChild(node);
    return td;
  }

  function badge(state) {
    return el("span", state, "lw-state lw-state-" + state);
  }

  // The browser's local time with seconds (the zone is the viewer's own).
  const TIME_FORMAT = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
  });

  function time(iso) {
    return iso ? TIME_FORMAT.format(new Date(iso)) : "–";
  }

  /* Figures as text: the server sends exact decimal strings; these only pad or round them to the
     market's decimals for display (Number is used for the rounding of a shown figure, never for
     arithmetic on money) and add the unit. */
  function fixed(value, decimals) {
    if (value === null || value === undefined || value === "") return null;
    const number = Number(value);
    if (!isFinite(number)) return String(value);
    const text = number.toFixed(decimals);
    return /^-0(\.0*)?$/.test(text) ? text.slice(1) : text;
  }

  function unit(text, name) {
    return text === null ? null : text + (name ? " " + name : "");
  }

  function price(value, bot) {
    const decimals = bot && bot.price_decimals !== undefined ? bot.price_decimals : 2;
    return unit(fixed(value, decimals), (bot && bot.quote_unit) || "USDC");
  }

  function size(value, bot) {
    const decimals = bot && bot.size_decimals !== undefined ? bot.size_decimals : 4;
    return unit(fixed(value, decimals), bot && bot.base_unit);
  }

  function money(value, decimals) {
    return unit(fixed(value, decimals === undefined ? 2 : decimals), "USDC");
  }

  /* Returns (README "Returns") into the <dd data-returns="field"> of `list`, with units. */
  function returnsText(field, value) {
    if (value === undefined || value === null) return "–";
    if (field === "round_trips") return String(value);
    if (field === "roi_percent" || field === "apr_percent") return fixed(value, 2) + " %";
    if (field === "days") return fixed(value, 2) + " days";
    if (field === "round_trip_profit_per_day") return money(value, 4) + " / day";
    if (field === "round_trip_avg_profit") return money(value, 4);
    return money(value);
  }

  function renderReturns(list, returns) {
    if (!list) return;
    for (const dd of list.querySelectorAll("[data-returns]")) {
      dd.textContent = returnsText(dd.dataset.returns, returns[dd.dataset.returns]);
    }
  }

  function setConnection(up, text) {
    const node = document.getElementById("lw-conn");
    if (!node) return;
    node.textContent = text;
    node.classList.toggle("lw-conn-up", up);
    node.classList.toggle("lw-conn-down", !up);
    document.body.dataset.live = up ? "up" : "down";
  }

  /* Opens `path`, hands every {kind, data} message to onMessage, reconnects with backoff.
     A fresh snapshot arrives on every (re)connect, so the page never keeps stale state. */
  function connect(path, onMessage) {
    let backoff = BACKOFF_MIN_MS;
    function open() {
      const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
      const socket = new WebSocket(scheme + window.location.host + path);
      socket.onopen = function () {
        backoff = BACKOFF_MIN_MS;
        setConnection(true, "live");
      };
      socket.onmessage = function (message) {
        const payload = JSON.parse(message.data);
        onMessage(payload.kind, payload.data);
        // After the page is updated: lets tests and bench/push_latency.py time a push end to end.
        document.dispatchEvent(new CustomEvent("lw:message", {
          detail: { kind: payload.kind, data: payload.data, renderedAt: Date.now() },
        }));
      };
      socket.onclose = function (event) {
        if (event.code === 4403) {
          setConnection(false, "disconnected: not allowed (log in as staff)");
          return;
        }
        const seconds = Math.round(backoff / 100) / 10;
        setConnection(false, "disconnected: retrying in " + seconds + " s");
        window.setTimeout(open, backoff);
        backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
      };
    }
    open();
  }

  function flash(text, ok) {
    const node = document.getElementById("lw-flash");
    if (!node) return;
    node.textContent = text;
    node.className = "lw-flash " + (ok ? "lw-flash-ok" : "lw-flash-error");
    node.hidden = false;
  }

  /* Control forms: ask for confirmation, then POST (CSRF token from the form) and show the answer
     without leaving the page; the change itself arrives over the websocket. */
  function bindControls() {
    for (const form of document.querySelectorAll("form.lw-control")) {
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        if (!window.confirm(form.dataset.confirm)) return;
        const reload = form.dataset.reload === "1";
        form.querySelector("input[name=confirmed]").value = "1";
        const body = new FormData(form);
        form.querySelector("input[name=confirmed]").value = "";
        fetch(form.action, {
          method: "POST",
          body: body,
          credentials: "same-origin",
          headers: { Accept: "application/json" },
        })
          .then(function (response) {
            return response.json().then(function (answer) {
              flash(answer.detail, response.ok);
              // The admin's page has no live feed: show the bot's new state.
              if (reload && response.ok) window.location.reload();
            });
          })
          .catch(function (error) {
            flash("request failed: " + error, false);
          });
      });
    }
  }

  /* The bot controls' rules and confirmations, as bots/dashboard/actions.py has them; the bot
     page calls this whenever the bot's state or its open orders change. */
  function controlState(action, bot, openOrders) {
    const running = bot.desired_state === "running";
    if (action === "start") return !running || bot.status === "error";
    if (action === "pause") return running;
    if (action === "stop") return !(bot.desired_state === "stopped" && (bot.status === "stopped" || bot.status === "error"));
    if (action === "cancel-all") return openOrders > 0 || running;
    return action === "emergency-stop";
  }

  function controlConfirm(action, bot, openOrders, names) {
    const name = names.bot + " (" + bot.symbol + ")";
    const orders = openOrders + " open order" + (openOrders === 1 ? "" : "s");
    if (action === "start") {
      if (bot.desired_state === "paused") return "Resume " + name + "? It places its grid again around the current price.";
      return "Start " + name + "? Its runner reconciles with the exchange, then places up to " +
        2 * bot.levels_per_side + " orders around the current price.";
    }
    if (action === "pause") {
      return "Pause " + name + "? Its " + orders + " stay on the book and may still fill; it places no new order until you press Start.";
    }
    if (action === "stop") {
      return "Stop " + name + "? Its runner cancels its " + orders + " (verified against the exchange) and stops. The position is kept: close it separately.";
    }
    if (action === "emergency-stop") {
      return "EMERGENCY STOP " + name + "? Stops the bot now and cancels EVERY order of account " + names.account +
        " on " + bot.symbol + ": its " + orders + " and any order it did not place, without waiting for its runner, verified. The position is kept.";
    }
    const paused = running(bot) ? " The bot is left paused: it places nothing until you press Start." : "";
    return "Cancel the " + orders + " of " + name + " (verified)?" + paused + " The position is kept.";
  }

  function running(bot) {
    return bot.desired_state === "running";
  }

  function updateControls(bot, openOrders, names) {
    for (const form of document.querySelectorAll("form.lw-control[data-action]")) {
      const action = form.dataset.action;
      const button = form.querySelector("button");
      button.disabled = !controlState(action, bot, openOrders);
      form.dataset.confirm = controlConfirm(action, bot, openOrders, names);
      button.title = form.dataset.confirm;
    }
  }

  /* At phone width the tables become cards (dashboard.css): each cell shows its column's name,
     taken from the table's header, whenever rows are (re)rendered. */
  function labelCells(table) {
    const names = Array.from(table.querySelectorAll("thead th")).map(function (th) {
      return th.textContent.trim();
    });
    for (const tr of table.querySelectorAll("tbody tr")) {
      Array.from(tr.children).forEach(function (td, i) {
        if (names[i] && !td.dataset.label) td.dataset.label = names[i];
      });
    }
  }

  function labelTables() {
    for (const table of document.querySelectorAll("table.lw-table")) {
      labelCells(table);
      const body = table.querySelector("tbody");
      if (body) new MutationObserver(function () { labelCells(table); }).observe(body, { childList: true });
    }
  }

  document.addEventListener("DOMContentLoaded", bindControls);
  document.addEventListener("DOMContentLoaded", labelTables);

  return {
    el: el, row: row, badge: badge, time: time, connect: connect, flash: flash,
    price: price, size: size, money: money, updateControls: updateControls,
    returnsText: returnsText, renderReturns: renderReturns,
  };
})();
