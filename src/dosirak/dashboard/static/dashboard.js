// dosirak dashboard: live run pages, live step logs, confirmed deployment actions.
// No framework; every update inserts server-escaped HTML or sets textContent.
(function () {
  "use strict";
  var POLL_MS = 1500;

  function poll(fn) {
    var timer = null;
    function tick() {
      if (document.hidden) { timer = setTimeout(tick, POLL_MS); return; }
      Promise.resolve(fn()).then(function (again) {
        if (again) timer = setTimeout(tick, POLL_MS);
      }, function () { timer = setTimeout(tick, POLL_MS * 2); });
    }
    timer = setTimeout(tick, POLL_MS);
    return function () { clearTimeout(timer); };
  }

  // A running run: re-fetch the DAG/timeline fragment until the run ends.
  var live = document.getElementById("live");
  if (live && live.dataset.status === "running") {
    poll(function () {
      return fetch(live.dataset.url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (r) { if (!r.ok) throw new Error(r.status); return r.text(); })
        .then(function (html) {
          live.innerHTML = html;  // rendered and escaped by the server
          var root = live.querySelector(".live-root");
          var status = root ? root.dataset.status : "running";
          live.dataset.status = status;
          var badge = root && root.querySelector("template.status-badge");
          var slot = document.getElementById("run-status");
          if (badge && slot) slot.innerHTML = badge.innerHTML;
          var dur = document.getElementById("run-duration");
          if (dur && root) dur.textContent = root.dataset.duration;
          return status === "running";
        });
    });
  }

  // A running step: append new log output until the step ends, then reload once.
  var logs = document.getElementById("logs");
  if (logs && (logs.dataset.status === "running" || logs.dataset.status === "pending")) {
    var offset = parseInt(logs.dataset.offset || "0", 10);
    poll(function () {
      return fetch(logs.dataset.url + "?offset=" + offset, { credentials: "same-origin" })
        .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
        .then(function (data) {
          if (data.text) {
            var empty = document.getElementById("logs-empty");
            if (empty) empty.remove();
            var atBottom = logs.scrollTop + logs.clientHeight >= logs.scrollHeight - 4;
            logs.appendChild(document.createTextNode(data.text));
            if (atBottom) logs.scrollTop = logs.scrollHeight;
          }
          offset = data.offset;
          if (data.step_status !== "running" && data.step_status !== "pending") {
            window.location.reload();
            return false;
          }
          return true;
        });
    });
  }

  // Deployment actions: confirm, POST as JSON, show the outcome, refresh.
  document.querySelectorAll("button[data-action]").forEach(function (button) {
    button.addEventListener("click", function () {
      var what = button.dataset.confirm || ("Really " + button.dataset.action + "?");
      if (!window.confirm(what)) return;
      button.disabled = true;
      var out = document.getElementById("action-result");
      fetch(button.dataset.url, {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "Accept": "application/json" }, body: "{}"
      }).then(function (r) {
        return r.json().then(function (data) { return { ok: r.ok, data: data }; });
      }).then(function (res) {
        if (out) {
          out.hidden = false;
          out.className = res.ok ? "notice" : "notice bad";
          out.textContent = res.ok ? ("Done: " + (res.data.status || "ok")) : (res.data.message || "failed");
        }
        if (res.ok) setTimeout(function () { window.location.reload(); }, 600);
        else button.disabled = false;
      }, function (err) {
        if (out) { out.hidden = false; out.className = "notice bad"; out.textContent = String(err); }
        button.disabled = false;
      });
    });
  });

  // Alias moves: pick alias and version, confirm in the page, POST with the page's session token.
  var mover = document.getElementById("alias-mover");
  if (mover) {
    var form = mover.querySelector("form.alias-form");
    var confirmBox = mover.querySelector(".confirm");
    var result = document.getElementById("alias-result");
    var current = JSON.parse(mover.dataset.aliases || "{}");
    var pending = null;
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var alias = form.elements.alias.value.trim();
      var version = parseInt(form.elements.version.value, 10);
      var from = Object.prototype.hasOwnProperty.call(current, alias) ? current[alias] : null;
      pending = { alias: alias, version: version };
      confirmBox.querySelector(".confirm-text").textContent = from === null
        ? "Create alias '" + alias + "' pointing at v" + version + "?"
        : "Move alias '" + alias + "' from v" + from + " to v" + version + "?";
      confirmBox.hidden = false;
      confirmBox.querySelector(".confirm-yes").focus();
    });
    confirmBox.querySelector(".confirm-no").addEventListener("click", function () {
      pending = null;
      confirmBox.hidden = true;
    });
    confirmBox.querySelector(".confirm-yes").addEventListener("click", function () {
      if (!pending) return;
      var yes = confirmBox.querySelector(".confirm-yes");
      yes.disabled = true;
      var csrf = document.querySelector('meta[name="dosirak-csrf"]');
      fetch(mover.dataset.url + encodeURIComponent(pending.alias), {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "Accept": "application/json",
                   "X-Dosirak-Csrf": csrf ? csrf.content : "" },
        body: JSON.stringify({ version: pending.version })
      }).then(function (r) {
        return r.json().then(function (data) { return { ok: r.ok, data: data }; });
      }).then(function (res) {
        result.hidden = false;
        result.className = res.ok ? "notice" : "notice bad";
        result.textContent = res.ok ? ("Moved " + res.data.alias + " to v" + res.data.to_version)
                                    : (res.data.message || "the move failed");
        confirmBox.hidden = true;
        yes.disabled = false;
        if (res.ok) setTimeout(function () { window.location.reload(); }, 400);
      }, function (err) {
        result.hidden = false; result.className = "notice bad"; result.textContent = String(err);
        yes.disabled = false;
      });
    });
  }
})();
