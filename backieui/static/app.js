// Backie dashboard: auto-refresh, relative times, confirmations. Plain
// JavaScript, no dependencies; every page also works without it.
(function () {
  "use strict";

  var STORAGE_KEY = "backie.autoRefresh";

  // Relative times, with the same rules as the server (format.go relTime).
  function rel(t, now) {
    var d = (now - t) / 1000, future = d < 0, s;
    if (future) d = -d;
    if (d < 1) return "just now";
    if (d < 60) s = Math.floor(d) + " s";
    else if (d < 3600) s = Math.floor(d / 60) + " min";
    else if (d < 172800) s = Math.floor(d / 3600) + " h";
    else s = Math.floor(d / 86400) + " days";
    return future ? "in " + s : s + " ago";
  }

  function updateTimes(root) {
    var now = Date.now();
    (root || document).querySelectorAll("time[datetime]").forEach(function (el) {
      var t = Date.parse(el.getAttribute("datetime"));
      if (isNaN(t)) return;
      el.textContent = rel(t, now);
      if (!el.dataset.local) {
        el.title = new Date(t).toLocaleString() + " (local)\n" + el.title;
        el.dataset.local = "1";
      }
    });
  }

  // Auto-refresh: the page's [data-refresh] regions are replaced by those
  // of a fresh copy of the page, every data-refresh-ms milliseconds, unless
  // the user paused it (remembered in localStorage) or the tab is hidden.
  var interval = parseInt(document.body.dataset.refreshMs || "0", 10);
  var toggle = document.getElementById("refresh-toggle");
  var inFlight = false;

  function paused() {
    try { return localStorage.getItem(STORAGE_KEY) === "paused"; } catch (e) { return false; }
  }

  function setPaused(p) {
    try {
      if (p) localStorage.setItem(STORAGE_KEY, "paused");
      else localStorage.removeItem(STORAGE_KEY);
    } catch (e) { /* storage may be off */ }
    renderToggle();
  }

  function renderToggle(failed) {
    if (!toggle) return;
    var p = paused();
    toggle.setAttribute("aria-pressed", p ? "true" : "false");
    toggle.querySelector(".refresh-label").textContent =
      p ? "Paused" : failed ? "Refresh failed, retrying" : "Live · " + Math.round(interval / 1000) + "s";
    toggle.title = p ? "Auto-refresh is paused: click to resume" : "Refreshes every " + Math.round(interval / 1000) + " s: click to pause";
  }

  function refresh() {
    if (inFlight || paused() || document.hidden) return;
    if (document.activeElement && document.activeElement.closest && document.activeElement.closest("[data-refresh]") &&
        document.activeElement.matches("input, select, textarea")) return;
    inFlight = true;
    if (toggle) toggle.classList.add("loading");
    fetch(location.href, { credentials: "same-origin", cache: "no-store", headers: { "X-Backie-Refresh": "1" } })
      .then(function (res) {
        if (!res.ok) throw new Error("HTTP " + res.status);
        return res.text();
      })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        document.querySelectorAll("[data-refresh][id]").forEach(function (el) {
          var fresh = doc.getElementById(el.id);
          if (fresh) {
            el.replaceWith(fresh);
            updateTimes(fresh);
          }
        });
        document.body.dataset.refreshedAt = String(Date.now());
        renderToggle(false);
      })
      .catch(function () { renderToggle(true); })
      .finally(function () {
        inFlight = false;
        if (toggle) setTimeout(function () { toggle.classList.remove("loading"); }, 800);
      });
  }

  if (toggle && interval > 0) {
    toggle.hidden = false;
    renderToggle();
    toggle.addEventListener("click", function () {
      var p = !paused();
      setPaused(p);
      if (!p) refresh();
    });
    setInterval(refresh, interval);
    document.addEventListener("visibilitychange", function () { if (!document.hidden) refresh(); });
  }

  updateTimes();
  setInterval(updateTimes, 5000);

  // Forms that ask first.
  document.addEventListener("submit", function (ev) {
    var msg = ev.target.dataset && ev.target.dataset.confirm;
    if (msg && !window.confirm(msg)) ev.preventDefault();
  });

  // A click anywhere on a task's row opens it.
  document.addEventListener("click", function (ev) {
    var row = ev.target.closest && ev.target.closest("tr[data-href]");
    if (!row || ev.target.closest("a, button, input, select, form")) return;
    if (window.getSelection && String(window.getSelection())) return; // selecting text
    if (ev.ctrlKey || ev.metaKey) window.open(row.dataset.href, "_blank");
    else location.href = row.dataset.href;
  });

  // Flash messages can be dismissed.
  document.addEventListener("click", function (ev) {
    if (ev.target.classList && ev.target.classList.contains("flash-close")) {
      ev.target.closest(".flash").remove();
    }
  });

  // Copy buttons, where the browser allows it.
  if (navigator.clipboard) {
    document.querySelectorAll("[data-copy], [data-copy-from]").forEach(function (b) {
      b.hidden = false;
      b.addEventListener("click", function () {
        var text = b.dataset.copy || document.getElementById(b.dataset.copyFrom).textContent;
        navigator.clipboard.writeText(text).then(function () {
          var old = b.textContent;
          b.textContent = "Copied";
          setTimeout(function () { b.textContent = old; }, 1200);
        });
      });
    });
  }
})();
