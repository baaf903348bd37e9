/* The progress of a background job (core.jobs), for any page that shows one (no framework).
 *
 * The page marks a box with data-job-status-url (a JSON endpoint answering core.jobs.job_status)
 * holding a <progress>, and elements marked data-job-status, data-job-percent, data-job-message.
 * This polls the endpoint, updates them, and reloads the page once the job has finished: the page
 * then shows the result. Errors (a lost connection, a restarting server) back off and try again.
 * Without JavaScript the page refreshes itself (<noscript> meta refresh) and has a 刷新 link.
 */
(function () {
  "use strict";
  var FIRST_MS = 1000;
  var EVERY_MS = 1500;
  var MAX_MS = 15000;

  var box = document.querySelector("[data-job-status-url]");
  if (!box || !window.fetch) return;
  var url = box.getAttribute("data-job-status-url");
  var bar = box.querySelector("progress");
  var status = box.querySelector("[data-job-status]");
  var percent = box.querySelector("[data-job-percent]");
  var message = box.querySelector("[data-job-message]");
  var delay = EVERY_MS;

  function show(job) {
    if (bar) {
      if (job.percent === null || job.percent === undefined) {
        bar.removeAttribute("value"); // indeterminate: the amount of work is not known yet
      } else {
        bar.value = job.percent;
        bar.textContent = job.percent + "%";
      }
    }
    if (status) status.textContent = job.status_display;
    if (percent) percent.textContent = job.percent === null || job.percent === undefined ? "" : job.percent + "%";
    if (message) message.textContent = job.message;
  }

  function poll() {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (job) {
        show(job);
        if (job.finished) {
          window.location.reload();
          return;
        }
        delay = EVERY_MS;
        window.setTimeout(poll, delay);
      })
      .catch(function () {
        delay = Math.min(delay * 2, MAX_MS);
        window.setTimeout(poll, delay);
      });
  }

  window.setTimeout(poll, FIRST_MS);
})();
