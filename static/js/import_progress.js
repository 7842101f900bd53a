// Keeps an import's page current: polls /api/me/imports/<id>/ (session auth) once a second
// and fills the counts in; reloads once the run has finished to show the full result.
// Without JavaScript the page refreshes itself through a <noscript> meta refresh.
(function () {
  "use strict";
  var root = document.querySelector("[data-import-run]");
  if (!root || root.getAttribute("data-active") !== "1") return;
  var url = root.getAttribute("data-import-run");
  function set(name, value) {
    var el = root.querySelector('[data-field="' + name + '"]');
    if (el) el.textContent = value;
  }
  function tick() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (run) {
        ["total", "processed", "created", "updated", "unchanged", "titles_fetched", "phase"]
          .forEach(function (k) { set(k, run[k]); });
        set("status", run.status.charAt(0).toUpperCase() + run.status.slice(1));
        var bar = root.querySelector('[data-field="bar"]');
        if (bar) bar.style.width = run.percent + "%";
        if (run.status === "done" || run.status === "failed") window.location.reload();
        else window.setTimeout(tick, 1000);
      })
      .catch(function () { window.setTimeout(tick, 5000); });
  }
  window.setTimeout(tick, 1000);
})();
