// Live refresh: reloads the page when a job starts or ends, or a run is recorded.
// The page works without it; it polls the JSON API every few seconds.
(function () {
  "use strict";
  var seen = null;
  function signature(jobs) {
    return jobs.map(function (j) {
      var a = j.last_attempt || {};
      return [j.job, a.id, a.outcome, (j.labels || {}).running || "", j.incidents.length].join(":");
    }).join("|");
  }
  function poll() {
    fetch("/api/v1/jobs", { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (jobs) {
        if (!jobs) { return; }
        var now = signature(jobs);
        if (seen !== null && now !== seen) { window.location.reload(); return; }
        seen = now;
      })
      .catch(function () { /* the daemon restarting: try again later */ });
  }
  poll();
  window.setInterval(poll, 5000);
})();
