// The inbox's small behaviours: live countdowns, keyboard shortcuts, focus kept across htmx polls.
// Everything here is an enhancement; the pages work without JavaScript.
(function () {
  "use strict";

  function span(seconds) {
    const d = Math.floor(seconds / 86400), h = Math.floor(seconds % 86400 / 3600);
    const m = Math.floor(seconds % 3600 / 60), s = seconds % 60;
    if (d) return d + "d " + h + "h";
    if (h) return h + "h " + m + "m";
    if (m) return m + "m " + s + "s";
    return s + "s";
  }

  function tick() {
    const now = Date.now();
    document.querySelectorAll("time.countdown[data-deadline]").forEach(function (el) {
      const left = Math.round((Date.parse(el.dataset.deadline) - now) / 1000);
      el.textContent = left > 0 ? "in " + span(left) : "overdue by " + span(-left);
      // Within the hour it stands out ("soon"), then turns "overdue" (the server's inbox_tags.urgency).
      const soon = left > 0 && left <= 3600;
      [el, el.closest(".request-row")].forEach(function (shown) {
        if (!shown) return;
        shown.classList.toggle("overdue", left <= 0);
        shown.classList.toggle("soon", soon);
      });
    });
  }

  // Moments the server writes in UTC, shown to the second in the reviewer's own timezone.
  const localFormat = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit",
    hourCycle: "h23", timeZoneName: "short",
  });
  function localTimes(root) {
    root.querySelectorAll("time[data-local][datetime]").forEach(function (el) {
      const moment = new Date(el.getAttribute("datetime"));
      if (!isNaN(moment)) el.textContent = localFormat.format(moment);
    });
  }

  function rows() { return Array.from(document.querySelectorAll(".request-link")); }

  function move(step) {
    const links = rows();
    if (!links.length) return;
    const at = links.indexOf(document.activeElement);
    const next = at < 0 ? 0 : Math.min(links.length - 1, Math.max(0, at + step));
    links[next].focus();
  }

  function openFocused(act) {
    const link = document.activeElement && document.activeElement.closest(".request-link");
    const target = link || rows()[0];
    if (target) window.location.href = target.href + "?act=" + act;
  }

  function focusOn(selector) {
    const el = document.querySelector(selector);
    if (el) { el.focus(); return true; }
    return false;
  }

  const detailKeys = {
    a: "#approve-button",
    r: "#reject-reason",
    e: "#edit-form input:not([type=hidden]), #edit-form select, #edit-form textarea, #edit-json",
    t: "#respond-text",
  };

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const typing = event.target.closest && event.target.closest("input, textarea, select, [contenteditable]");
    if (typing) {
      if (event.key === "Escape") event.target.blur();
      return;
    }
    const page = document.body.dataset.page;
    if (page === "list") {
      if (event.key === "j") { move(1); event.preventDefault(); }
      else if (event.key === "k") { move(-1); event.preventDefault(); }
      else if (event.key === "a") openFocused("approve");
      else if (event.key === "r") openFocused("reject");
      else if (event.key === "e") openFocused("edit");
    } else if (page === "detail") {
      if (detailKeys[event.key] && focusOn(detailKeys[event.key])) event.preventDefault();
      else if (event.key === "u") window.location.href = document.getElementById("back-to-inbox").href;
    }
  });

  // A decision navigates back to the inbox (HX-Redirect); a status poll answered meanwhile would
  // reload this page instead (HX-Refresh) and cancel that navigation: ignore it.
  let leaving = false;
  document.addEventListener("htmx:beforeRequest", function (event) {
    if (leaving) event.preventDefault();
    // While requests are selected for a bulk decision, the list's poll would replace the
    // checkboxes: it waits until nothing is selected.
    const list = event.detail.elt && event.detail.elt.id === "inbox-results";
    if (list && document.querySelector(".bulk-pick:checked")) event.preventDefault();
  });
  // Listened for on <body>, below `document`: with DEBUG on, django-htmx's error script (added by
  // {% htmx_script %}) listens on `document` and replaces the whole page with any 400 response.
  // A 400 (a form error) or a 409 (decided elsewhere) is an answer this page swaps in (see the
  // htmx-config in base.html), so it stops here; 403, 404 and 500 still reach the debug page.
  document.body.addEventListener("htmx:beforeOnLoad", function (event) {
    const status = event.detail.xhr.status;
    if (status === 400 || status === 409) event.stopPropagation();
    if (leaving) event.preventDefault();
    else if (event.detail.xhr.getResponseHeader("HX-Redirect")) leaving = true;
  });

  // A poll replaces the list: put the keyboard focus back on the same request.
  let focusedId = null;
  document.addEventListener("htmx:beforeSwap", function () {
    const link = document.activeElement && document.activeElement.closest(".request-link");
    focusedId = link ? link.dataset.requestId : null;
  });
  document.addEventListener("htmx:afterSettle", function () { localTimes(document); });
  document.addEventListener("htmx:afterSwap", function () {
    if (focusedId) {
      const link = document.querySelector('.request-link[data-request-id="' + focusedId + '"]');
      if (link) link.focus();
    }
    tick();
  });

  document.addEventListener("DOMContentLoaded", function () {
    const acts = { approve: "a", reject: "r", edit: "e", respond: "t" };
    const detail = document.querySelector(".detail[data-act]");
    const key = detail && acts[detail.dataset.act];
    if (key) focusOn(detailKeys[key]);
    localTimes(document);
    tick();
    setInterval(tick, 1000);
  });
})();
