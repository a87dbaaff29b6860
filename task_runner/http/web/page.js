// The status page. Every value from the server is shown with textContent
// (never as HTML): task names and paths are user data. Every request sends
// the session's CSRF token in the X-CSRF-Token header.
"use strict";

var csrf = null;
var timer = null;
var ticks = 0;
var cards = {};      // task name -> {root, body, button, progress}
var watching = {};   // task name -> run id being followed
var pending = [];    // requests in flight
var leaving = false; // signing out: start no new request
var REFRESH_MS = 5000;
var SNAPSHOTS_PAGE = 10;
var snapshotsShown = {}; // task name -> how many of its snapshots are listed
var lastReport = null;  // the newest /status: what the page last showed
// What started a run, in words (the history's "trigger").
var TRIGGERS = {manual: "started by hand", http: "started from this page or the API", schedule: "on schedule",
                missed: "caught up after it was missed", retry: "a retry", first: "its first backup",
                drive: "the backup drive came back"};

function $(id) { return document.getElementById(id); }

function el(tag, className, text) {
  var node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

function humanBytes(n) {
  var units = ["bytes", "KiB", "MiB", "GiB", "TiB"];
  for (var i = 0; i < units.length; i++) {
    if (n < 1024 || i === units.length - 1) return i === 0 ? n + " bytes" : n.toFixed(1) + " " + units[i];
    n /= 1024;
  }
}

function plural(n, word) { return n + " " + word + (n === 1 ? "" : "s"); }

// An ISO time from the server, in this computer's local time.
function when(iso) {
  if (!iso) return "?";
  var d = new Date(iso);
  if (isNaN(d.getTime())) return String(iso);
  return d.toLocaleString(undefined, {weekday: "short", year: "numeric", month: "short", day: "numeric",
                                      hour: "2-digit", minute: "2-digit"});
}

// How long ago an ISO time was, in words: "5 minutes ago", "3 days ago".
function ago(iso) {
  var s = (Date.now() - new Date(iso).getTime()) / 1000;
  if (isNaN(s)) return "";
  if (s < 60) return "just now";
  var units = [[86400, "day"], [3600, "hour"], [60, "minute"]];
  for (var i = 0; i < units.length; i++) {
    if (s >= units[i][0]) return plural(Math.floor(s / units[i][0]), units[i][1]) + " ago";
  }
}

// A path as text that may wrap only after a separator, never inside a name.
function pathNode(text) {
  var span = el("span", "path");
  String(text).split(/(?<=[\\/])/).forEach(function (part, i) {
    if (i) span.appendChild(el("wbr"));
    span.appendChild(document.createTextNode(part));
  });
  return span;
}

function seconds(s) {
  if (typeof s !== "number") return "";
  if (s < 10) return s.toFixed(1) + " s";
  if (s < 60) return Math.round(s) + " s";
  return Math.floor(s / 60) + " min " + Math.round(s % 60) + " s";
}

function showProblem(text) {
  var p = $("problem");
  p.textContent = text || "";
  p.hidden = !text;
}

// One request to this server: {status, data}; a 401 means the session ended.
function api(method, path, body) {
  var options = {method: method, credentials: "same-origin", cache: "no-store",
                 headers: {"Accept": "application/json"}};
  if (csrf) options.headers["X-CSRF-Token"] = csrf;
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  var request = fetch(path, options).then(function (response) {
    return response.json().catch(function () { return {}; }).then(function (data) {
      if (response.status === 401 && path !== "/login") signedOut("Your session has ended: sign in again.");
      return {status: response.status, data: data};
    });
  });
  pending.push(request);
  var settled = function () { pending.splice(pending.indexOf(request), 1); };
  request.then(settled, settled);
  return request;
}

function signedOut(message) {
  csrf = null;
  if (timer) { clearInterval(timer); timer = null; }
  $("dashboard").hidden = true;
  $("signout").hidden = true;
  $("signin").hidden = false;
  $("signin-message").textContent = message || "";
  $("token").focus();
}

function signedIn(data) {
  csrf = data.csrf;
  $("signin").hidden = true;
  $("token").value = "";
  $("dashboard").hidden = false;
  $("signout").hidden = data.token_required === false;
  ticks = 0;
  refresh();
  if (!timer) timer = setInterval(refresh, REFRESH_MS);
  editorSignedIn();  // tasks.js
}

function start() {
  var used = location.hash === "#link-used";  // a sign-in link opened a second time (or too late)
  var locked = location.hash === "#locked-out";  // ... after too many failed sign-ins from here
  if (used || locked) history.replaceState(null, "", location.pathname);
  api("GET", "/session").then(function (r) {
    if (r.status === 200 && r.data.signed_in) signedIn(r.data);
    else signedOut(used ? "That sign-in link was used before or has expired: each link signs in once, " +
                          "within 15 minutes. Paste the token below, or start http_server.bat again for a new link."
                   : locked ? "Too many failed sign-ins from this computer: wait a minute, then paste the token " +
                              "below or open a new sign-in link." : "");
  }, function () { showProblem("Cannot reach the backup server: is http_server running?"); });
}

function signIn(event) {
  event.preventDefault();
  var message = $("signin-message");
  message.textContent = "Signing in...";
  api("POST", "/login", {token: $("token").value}).then(function (r) {
    if (r.status === 200) signedIn(r.data);
    else if (r.status === 429) message.textContent = "Too many wrong tokens. " + (r.data.message || "");
    else if (r.status === 401) message.textContent = "That token is not right.";
    else message.textContent = r.data.message || "Could not sign in (" + r.status + ").";
  }, function () { message.textContent = "Cannot reach the backup server."; });
}

// Resolves once no request is in flight (also those started meanwhile).
function whenIdle() {
  if (!pending.length) return Promise.resolve();
  return Promise.all(pending.map(function (p) { return p.catch(function () { return null; }); })).then(whenIdle);
}

// Sign out once the requests in flight are answered, so none of them
// meets an ended session.
function signOut() {
  leaving = true;
  if (timer) { clearInterval(timer); timer = null; }
  whenIdle().then(function () { return api("POST", "/logout"); }).then(function () {
    leaving = false;
    signedOut("You are signed out.");
  }, function () { leaving = false; showProblem("Cannot reach the backup server."); });
}

function refresh() {
  if (leaving) return;
  ticks += 1;
  Promise.all([api("GET", "/status"), api("GET", "/runs?limit=20")]).then(function (answers) {
    if (!csrf || leaving) return;
    var status = answers[0], runs = answers[1];
    if (status.status !== 200) { showProblem(status.data.message || "The server answered " + status.status); return; }
    showProblem("");
    lastReport = status.data;
    showStatus(status.data);
    if (runs.status === 200) showRuns(runs.data.runs);
    if (ticks % 6 === 1) showSnapshots(status.data.tasks);
    $("updated").textContent = "Updated " + new Date().toLocaleTimeString() + "; refreshes every " +
      REFRESH_MS / 1000 + " seconds.";
  }, function () { showProblem("Cannot reach the backup server: is http_server running?"); });
}

function showStatus(report) {
  var scheduler = report.scheduler, line = $("scheduler");
  // Which tasks need attention, by name, in the colour of the worst: red when
  // backups are not being made, amber for what can wait (paused, low space,
  // the scheduler not running).
  var bad = report.tasks.filter(function (t) { return t.severity === "bad"; });
  var warn = report.tasks.filter(function (t) { return t.severity === "warn"; });
  var names = bad.concat(warn).map(function (t) { return t.name; });
  var summary = names.length ? "Needs attention: " + names.join(", ") + "." : "No task needs attention.";
  line.textContent = summary + (scheduler.running ? " The scheduler is running (process " + (scheduler.pid || "?") +
    ", since " + when(scheduler.since) + ")." : " The scheduler is not running.");
  line.className = "banner " + (bad.length ? "bad" : warn.length || report.warnings.length ? "warn" : "good");
  var warnings = $("warnings");
  clear(warnings);
  report.warnings.forEach(function (w) { warnings.appendChild(el("li", null, w)); });
  var seen = {};
  report.tasks.forEach(function (item) {
    seen[item.name] = true;
    showTask(item);
  });
  Object.keys(cards).forEach(function (name) {
    if (!seen[name]) { cards[name].root.remove(); delete cards[name]; }
  });
}

function card(name) {
  if (cards[name]) return cards[name];
  var c = {root: el("article", "task"), body: el("div"), button: el("button", "primary", "Back up now"),
           progress: el("p", "progress"), edit: el("button", "edit", "Change")};
  c.root.appendChild(el("h3", null, name));
  c.root.appendChild(c.body);
  c.root.appendChild(c.button);
  c.root.appendChild(c.edit);
  c.edit.type = "button";
  c.edit.addEventListener("click", function () { editTask(name); });
  c.root.appendChild(c.progress);
  c.progress.setAttribute("role", "status");
  c.button.type = "button";
  c.button.addEventListener("click", function () { backUpNow(name); });
  $("tasks").appendChild(c.root);
  cards[name] = c;
  return c;
}

function uploadProgress(p) {
  if (!p || !p.totalBytes) { return ""; }
  return " (" + humanBytes(p.bytes || 0) + " of " + humanBytes(p.totalBytes) + ", " + (p.transfers || 0) + " of " +
    (p.totalTransfers || 0) + " files)";
}

function row(dl, term, value) {
  dl.appendChild(el("dt", null, term));
  dl.appendChild(el("dd", null, value));
  return dl.lastChild;
}

function showTask(item) {
  var c = card(item.name), last = item.last_run, ok = item.last_success;
  var state = item.running ? "running" : (last ? last.status : "");
  c.root.className = "task " + state;
  clear(c.body);
  var dl = el("dl");
  row(dl, "Schedule", item.schedule + (item.paused ? " (paused)" : "") + (item["default"] ? " (default)" : ""));
  if (item.next_run) row(dl, "Next run", when(item.next_run));
  var lastCell = row(dl, "Last run", last ? when(last.started) + " " : "never");
  if (last) {
    lastCell.appendChild(el("span", "status " + (last.status || ""), last.status));
    lastCell.appendChild(document.createTextNode(" (" + (TRIGGERS[last.trigger] || last.trigger) + ")" +
        (item.last_run_elsewhere ? ", into the former destination " + item.last_run_elsewhere : "")));
  }
  row(dl, "Last success", ok ? when(ok.started) + " (" + ago(ok.started) + ")" : "never");
  var retry = item.retry;
  if (retry) {
    row(dl, "Retry", "failed " + when(retry.last_attempt_at) + ", " +
        (retry.at_scheduler_start ? "next try at once when the scheduler starts" :
         retry.next_try_at ? "next try " + when(retry.next_try_at) : "no retry left") + " (" +
        retry.attempts + (retry.attempts === 1 ? " attempt" : " attempts") + " for this scheduled time)");
  }
  var newest = item.newest_snapshot ? item.newest_snapshot.split(/[\\/]/).pop() : "";
  row(dl, "Copies", item.snapshots + (newest ? ", newest " + newest : "")).title = item.newest_snapshot || "";
  if (item.offsite) {
    var off = item.offsite, okUp = off.last_success;
    row(dl, "Offsite copy (" + off.remote + ")",
        (okUp ? "last " + when(okUp.finished) + " (" + off.last_success_days_ago.toFixed(1) + " days ago)" : "never") +
        (off.uploading ? ", uploading now" + uploadProgress(off.last_upload.progress) : "") +
        (off.pending ? ", pending: " + off.pending : ", nothing pending"));
  }
  if (item.free_bytes !== null) {
    row(dl, "Free on the destination drive", humanBytes(item.free_bytes) + " (" + Math.round(item.free_percent) + "%)");
  }
  var copies = row(dl, "Copies", "");
  copies.appendChild(pathNode(item.src));
  copies.appendChild(document.createTextNode(" \u2192 "));
  copies.appendChild(pathNode(item.dest));
  c.body.appendChild(dl);
  if (item.warnings.length) {
    var ul = el("ul", "warnings");
    item.warnings.forEach(function (w) { ul.appendChild(el("li", null, w)); });
    c.body.appendChild(ul);
  }
  if (item.running && !watching[item.name]) {
    c.progress.textContent = "Running now.";
    c.button.disabled = true;
  } else if (!watching[item.name]) {
    c.button.disabled = false;
    if (c.progress.textContent === "Running now.") c.progress.textContent = "";
  }
}

function backUpNow(name) {
  var c = cards[name];
  c.button.disabled = true;
  c.progress.textContent = "Starting...";
  c.progress.className = "progress";
  api("POST", "/trigger/" + encodeURIComponent(name)).then(function (r) {
    if (r.status === 202) watch(name, r.data.run_id, "Backing up");
    else if (r.status === 409) watch(name, r.data.run_id, "Already running");
    else { c.progress.textContent = r.data.message || "Could not start (" + r.status + ")."; c.button.disabled = false; }
  }, function () { c.progress.textContent = "Cannot reach the backup server."; c.button.disabled = false; });
}

// Follow run ``id`` of task ``name`` until it ends, once a second.
function watch(name, id, label) {
  var c = cards[name];
  watching[name] = id;
  function step() {
    if (!csrf || leaving) { delete watching[name]; c.button.disabled = false; return; }
    api("GET", "/runs/" + encodeURIComponent(id)).then(function (r) {
      if (r.status !== 200) { c.progress.textContent = r.data.message || "Run " + id + " not found."; done(); return; }
      var run = r.data;
      if (run.status === "running") {
        var p = run.progress;
        c.progress.textContent = label + " (run " + id + ")" + (p ? ": " + plural(p.files, "file") + ", " +
          humanBytes(p.bytes) + " (" + p.copied + " copied, " + p.linked + " linked" +
          (p.moved ? ", " + p.moved + " moved" : "") + ")" : "...");
        setTimeout(step, 1000);
        return;
      }
      c.progress.textContent = "Run " + id + " finished: " + run.status + (run.message ? ". " + run.message : "");
      c.progress.className = "progress " + (run.status === "success" ? "good" : run.status === "failed" ? "bad" : "warn");
      done();
    }, function () { setTimeout(step, 2000); });
  }
  function done() {
    delete watching[name];
    c.button.disabled = false;
    ticks = 0;
    refresh();
  }
  step();
}

function showRuns(runs) {
  var body = $("runs").tBodies[0];
  clear(body);
  runs.forEach(function (run) {
    var tr = el("tr");
    tr.appendChild(el("td", null, run.id));
    tr.appendChild(el("td", null, run.task));
    tr.appendChild(el("td", "status " + (run.status || ""), run.status));  // before the time: seen on a phone
    tr.appendChild(el("td", null, when(run.started)));
    tr.appendChild(el("td", null, typeof run.files === "number" ? run.files : ""));
    tr.appendChild(el("td", null, typeof run.bytes_copied === "number" ? humanBytes(run.bytes_copied) : ""));
    tr.appendChild(el("td", null, seconds(run.seconds)));
    tr.appendChild(el("td", "message", run.message || ""));
    body.appendChild(tr);
  });
  if (!runs.length) {
    var tr = el("tr"), td = el("td", null, "No runs yet.");
    td.colSpan = 8;
    tr.appendChild(td);
    body.appendChild(tr);
  }
}

// Tasks deleted from this page: a refresh already under way when one was
// deleted does not ask for its snapshots (a 404 the browser would log).
var deletedTasks = {};

function showSnapshots(tasks) {
  var box = $("snapshots");
  tasks = tasks.filter(function (item) { return !deletedTasks[item.name]; });
  Promise.all(tasks.map(function (item) {
    return api("GET", "/snapshots/" + encodeURIComponent(item.name));
  })).then(function (answers) {
    clear(box);
    tasks.forEach(function (item, i) {
      var section = el("section", "snapshots-of");
      section.appendChild(el("h3", null, item.name));
      var all = answers[i].status === 200 ? answers[i].data.snapshots : [];
      // Newest complete snapshot first; leftovers of interrupted runs after.
      var list = all.filter(function (s) { return !s.partial; }).reverse()
        .concat(all.filter(function (s) { return s.partial; }));
      if (!list.length) section.appendChild(el("p", null, "No copies yet."));
      var ul = el("ul"), shown = snapshotsShown[item.name] || SNAPSHOTS_PAGE;
      list.slice(0, shown).forEach(function (s) {
        var text = snapshotWhen(s.name) + (s.partial ? " (incomplete)" : "") +
          (typeof s.files === "number" ? ": " + plural(s.files, "file") : "") +
          (typeof s.bytes === "number" ? ", " + humanBytes(s.bytes) : "") + (s.status ? ", " + s.status : "");
        var li = el("li", null, text + " ");
        li.title = s.name;
        if (!s.partial) {
          var browse = el("button", "link", "Browse");
          browse.type = "button";
          browse.addEventListener("click", function () { openSnapshot(item.name, s.name); });
          li.appendChild(browse);
        }
        ul.appendChild(li);
      });
      if (list.length > shown) {
        var more = el("button", "link", "Show " + Math.min(SNAPSHOTS_PAGE, list.length - shown) + " older (of " +
                      (list.length - shown) + ")");
        more.type = "button";
        more.addEventListener("click", function () {
          snapshotsShown[item.name] = shown + SNAPSHOTS_PAGE;
          showSnapshots(tasks);
        });
        ul.appendChild(el("li")).appendChild(more);
      }
      if (list.length) section.appendChild(ul);
      box.appendChild(section);
    });
  });
}

document.addEventListener("DOMContentLoaded", function () {
  $("signin").addEventListener("submit", signIn);
  $("signout").addEventListener("click", signOut);
  start();
});
