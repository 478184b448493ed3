// tern's web UI: the one script. Pages work without it. With it, a live run's page follows the
// run as it happens — its log lines appear as Terraform prints them, its status changes in
// place (in Terraform's colours), and the page reloads when the run needs a person (Confirm & apply) or is over — and
// the credentials page shows each cloud's trust formats as tabs with a Copy button per block.
"use strict";

// A form's answer that shows a secret once (a new API token) becomes, in the browser's history,
// a plain visit to the same address: reloading it shows the page again instead of posting the
// form a second time, which would make a second token.
if (document.querySelector("[data-shown-once]")) window.history.replaceState(null, "", window.location.href);
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
    // [text, classes] pairs: the classes are the server's fixed set (terminal colours); the
    // text is only ever text.
    for (const [text, cls] of m.parts) {
      if (!cls) {
        pre.append(text);
        continue;
      }
      const span = document.createElement("span");
      span.className = cls;
      span.textContent = text;
      pre.append(span);
    }
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

// Tabs (the WAI-ARIA tabs pattern, automatic activation): each [data-tabs] holds sections with
// a heading; the headings become tabs, the sections their panels. Without the script the
// sections simply follow one another.
document.querySelectorAll("[data-tabs]").forEach((set) => {
  const panels = [...set.children].filter((el) => el.tagName === "SECTION");
  if (panels.length < 2) return;
  const list = document.createElement("div");
  list.setAttribute("role", "tablist");
  list.setAttribute("aria-label", set.dataset.tabs);
  list.className = "tablist";
  const tabs = panels.map((panel) => {
    const heading = panel.querySelector("h4");
    const tab = document.createElement("button");
    tab.type = "button";
    tab.id = `${panel.id}-tab`;
    tab.setAttribute("role", "tab");
    tab.setAttribute("aria-controls", panel.id);
    tab.textContent = heading.textContent;
    heading.classList.add("visually-hidden");
    panel.setAttribute("role", "tabpanel");
    panel.setAttribute("aria-labelledby", tab.id);
    list.append(tab);
    return tab;
  });
  const select = (i, focus) => {
    tabs.forEach((tab, j) => {
      tab.setAttribute("aria-selected", String(i === j));
      tab.tabIndex = i === j ? 0 : -1;
      panels[j].hidden = i !== j;
    });
    if (focus) tabs[i].focus();
  };
  list.addEventListener("click", (e) => {
    const i = tabs.indexOf(e.target.closest("[role=tab]"));
    if (i >= 0) select(i, false);
  });
  list.addEventListener("keydown", (e) => {
    const i = tabs.indexOf(document.activeElement);
    const to = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 }[e.key];
    if (i < 0 || to === undefined) return;
    e.preventDefault();
    select((to + tabs.length) % tabs.length, true);
  });
  set.prepend(list);
  select(0, false);
});

// Copy: a button after each [data-copy] block puts its text on the clipboard and says so in a
// status message beside it (announced by screen readers). Only where the browser allows it.
if (navigator.clipboard) {
  document.querySelectorAll("pre[data-copy]").forEach((pre) => {
    const bar = document.createElement("div");
    bar.className = "copybar";
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = "Copy";
    button.setAttribute("aria-label", `Copy ${pre.dataset.copy}`);
    const said = document.createElement("span");
    said.setAttribute("role", "status");
    said.className = "muted";
    let clear;
    button.addEventListener("click", () => {
      navigator.clipboard.writeText(pre.textContent).then(
        () => { said.textContent = "Copied"; },
        () => { said.textContent = "Copy failed: select the text and copy it"; },
      );
      clearTimeout(clear);
      clear = setTimeout(() => { said.textContent = ""; }, 4000);
    });
    bar.append(button, said);
    pre.before(bar);
  });
}
