/* Sort a table.sortable by the clicked column: numbers numerically, text as text; a second
   click reverses. */
"use strict";

(function () {
  for (const table of document.querySelectorAll("table.sortable")) {
    const headers = table.querySelectorAll("thead th");
    headers.forEach(function (header, column) {
      header.addEventListener("click", function () {
        const body = table.tBodies[0];
        const rows = Array.from(body.rows);
        const descending = header.dataset.sorted !== "desc";
        headers.forEach(function (h) { delete h.dataset.sorted; });
        header.dataset.sorted = descending ? "desc" : "asc";
        rows.sort(function (a, b) {
          const x = a.cells[column].textContent.trim();
          const y = b.cells[column].textContent.trim();
          const nx = Number(x), ny = Number(y);
          const order = x !== "" && y !== "" && !isNaN(nx) && !isNaN(ny) ? nx - ny : x.localeCompare(y);
          return descending ? -order : order;
        });
        for (const row of rows) body.appendChild(row);
      });
    });
  }
})();
