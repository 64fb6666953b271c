/* The admin's chart of a market's stored candles (the dashboard's vendored lightweight-charts). */
"use strict";

(function () {
  const bars = JSON.parse(document.getElementById("candle-data").textContent);
  const chart = LightweightCharts.createChart(document.getElementById("candle-chart"), {
    height: 320,
    timeScale: { timeVisible: true, secondsVisible: false },
  });
  const series = chart.addSeries(LightweightCharts.CandlestickSeries, {});
  series.setData(bars.map(function (b) {
    return { time: b[0], open: Number(b[1]), high: Number(b[2]), low: Number(b[3]), close: Number(b[4]) };
  }));
  chart.timeScale().fitContent();
  document.body.dataset.candleChart = "drawn";
})();
