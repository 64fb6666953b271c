/* Admin accounts: follow the exchange actions queued on a worker (bots.admin_jobs). Polls the
   jobs' states every second; once none is queued or running, reloads the page, where the
   finished jobs show as messages. */
"use strict";

(function () {
  const box = document.getElementById("lw-admin-jobs");
  if (!box) return;
  const POLL_MS = 1000;

  function poll() {
    fetch(box.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (!data) return schedule();
        let open = 0;
        for (const job of data.jobs) {
          const li = box.querySelector('[data-job-id="' + job.id + '"]');
          if (!li) continue;
          li.dataset.state = job.state;
          li.querySelector(".lw-job-state").textContent = job.state;
          li.querySelector(".lw-job-message").textContent = job.message;
          if (job.state === "queued" || job.state === "running") open += 1;
        }
        if (open === 0) window.location.reload();
        else schedule();
      })
      .catch(schedule);
  }

  function schedule() {
    window.setTimeout(poll, POLL_MS);
  }

  schedule();
})();
