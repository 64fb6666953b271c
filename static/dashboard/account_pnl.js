/* Overview: one account's PnL over time, the sum of its bots' stored snapshots
   (GET /api/accounts/<id>/pnl-history), re-read every minute and on a change of account. */
"use strict";

(function () {
  const REFRESH_MS = 60000;
  const select = document.getElementById("account-pnl-account");
  const section = document.getElementById("account-pnl");
  const chart = LightweightCharts.createChart(document.getElementById("account-pnl-chart"), {
    autoSize: true,
    timeScale: { timeVisible: true, secondsVisible: false, rightOffset: 4 },
  });
  const total = chart.addSeries(LightweightCharts.LineSeries, { lineWidth: 2, color: "#1565c0", title: "total" });
  const realized = chart.addSeries(LightweightCharts.LineSeries, { lineWidth: 1, color: "#6a1b9a", title: "realized" });

  function seconds(iso) {
    return Math.floor(new Date(iso).getTime() / 1000);
  }

  function load() {
    const asked = select.value;
    fetch("/api/accounts/" + asked + "/pnl-history", { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : []; })
      .then(function (points) {
        if (asked !== select.value) return;
        total.setData(points.map(function (p) { return { time: seconds(p.time), value: Number(p.total) }; }));
        realized.setData(points.map(function (p) { return { time: seconds(p.time), value: Number(p.realized) }; }));
        if (points.length) chart.timeScale().fitContent();
        document.getElementById("account-pnl-note").textContent = points.length
          ? "" : "no snapshots yet: one is taken every minute while a bot runs";
        section.dataset.points = points.length;
      })
      .catch(function () { /* the next refresh tries again */ });
  }

  select.addEventListener("change", load);
  load();
  window.setInterval(load, REFRESH_MS);
})();
