// tern's web UI: the one script. Pages work without it; with it, a live run's page follows the
// run as it happens — its log lines appear as Terraform prints them, its status changes in
// place, and the page reloads when the run needs a person (Confirm & apply) or is over.
"use strict";
(() => {
  const root = document.querySelector("[data-events]");
  if (!root || !window.EventSource) return;
  const logs = { plan: document.getElementById("plan-log"), apply: document.getElementById("apply-log") };
  const status = document.getElementById("run-status");
  // The server resumes after the last chunk each event names (Last-Event-ID on reconnect):
  // no line twice, none lost.
  const events = new EventSource(root.dataset.events);
  events.addEventListener("log", (e) => {
    const m = JSON.parse(e.data);
    const pre = logs[m.phase];
    if (!pre) return;
    const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    pre.append(m.text);
    if (atEnd) pre.scrollTop = pre.scrollHeight;
  });
  events.addEventListener("status", (e) => {
    const m = JSON.parse(e.data);
    status.textContent = m.status;
    status.className = `badge ${m.tone}`;
  });
  events.addEventListener("end", () => {
    events.close();
    window.location.reload();
  });
})();
