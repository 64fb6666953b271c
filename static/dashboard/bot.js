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
  const chart = LightweightCharts.createChart(document.getElementById("chart"), {
    autoSize: true, // follows the container (dashboard.css), down to phone width
    timeScale: { timeVisible: true, secondsVisible: true },
  });
  const priceSeries = chart.addSeries(LightweightCharts.LineSeries, {
    lineWidth: 2,
    // Keep the whole grid window in view, not only the prices seen so far.
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
  let markerList = [];
  let levelLines = [];
  let lastPointTime = 0;

  function epoch(iso) {
    return iso ? Math.floor(new Date(iso).getTime() / 1000) : Math.floor(Date.now() / 1000);
  }

  function addPrice(price, iso) {
    if (price === null || price === undefined) return;
    // The series needs ascending times; a point in the same second replaces the last one.
    const t = Math.max(epoch(iso), lastPointTime);
    lastPointTime = t;
    priceSeries.update({ time: t, value: Number(price) });
  }

  function addMarker(marker) {
    markerList.push(marker);
    markerList.sort(function (a, b) { return a.time - b.time; });
    markerList = markerList.slice(-300);
    markers.setMarkers(markerList);
  }

  function fillMarker(fill) {
    const buy = fill.side === "buy";
    return {
      time: Math.min(epoch(fill.executed_at), lastPointTime || epoch(fill.executed_at)),
      position: buy ? "belowBar" : "aboveBar",
      color: buy ? "#2e7d32" : "#c62828",
      shape: buy ? "arrowUp" : "arrowDown",
      text: fill.side + " " + LW.size(fill.size_base, current) + " @ " + LW.price(fill.price, current),
    };
  }

  function rollMarker(event) {
    return {
      time: Math.min(epoch(event.created_at), lastPointTime || epoch(event.created_at)),
      position: "inBar", color: "#1565c0", shape: "circle", text: event.kind,
    };
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
  }

  function renderBot(bot) {
    const status = document.getElementById("bot-status");
    status.textContent = bot.status;
    status.className = "lw-state lw-state-" + bot.status;
    document.getElementById("bot-desired").textContent = bot.desired_state;
    document.getElementById("bot-last-price").textContent = LW.price(bot.last_price, bot) || "–";
    renderCentre();
    document.getElementById("bot-message").textContent = bot.status_message || "";
    updateControls();
    if (bot.pnl) renderPnl(bot.pnl);
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

  function isRoll(event) {
    return event.kind.indexOf("roll") >= 0 || event.kind.indexOf("recentre") >= 0;
  }

  function onSnapshot(data) {
    orders.clear();
    for (const o of data.orders) orders.set(o.id, o);
    fills = data.fills.slice(0, MAX_FILLS);
    events = data.events.slice(0, MAX_EVENTS);
    ladder = data.ladder;
    const bot = Object.assign({}, data.bot, { pnl: data.pnl || null });
    current = bot;
    markerList = [];
    // Fills are the price history we have on arrival; the live feed continues from there.
    for (const f of fills.slice().reverse()) addPrice(f.price, f.executed_at);
    addPrice(bot.last_price, null);
    for (const f of fills) addMarker(fillMarker(f));
    for (const e of events) if (isRoll(e)) addMarker(rollMarker(e));
    renderBot(bot);
    renderLadder();
    renderOrders();
    renderFills();
    renderEvents();
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
    } else if (kind === "fill") {
      if (!fills.some(function (f) { return f.id === data.id; })) {
        fills.unshift(data);
        fills = fills.slice(0, MAX_FILLS);
        addPrice(data.price, data.executed_at);
        addMarker(fillMarker(data));
        renderFills();
      }
    } else if (kind === "event") {
      events.unshift(data);
      if (events.length > MAX_EVENTS) events.pop();
      if (isRoll(data)) addMarker(rollMarker(data));
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
  LW.connect(page.dataset.wsPath, onMessage);
})();
