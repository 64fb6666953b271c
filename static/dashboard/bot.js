/* Bot page: ladder, open orders, fills, PnL, price chart and the live event log. */
"use strict";

(function () {
  const page = document.getElementById("lw-page");
  // Active statuses, as bots/strategies/orders.py defines them.
  const LIVE = new Set(["intent", "pending", "open", "partially_filled", "unknown"]);
  const LEVELS = { debug: 0, info: 1, warning: 2, error: 3 };
  const MAX_FILLS = 100;
  const MAX_EVENTS = 500;
  const EVENTS_PER_PAGE = 25;
  let eventPage = 0;
  const orders = new Map();
  let fills = [];
  let events = [];
  let ladder = [];
  // The bot as last pushed (a `bot` push may carry only the fields that changed).
  let current = {};

  // Chart: numbers are for drawing only; every figure shown as text stays the exact string.
  // Candles come from the exchange's candlesticks (GET /api/bots/<id>/candles, cached on the
  // server) on load, on a resolution switch and every REFRESH_MS; between reads the last candle
  // follows the live price pushes (the runner's mark / last price).
  const RESOLUTION_S = { "1m": 60, "5m": 300, "15m": 900, "1h": 3600 };
  const REFRESH_MS = 60000;
  let resolution = "1m";
  let candles = [];
  const chart = LightweightCharts.createChart(document.getElementById("chart"), {
    autoSize: true, // follows the container (dashboard.css), down to phone width
    timeScale: { timeVisible: true, secondsVisible: false, rightOffset: 6, barSpacing: 8 },
    rightPriceScale: { scaleMargins: { top: 0.1, bottom: 0.1 } },
  });
  const priceSeries = chart.addSeries(LightweightCharts.CandlestickSeries, {
    upColor: "#2e7d32", downColor: "#c62828", borderVisible: false,
    wickUpColor: "#2e7d32", wickDownColor: "#c62828",
    // Keep the grid's inner levels in view with the candles, not only the prices traded.
    autoscaleInfoProvider: function (original) {
      const range = original();
      const prices = ladder.map(function (level) { return Number(level.price); });
      if (prices.length === 0) return range;
      let low = Math.min.apply(null, prices);
      let high = Math.max.apply(null, prices);
      if (range && range.priceRange) {
        low = Math.min(low, range.priceRange.minValue);
        high = Math.max(high, range.priceRange.maxValue);
      }
      return { priceRange: { minValue: low, maxValue: high } };
    },
  });
  const markers = LightweightCharts.createSeriesMarkers(priceSeries, []);
  let levelLines = [];

  function epoch(iso) {
    return iso ? Math.floor(new Date(iso).getTime() / 1000) : Math.floor(Date.now() / 1000);
  }

  function bucket(seconds) {
    const step = RESOLUTION_S[resolution];
    return seconds - (seconds % step);
  }

  // A price seen live: moves the last candle, or opens the next one.
  function addPrice(price, iso) {
    if (price === null || price === undefined) return;
    const value = Number(price);
    const t = bucket(epoch(iso));
    const last = candles[candles.length - 1];
    if (last && t < last.time) return; // older than what is drawn: the next read has it
    if (last && t === last.time) {
      last.high = Math.max(last.high, value);
      last.low = Math.min(last.low, value);
      last.close = value;
      priceSeries.update(last);
    } else {
      const open = last ? last.close : value;
      const candle = { time: t, open: open, high: Math.max(open, value), low: Math.min(open, value), close: value };
      candles.push(candle);
      priceSeries.update(candle);
    }
    page.dataset.candles = candles.length;
    drawMarkers();
  }

  // Fills (arrows) and resting orders (circles at their price), on the candle of their time.
  // Only the newest fills carry a price label: after an hour of trading, labels on every fill
  // overlapped into an unreadable band (the fills table has every price).
  const LABELLED_FILLS = 6;
  function drawMarkers() {
    if (candles.length === 0) return;
    const first = candles[0].time;
    const lastTime = candles[candles.length - 1].time;
    const list = [];
    fills.forEach(function (f, newest) { // newest first
      const t = Math.min(bucket(epoch(f.executed_at)), lastTime);
      if (t < first) return;
      const buy = f.side === "buy";
      const marker = {
        time: t, position: buy ? "belowBar" : "aboveBar",
        color: buy ? "#2e7d32" : "#c62828", shape: buy ? "arrowUp" : "arrowDown",
      };
      if (newest < LABELLED_FILLS) marker.text = (buy ? "B " : "S ") + LW.price(f.price, current);
      list.push(marker);
    });
    for (const o of orders.values()) {
      const t = Math.max(first, Math.min(bucket(epoch(o.created_at)), lastTime));
      list.push({
        time: t, position: "atPriceMiddle", price: Number(o.price), shape: "circle",
        color: o.side === "buy" ? "rgba(46,125,50,0.8)" : "rgba(198,40,40,0.8)", size: 0.6,
      });
    }
    list.sort(function (a, b) { return a.time - b.time; });
    markers.setMarkers(list.slice(-400));
    page.dataset.markers = list.length;
    drawRoundTrips(first, lastTime);
  }

  // Round trips: a dashed line from the fill that opened one to the fill that closed it. The
  // pairing is the accounting core's (bots/strategies/accounting.py `round_trip_of`), stored
  // on each fill as `round_trip_id` (the opening fill's trade id); nothing is paired here.
  const MAX_ROUND_TRIP_LINKS = 30;
  let roundTripLines = [];
  let roundTripKey = "";
  function drawRoundTrips(first, lastTime) {
    const byTrade = new Map(fills.map(function (f) { return [f.trade_id, f]; }));
    const links = [];
    for (const close of fills) { // newest first
      if (links.length >= MAX_ROUND_TRIP_LINKS) break;
      if (close.round_trip_id === null || close.round_trip_id === undefined || close.round_trip_id === close.trade_id) continue;
      const open = byTrade.get(close.round_trip_id);
      if (!open) continue;
      const t0 = Math.min(bucket(epoch(open.executed_at)), lastTime);
      const t1 = Math.min(bucket(epoch(close.executed_at)), lastTime);
      if (t0 < first || t1 <= t0) continue; // off the chart, or both on one candle
      const buy = open.side === "buy" ? open : close;
      const sell = open.side === "buy" ? close : open;
      links.push({ t0: t0, p0: Number(open.price), t1: t1, p1: Number(close.price), won: Number(sell.price) > Number(buy.price), close: close.trade_id, open: open.trade_id });
    }
    const key = JSON.stringify(links);
    if (key === roundTripKey) return;
    roundTripKey = key;
    for (const line of roundTripLines) chart.removeSeries(line);
    roundTripLines = links.map(function (link) {
      const line = chart.addSeries(LightweightCharts.LineSeries, {
        color: link.won ? "rgba(46,125,50,0.7)" : "rgba(198,40,40,0.7)", lineWidth: 1,
        lineStyle: LightweightCharts.LineStyle.Dashed, lastValueVisible: false,
        priceLineVisible: false, crosshairMarkerVisible: false,
        title: "",
      });
      line.setData([{ time: link.t0, value: link.p0 }, { time: link.t1, value: link.p1 }]);
      return line;
    });
    // For tests and curious readers: "open>close" trade ids of the links drawn.
    page.dataset.roundTripLinks = links.map(function (link) { return link.open + ">" + link.close; }).join(" ");
  }

  function loadCandles(fit) {
    const url = "/api/bots/" + page.dataset.botId + "/candles?resolution=" + resolution;
    const asked = resolution;
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        return response.json().then(function (body) {
          if (asked !== resolution) return;
          if (!response.ok) {
            document.getElementById("chart-note").textContent = "candles unavailable: " + body.detail;
            return;
          }
          const live = candles.length ? candles[candles.length - 1] : null;
          candles = body.candles.map(function (c) {
            return { time: c.time, open: Number(c.open), high: Number(c.high), low: Number(c.low), close: Number(c.close) };
          });
          // A live candle newer than the venue's last one stays drawn.
          if (live && (!candles.length || live.time > candles[candles.length - 1].time)) candles.push(live);
          priceSeries.setData(candles);
          if (candles.length === 0 && current.last_price) addPrice(current.last_price, null);
          document.getElementById("chart-note").textContent = candles.length
            ? "" : "no trades on this market in the last 300 candles";
          page.dataset.candles = candles.length;
          page.dataset.resolution = asked;
          drawMarkers();
          if (fit) chart.timeScale().setVisibleLogicalRange({ from: Math.max(0, candles.length - 120), to: candles.length + 6 });
        });
      })
      .catch(function (error) {
        document.getElementById("chart-note").textContent = "candles unavailable: " + error;
      });
  }

  document.getElementById("chart-resolution").addEventListener("change", function (event) {
    resolution = event.target.value;
    candles = [];
    priceSeries.setData([]);
    loadCandles(true);
  });

  // PnL over time: the bot's stored snapshots (one a minute while it runs), re-read every minute.
  const pnlChart = LightweightCharts.createChart(document.getElementById("pnl-chart"), {
    autoSize: true,
    timeScale: { timeVisible: true, secondsVisible: false, rightOffset: 4 },
  });
  const totalSeries = pnlChart.addSeries(LightweightCharts.LineSeries, { lineWidth: 2, color: "#1565c0", title: "total" });
  const realizedSeries = pnlChart.addSeries(LightweightCharts.LineSeries, { lineWidth: 1, color: "#6a1b9a", title: "realized" });

  function loadPnlHistory() {
    return fetch("/api/bots/" + page.dataset.botId + "/pnl-history", { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : []; })
      .then(function (points) {
        totalSeries.setData(points.map(function (p) { return { time: epoch(p.time), value: Number(p.total) }; }));
        realizedSeries.setData(points.map(function (p) { return { time: epoch(p.time), value: Number(p.realized) }; }));
        if (points.length) pnlChart.timeScale().fitContent();
        document.getElementById("pnl-chart-note").textContent = points.length
          ? "" : "no snapshots yet: one is taken every minute while the bot runs";
        page.dataset.pnlPoints = points.length;
      })
      .catch(function () { /* the next refresh tries again */ });
  }

  function drawLevels() {
    for (const line of levelLines) priceSeries.removePriceLine(line);
    levelLines = ladder
      .filter(function (level) { return level.side !== "centre"; })
      .map(function (level) {
        return priceSeries.createPriceLine({
          price: Number(level.price),
          color: level.side === "buy" ? "rgba(46,125,50,0.55)" : "rgba(198,40,40,0.55)",
          lineWidth: 1,
          lineStyle: level.state === "missing" ? LightweightCharts.LineStyle.Dotted : LightweightCharts.LineStyle.Dashed,
          axisLabelVisible: false,
          title: "",
        });
      });
    page.dataset.levelLines = levelLines.length;
  }

  function renderBot(bot) {
    const status = document.getElementById("bot-status");
    status.textContent = bot.status;
    status.className = "lw-state lw-state-" + bot.status;
    document.getElementById("bot-desired").textContent = bot.desired_state;
    document.getElementById("bot-last-price").textContent = LW.price(bot.last_price, bot) || "–";
    renderCentre();
    document.getElementById("bot-exits").textContent = exitsText(bot);
    document.getElementById("bot-message").textContent = bot.status_message || "";
    updateControls();
    if (bot.pnl) renderPnl(bot.pnl);
  }

  function exitsText(bot) {
    const parts = [];
    if (bot.stop_loss_price) parts.push("stop-loss " + LW.price(bot.stop_loss_price, bot));
    if (bot.take_profit_price) parts.push("take-profit " + LW.price(bot.take_profit_price, bot));
    if (parts.length === 0) return "none";
    return parts.join(" · ") + (bot.flatten_on_stop ? " (then flatten)" : " (position kept)");
  }

  // The centre is a price (the empty level between the buys and the sells), taken from the
  // ladder, which follows every roll; the lattice index is in the tooltip.
  function renderCentre() {
    const node = document.getElementById("bot-centre");
    const centre = ladder.find(function (level) { return level.side === "centre"; });
    const price = centre ? centre.price : current.centre_price;
    node.textContent = LW.price(price, current) || "–";
    node.title = centre ? "level " + centre.level_index + " of the lattice" : "";
  }

  function pnlText(field, value) {
    if (value === undefined || value === null) return "–";
    if (field === "position_base") return LW.size(value, current);
    if (field === "round_trips") return value;
    return LW.money(value);
  }

  function updateControls() {
    if (current.desired_state === undefined) return;
    LW.updateControls(current, orders.size, { bot: page.dataset.botName, account: page.dataset.accountName });
  }

  function renderPnl(pnl) {
    for (const dd of document.querySelectorAll("#pnl [data-pnl]")) {
      dd.textContent = pnlText(dd.dataset.pnl, pnl[dd.dataset.pnl]);
    }
    // The runner's price pushes carry no returns (null): the last ones stay until a refresh.
    if (pnl.returns) LW.renderReturns(document.getElementById("returns"), pnl.returns);
  }

  function renderLadder() {
    const body = document.getElementById("ladder");
    body.replaceChildren();
    for (const level of ladder) {
      const tr = LW.row([level.level_index, LW.price(level.price, current), level.side, LW.badge(level.state), level.reason], "lw-level-" + level.side);
      tr.dataset.level = level.level_index;
      body.appendChild(tr);
    }
    drawLevels();
    renderCentre();
  }

  function renderOrders() {
    const body = document.getElementById("orders");
    body.replaceChildren();
    const sorted = Array.from(orders.values()).sort(function (a, b) { return Number(b.price) - Number(a.price); });
    for (const o of sorted) {
      const tr = LW.row([o.level_index, o.side, LW.price(o.price, current), LW.size(o.size_base, current), LW.size(o.filled_base, current), LW.badge(o.status), o.client_order_index], "lw-order lw-side-" + o.side);
      tr.dataset.orderId = o.id;
      body.appendChild(tr);
    }
    document.getElementById("bot-open-orders").textContent = orders.size;
    page.dataset.openOrders = orders.size;
    updateControls();
  }

  function renderFills() {
    const body = document.getElementById("fills");
    body.replaceChildren();
    for (const f of fills) {
      const tr = LW.row([LW.time(f.executed_at), f.side, LW.price(f.price, current), LW.size(f.size_base, current), LW.money(f.fee, 6), f.is_maker ? "maker" : "taker", f.trade_id], "lw-fill");
      tr.dataset.fillId = f.id;
      body.appendChild(tr);
    }
    page.dataset.fills = fills.length;
  }

  function eventShown(e) {
    const min = LEVELS[document.getElementById("event-level").value];
    const needle = document.getElementById("event-search").value.trim().toLowerCase();
    if (LEVELS[e.level] < min) return false;
    return !needle || (e.kind + " " + e.message).toLowerCase().indexOf(needle) >= 0;
  }

  function eventRow(e) {
    return LW.row([LW.time(e.created_at), LW.badge(e.level), e.kind, e.message], "lw-event");
  }

  // The event log shows one page of EVENTS_PER_PAGE rows (newest first), so the page stays short
  // and a push rebuilds at most that many rows.
  function renderEvents() {
    const shown = events.filter(eventShown);
    const pages = Math.max(1, Math.ceil(shown.length / EVENTS_PER_PAGE));
    eventPage = Math.min(eventPage, pages - 1);
    const first = eventPage * EVENTS_PER_PAGE;
    const body = document.getElementById("events");
    body.replaceChildren();
    for (const e of shown.slice(first, first + EVENTS_PER_PAGE)) body.appendChild(eventRow(e));
    document.getElementById("events-page").textContent = shown.length
      ? (first + 1) + "-" + Math.min(first + EVENTS_PER_PAGE, shown.length) + " of " + shown.length
      : "none";
    document.getElementById("events-newer").disabled = eventPage === 0;
    document.getElementById("events-older").disabled = eventPage >= pages - 1;
  }

  // A live event shows at once on the first page; on an older page the rows stay where they are.
  function prependEvent(e) {
    if (eventShown(e) && eventPage === 0) renderEvents();
  }


  function onSnapshot(data) {
    orders.clear();
    for (const o of data.orders) orders.set(o.id, o);
    fills = data.fills.slice(0, MAX_FILLS);
    events = data.events.slice(0, MAX_EVENTS);
    ladder = data.ladder;
    const bot = Object.assign({}, data.bot, { pnl: data.pnl || null });
    current = bot;
    addPrice(bot.last_price, null);
    renderBot(bot);
    renderLadder();
    renderOrders();
    renderFills();
    renderEvents();
    drawMarkers();
  }

  function onMessage(kind, data) {
    if (kind === "snapshot") {
      onSnapshot(data);
    } else if (kind === "bot") {
      // A runner's push carries only the fields it changed (centre, price): merge it.
      current = Object.assign({}, current, data);
      renderBot(current);
      if (data.last_price !== undefined) addPrice(data.last_price, null);
    } else if (kind === "order") {
      if (LIVE.has(data.status)) orders.set(data.id, data);
      else orders.delete(data.id);
      renderOrders();
      drawMarkers();
    } else if (kind === "fill") {
      if (!fills.some(function (f) { return f.id === data.id; })) {
        fills.unshift(data);
        fills = fills.slice(0, MAX_FILLS);
        addPrice(data.price, data.executed_at);
        renderFills();
      }
    } else if (kind === "event") {
      events.unshift(data);
      if (events.length > MAX_EVENTS) events.pop();
      prependEvent(data);
    } else if (kind === "ladder") {
      ladder = data;
      renderLadder();
    } else if (kind === "pnl") {
      renderPnl(data);
    }
  }

  function filterEvents() {
    eventPage = 0;
    renderEvents();
  }

  document.getElementById("event-level").addEventListener("change", filterEvents);
  document.getElementById("event-search").addEventListener("input", filterEvents);
  document.getElementById("events-newer").addEventListener("click", function () {
    eventPage = Math.max(0, eventPage - 1);
    renderEvents();
  });
  document.getElementById("events-older").addEventListener("click", function () {
    eventPage += 1;
    renderEvents();
  });
  // The chart reads start once the live feed's snapshot is in (or after a few seconds without
  // it): the web process serves its sync views and the websocket's reads on one thread, so a
  // venue read must not hold up the page's live state.
  let chartsStarted = false;
  function startCharts() {
    if (chartsStarted) return;
    chartsStarted = true;
    loadCandles(true);
    loadPnlHistory();
    window.setInterval(function () { loadCandles(false); }, REFRESH_MS);
    window.setInterval(loadPnlHistory, REFRESH_MS);
  }
  LW.connect(page.dataset.wsPath, function (kind, data) {
    onMessage(kind, data);
    if (kind === "snapshot") startCharts();
  });
  window.setTimeout(startCharts, 3000);
})();
