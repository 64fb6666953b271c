/* The candle upload's progress: poll the import job's state until it is done or failed, then
   show the report (or the reason the file was refused). */
"use strict";

(function () {
  const box = document.getElementById("candle-import");
  if (!box) return;
  const url = box.dataset.stateUrl;
  const POLL_MS = 500;

  function show(job) {
    box.dataset.state = job.state;
    document.getElementById("import-state").textContent = job.state;
    document.getElementById("import-phase").textContent = job.phase;
    document.getElementById("import-progress").value = job.progress;
    document.getElementById("import-percent").textContent = job.progress;
    const error = document.getElementById("import-error");
    error.textContent = job.error;
    error.hidden = !job.error;
    error.className = job.error ? "errornote" : "";  // admin CSS shows .errornote even when hidden
    const report = document.getElementById("import-report");
    report.replaceChildren(...job.lines.map(function (line) {
      const item = document.createElement("li");
      item.textContent = line;
      return item;
    }));
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error(`import state: HTTP ${response.status}`);
        return response.json();
      })
      .then(function (job) {
        show(job);
        if (!job.finished) window.setTimeout(poll, POLL_MS);
      })
      .catch(function () { window.setTimeout(poll, POLL_MS * 4); });
  }

  if (box.dataset.state !== "done" && box.dataset.state !== "failed") poll();
})();
