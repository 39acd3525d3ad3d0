// The run page's times in the reader's own timezone, to the second (the server writes UTC).
(function () {
  "use strict";
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const time = { hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" };
  const formats = {
    time: new Intl.DateTimeFormat(undefined, time),
    datetime: new Intl.DateTimeFormat(undefined, Object.assign({ year: "numeric", month: "2-digit", day: "2-digit", timeZoneName: "short" }, time)),
  };
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("time[data-local][datetime]").forEach(function (el) {
      const moment = new Date(el.getAttribute("datetime"));
      const format = formats[el.dataset.local];
      if (isNaN(moment) || !format) return;
      el.textContent = format.format(moment);
      el.title = moment.toISOString() + " (shown in " + zone + ")";
    });
  });
})();
