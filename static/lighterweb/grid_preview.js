// The grid bot form's preview panel: posts the form's fields to POST /api/bots/preview and shows
// the answer; a refused grid puts each reason next to its field. Text only (no innerHTML).
(function () {
  "use strict";
  const panel = document.getElementById("lw-grid-preview");
  if (!panel) return;
  const form = panel.closest("form");
  const result = document.getElementById("lw-preview-result");
  const priceInput = document.getElementById("lw-preview-price");
  const FIELDS = [
    "spacing_mode", "step", "levels_per_side", "size_mode", "size", "post_only",
    "max_open_orders", "max_position_notional", "leverage", "margin_mode",
    "stop_loss_price", "take_profit_price", "flatten_on_stop",
  ];
  const OPTIONAL = new Set(["stop_loss_price", "take_profit_price"]);
  let timer = null;
  let sequence = 0;

  function field(name) {
    return form.querySelector('[name="' + name + '"]');
  }

  function value(name) {
    const el = field(name);
    if (!el) return undefined;
    if (el.type === "checkbox") return el.checked;
    return el.value.trim();
  }

  // A bot that exists keeps its account and market (read-only on its page): the panel has them.
  function account() {
    return value("account") || panel.dataset.accountId;
  }

  function market() {
    return value("market") || panel.dataset.marketId;
  }

  function body() {
    const out = {};
    const account_id = account();
    const market_id = market();
    if (account_id) out.account_id = account_id;
    if (market_id) out.market_id = market_id;
    if (panel.dataset.botId) out.bot_id = panel.dataset.botId;
    if (priceInput.value.trim()) out.price = priceInput.value.trim();
    for (const name of FIELDS) {
      const v = value(name);
      if (v === undefined) continue;
      if (v === "") {
        if (OPTIONAL.has(name)) out[name] = null;
        continue;
      }
      out[name] = v;
    }
    return out;
  }

  function el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = text;
    if (cls) node.className = cls;
    return node;
  }

  function clearErrors() {
    for (const node of form.querySelectorAll(".lw-preview-error")) node.remove();
  }

  function showErrors(errors) {
    const loose = [];
    for (const error of errors) {
      const row = form.querySelector(".field-" + error.field);
      const list = el("ul", null, "errorlist lw-preview-error");
      list.appendChild(el("li", "Preview: " + error.message));
      if (row && error.field !== "__all__") {
        row.appendChild(list);
      } else {
        loose.push(error.field + ": " + error.message);
      }
    }
    result.replaceChildren(el("p", "This grid would be refused:", "lw-preview-refused"));
    const list = el("ul", null, "errorlist");
    for (const error of errors) list.appendChild(el("li", error.field + ": " + error.message));
    result.appendChild(list);
    return loose;
  }

  function row(table, cells, header) {
    const tr = document.createElement("tr");
    for (const cell of cells) tr.appendChild(el(header ? "th" : "td", cell));
    table.appendChild(tr);
  }

  function capText(cap, base, quote, way) {
    if (!cap) return "no position cap";
    let text = cap.binds
      ? cap.orders + " fills " + way + " (last at " + cap.last_price + " " + quote + "), position " +
        cap.position_base + " " + base
      : "does not bind within " + cap.orders + " levels " + way;
    if (cap.entry_price) text += ", entry " + cap.entry_price + " " + quote;
    if (cap.liquidation_price) text += ", liquidation ≈ " + cap.liquidation_price + " " + quote;
    return text;
  }

  function show(p) {
    const base = p.base_unit;
    const quote = p.quote_unit;
    const dl = el("dl", null, "lw-preview-summary");
    const facts = [
      ["Current price", p.reference_price + " " + quote + " — " + p.price_source_text],
      ["Centre (empty level)", p.centre_price + " " + quote],
      ["Capital", p.capital_quote + " " + quote + " (buys " + p.buy_notional_quote + ", sells " +
        p.sell_notional_quote + ")"],
      ["Margin at " + p.leverage + "x", p.margin_quote + " " + quote],
      ["Profit per step", (p.step_profit_min_quote === null ? "-" : p.step_profit_min_quote + " " +
        quote + " (" + p.step_profit_min_percent + " %)") + " after " + p.fee_rate_percent +
        " % fees (" + p.fee_source + "), worst level"],
      ["Position cap, falling price", capText(p.long_cap, base, quote, "down")],
      ["Position cap, rising price", capText(p.short_cap, base, quote, "up")],
    ];
    for (const [term, text] of facts) {
      dl.appendChild(el("dt", term));
      dl.appendChild(el("dd", text));
    }
    const table = el("table", null, "lw-preview-levels");
    row(table, ["Side", "Level", "Price (" + quote + ")", "Size (" + base + ")",
      "Notional (" + quote + ")", "Step profit (" + quote + ")"], true);
    for (const level of p.levels) {
      row(table, [level.side, String(level.level), level.price, level.size_base,
        level.notional_quote, level.step_profit_quote]);
    }
    const scroller = el("div", null, "lw-preview-scroll"); // the table scrolls, not the page
    scroller.appendChild(table);
    result.replaceChildren(dl, scroller);
    for (const warning of p.warnings) result.appendChild(el("p", warning, "lw-preview-warning"));
  }

  async function run() {
    const mine = ++sequence;
    const csrf = form.querySelector('[name="csrfmiddlewaretoken"]').value;
    let response;
    try {
      response = await fetch(panel.dataset.url, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
        body: JSON.stringify(body()),
      });
    } catch (error) {
      result.replaceChildren(el("p", "Preview unavailable: " + error.message));
      return;
    }
    if (mine !== sequence) return; // a newer preview is on its way
    clearErrors();
    const answer = await response.json();
    if (response.ok) {
      show(answer);
    } else if (answer.errors && answer.errors.length) {
      showErrors(answer.errors);
    } else {
      result.replaceChildren(el("p", "Preview unavailable: " + answer.detail));
    }
    panel.dataset.state = response.ok ? "ok" : "refused";
  }

  function soon() {
    clearTimeout(timer);
    timer = setTimeout(run, 300);
  }

  form.addEventListener("change", soon);
  form.addEventListener("input", soon);
  document.getElementById("lw-preview-run").addEventListener("click", run);
  if (account() && market()) run();
})();
