/* Backtest result page: the price path with the fills, and the equity curve (the dashboard's
   vendored lightweight-charts). Numbers are for drawing only; the figures table shows the exact
   strings. */
"use strict";

(function () {
  const data = JSON.parse(document.getElementById("backtest-data").textContent);
  const options = { height: 320, timeScale: { timeVisible: true, secondsVisible: false } };

  function dedupe(points) {
    // The chart needs strictly ascending times.
    const out = [];
    for (const point of points) {
      if (out.length && out[out.length - 1].time >= point.time) continue;
      out.push(point);
    }
    return out;
  }

  const priceChart = LightweightCharts.createChart(document.getElementById("price-chart"), options);
  const price = priceChart.addSeries(LightweightCharts.LineSeries, { lineWidth: 1 });
  const path = data.equity.map(function (p) { return { time: p[0], value: Number(p[1]) }; })
    .concat(data.fills.map(function (f) { return { time: f[0], value: Number(f[2]) }; }));
  path.sort(function (a, b) { return a.time - b.time; });
  // Every fill's minute is a point of the line, so each marker sits on a bar.
  price.setData(dedupe(path));
  const markers = data.fills.map(function (f) {
    const buy = f[1] === "buy";
    return {
      time: f[0],
      position: buy ? "belowBar" : "aboveBar",
      color: buy ? "#2e7d32" : "#c62828",
      shape: buy ? "arrowUp" : "arrowDown",
      text: "",
    };
  });
  markers.sort(function (a, b) { return a.time - b.time; });
  LightweightCharts.createSeriesMarkers(price, markers.slice(0, 2000));
  priceChart.timeScale().fitContent();

  const equityChart = LightweightCharts.createChart(document.getElementById("equity-chart"), options);
  const equity = equityChart.addSeries(LightweightCharts.AreaSeries, { lineWidth: 2 });
  equity.setData(dedupe(data.equity.map(function (p) { return { time: p[0], value: Number(p[2]) }; })));
  equityChart.timeScale().fitContent();
  document.body.dataset.backtestChart = "drawn";
})();
