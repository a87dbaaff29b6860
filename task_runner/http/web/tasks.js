// The task editor: add, change and delete a backup in config.json. The
// server checks every value with check's own code (POST /config/check, as
// the form is filled) and refuses a change made against a file that was
// edited meanwhile (409: the form says so and reloads). Uses page.js's
// api(), el(), clear(), when(), humanBytes() and refresh(); every value is
// shown with textContent.
"use strict";

var editing = null;     // {index (null: a new task), version, task (as in config.json)}
var listing = null;     // the answer of GET /config/tasks
var checkTimer = null;
var checks = 0;         // the checks asked for: only the newest one's answer is shown
var choosing = null;    // the input the folder chooser fills, and the folder shown
var DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
var KEEP = {"10": 10, "30": 30, "calendar": {"daily": 7, "weekly": 4, "monthly": 12}};

function loadTasks() {
  return api("GET", "/config/tasks").then(function (r) {
    if (r.status !== 200) { showProblem(r.data.message || "Cannot read config.json (" + r.status + ")."); return null; }
    listing = r.data;
    $("first-start").hidden = !listing.first_start;
    return listing;
  });
}

function taskName(t) { return t.name || (t.src + " -> " + t.dest); }

// Called by page.js once signed in: the first start opens "Add a backup".
function editorSignedIn() {
  loadTasks().then(function (l) {
    if (l && (location.hash === "#add" || l.first_start) && !editing) openEditor(null);
  });
}

function editTask(name) {
  loadTasks().then(function (l) {
    if (!l) return;
    var i = l.tasks.map(taskName).indexOf(name);
    if (i < 0) { showProblem("The task " + name + " is not in config.json any more."); return; }
    openEditor(i);
  });
}

// The form's inputs by the config.json key they fill: a new task's problems show for the fields
// already filled in (or all of them, once Save was pressed), not as red lines under an empty form.
var FIELDS = {"ed-name": "name", "ed-src": "src", "ed-dest": "dest", "ed-when": "timestamp", "ed-time": "timestamp",
              "ed-custom": "timestamp", "ed-keep": "keep", "ed-keep-custom": "keep", "ed-exclude": "exclude",
              "ed-remote": "offsite", "ed-offsite": "offsite"};

function touched(event) {
  var id = event.target && event.target.id;
  if (editing && id) editing.touched[FIELDS[id] || (id.indexOf("ed-day-") === 0 ? "timestamp" : id)] = true;
}

function openEditor(index) {
  var task = index === null ? {} : listing.tasks[index];
  editing = {index: index, version: listing.version, task: task, touched: {}, tried: index !== null};
  $("ed-title").textContent = index === null ? "Add a backup" : "Change " + taskName(task);
  $("ed-delete").hidden = index === null || listing.tasks.length < 2;
  $("ed-delete").textContent = "Delete this backup";
  $("ed-name").value = task.name || "";
  $("ed-src").value = task.src || "";
  showSuggestedName();
  $("ed-dest").value = task.dest || "";
  showSchedule(task.timestamp);
  showKeep(task.keep);
  $("ed-exclude").value = (task.exclude || []).join("\n");
  showRemotes(task.offsite);
  $("ed-status").textContent = "";
  $("ed-problem").textContent = "";
  $("chooser").hidden = true;
  $("editor").hidden = false;
  editing.shown = formTask();  // what the file said: a change sends only what differs from it
  $("editor").scrollIntoView();
  $("ed-name").focus();
  check();
}

function closeEditor() {
  editing = null;
  $("editor").hidden = true;
  if (location.hash) history.replaceState(null, "", location.pathname);
}

// -- the schedule in words <-> config.json's "timestamp" -----------------------
function showSchedule(ts) {
  var m, when = "custom";
  $("ed-custom").value = ts === undefined ? "" : (typeof ts === "string" ? ts : JSON.stringify(ts));
  if (ts === undefined) when = "none";
  else if (typeof ts === "string" && (m = /^(\d{1,2}:\d{2})$/.exec(ts))) { when = "daily"; setTime(m[1]); }
  else if (typeof ts === "string" && (m = /^(\d{1,2}) (\d{1,2}:\d{2})$/.exec(ts))) {
    when = "monthly"; $("ed-day").value = m[1]; setTime(m[2]);
  } else if (typeof ts === "string" && (m = /^((?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)(?:,(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun))*) (\d{1,2}:\d{2})$/.exec(ts))) {
    when = "weekly"; setTime(m[2]);
    var days = m[1].split(",");
    DAYS.forEach(function (d) { $("ed-day-" + d).checked = days.indexOf(d) >= 0; });
  } else if (typeof ts === "string" && (m = /^0 \*\/(1|2|3|4|6|8|12) \* \* \*$/.exec(ts))) {
    when = "hours"; $("ed-hours").value = m[1];
  }
  $("ed-when").value = when;
  showWhenDetails();
}

function setTime(text) { $("ed-time").value = (text.length === 4 ? "0" : "") + text; }

function showWhenDetails() {
  var when = $("ed-when").value, show = {
    "ed-days": when === "weekly", "ed-day": when === "monthly", "ed-day-label": when === "monthly",
    "ed-hours": when === "hours", "ed-hours-label": when === "hours", "ed-custom": when === "custom",
    "ed-time": ["daily", "weekly", "monthly"].indexOf(when) >= 0};
  show["ed-time-label"] = show["ed-time"];
  Object.keys(show).forEach(function (id) { $(id).hidden = !show[id]; });
}

function timestamp() {
  var when = $("ed-when").value, time = $("ed-time").value;
  if (when === "none") return null;
  if (when === "daily") return time;
  if (when === "monthly") return $("ed-day").value + " " + time;
  if (when === "hours") return "0 */" + $("ed-hours").value + " * * *";
  if (when === "weekly") {
    var days = DAYS.filter(function (d) { return $("ed-day-" + d).checked; });
    return days.length ? days.join(",") + " " + time : "";
  }
  var text = $("ed-custom").value.trim();
  if (text.charAt(0) === "[") { try { return JSON.parse(text); } catch (e) { return text; } }
  return text;
}

// -- keep, offsite ----------------------------------------------------------------
function showKeep(keep) {
  var value = "custom";
  if (keep === undefined) value = "all";
  Object.keys(KEEP).forEach(function (k) { if (JSON.stringify(KEEP[k]) === JSON.stringify(keep)) value = k; });
  $("ed-keep").value = value;
  $("ed-keep-custom").value = keep === undefined ? "" : JSON.stringify(keep);
  $("ed-keep-custom").hidden = value !== "custom";
}

function keep() {
  var value = $("ed-keep").value;
  if (value === "all") return null;
  if (value !== "custom") return KEEP[value];
  try { return JSON.parse($("ed-keep-custom").value); } catch (e) { return $("ed-keep-custom").value; }
}

function showRemotes(offsite) {
  var select = $("ed-remote"), remotes = listing.remotes;
  var remote = typeof offsite === "string" ? offsite : offsite && offsite.remote ? offsite.remote : "";
  clear(select);
  select.appendChild(el("option", null, remotes ? "No offsite copy" : "(rclone is not on this computer: type a remote and a folder, such as b2:my-bucket/Documents)"));
  select.lastChild.value = "";
  (remotes || []).forEach(function (name) {  // rclone's names, without the colon
    select.appendChild(el("option", null, name + ":"));
    select.lastChild.value = name + ":";
  });
  $("ed-offsite").value = remote;
  var name = remote.split(":")[0];
  select.value = remote && (remotes || []).indexOf(name) >= 0 ? name + ":" : "";
}

function offsite() {
  var text = $("ed-offsite").value.trim();
  return text || null;
}

function formTask() {
  var exclude = $("ed-exclude").value.split("\n").map(function (s) { return s.trim(); })
    .filter(function (s) { return s; });
  return {name: $("ed-name").value.trim() || null, src: $("ed-src").value.trim() || null,
          dest: $("ed-dest").value.trim() || null, timestamp: timestamp(), keep: keep(),
          exclude: exclude, offsite: offsite()};
}

// -- checked as it is filled ------------------------------------------------------
function check() {
  if (checkTimer) clearTimeout(checkTimer);
  checkTimer = setTimeout(function () {
    if (!editing) return;
    var task = formTask(), asked = ++checks;
    api("POST", "/config/check", {index: editing.index, task: task}).then(function (r) {
      // Only the answer to the newest question: an older one may arrive last.
      if (r.status === 200 && editing && asked === checks) showProblems(r.data.problems, task, r.data.schedule);
    });
  }, 250);
}

function showProblems(problems, task, schedule) {
  var general = [];
  Array.prototype.forEach.call(document.querySelectorAll(".field-problem"), function (p) {
    p.textContent = "";
    p.className = "field-problem";
  });
  problems.forEach(function (p) {
    if (editing && !editing.tried && !(p.field ? editing.touched[p.field] : Object.keys(editing.touched).length)) return;
    var box = p.field && document.querySelector(".field-problem[data-field=" + p.field + "]");
    if (box && p.note) box.className = "field-problem note";  // what a run would find now: not a mistake
    if (box) box.textContent = (box.textContent ? box.textContent + " " : "") + p.message;
    else general.push(p.message);
  });
  if (task.timestamp === "") {
    document.querySelector(".field-problem[data-field=timestamp]").textContent = "Tick at least one day.";
  }
  $("ed-problem").textContent = general.join(" ");
  $("ed-next").textContent = !task.timestamp ? "Runs only when you press \"Back up now\"." : schedule
    ? schedule.describe + ". Next: " + schedule.next.map(when).join("; ") + "." : "";
}

function save(event) {
  event.preventDefault();
  editing.tried = true;
  var task = formTask(), status = $("ed-status");
  if (!task.name) task.name = suggestedName() || null;  // the grey name shown is the one it gets
  status.className = "progress";
  status.textContent = "Saving...";
  var body = {version: editing.version, task: task};
  if (editing.index !== null) {  // only what was changed: a hand edit of another field stays
    body.task = changed(task, editing.shown);
    body.name = taskName(editing.task);  // (config_edit.shown_name: "SRC -> DEST" for a task without one)
  }
  var path = editing.index === null ? "/config/tasks" : "/config/tasks/" + editing.index;
  api("POST", path, body).then(function (r) {
    if (r.status === 200 && task.name) delete deletedTasks[task.name];  // added again under that name
    saved(r, "Saved.");
  },
    function () { status.textContent = "Cannot reach the backup server."; });
}

function changed(task, shown) {
  var out = {};
  Object.keys(task).forEach(function (k) {
    if (JSON.stringify(task[k]) !== JSON.stringify(shown[k])) out[k] = task[k];
  });
  return out;
}

// config.json changed since the form was filled (409): the task is found again by its name (another
// may have taken its place), the changes typed stay in the form and are sent against the file as it is now.
function relocate(data) {
  listing = data;
  editing.version = data.version;
  if (editing.index === null) return true;
  var i = data.tasks.map(taskName).indexOf(taskName(editing.task));
  if (i < 0) {
    closeEditor();
    showProblem(data.message + " The backup " + taskName(editing.task) + " is not in it any more.");
    return false;
  }
  editing.index = i;
  editing.task = data.tasks[i];
  return true;
}

function saved(r, text) {
  var status = $("ed-status");
  if (r.status === 200) {
    listing = r.data;
    $("first-start").hidden = !listing.first_start;
    closeEditor();
    $("ed-status").textContent = "";
    ticks = 0;
    refresh();
    showProblem("");
    $("add-status").textContent = text;
    return;
  }
  status.className = "progress bad";
  if (r.status === 409) {  // edited meanwhile: take the file as it is now, keep what was typed
    if (!relocate(r.data)) return;
    status.textContent = r.data.message;
  } else if (r.status === 400 && r.data.problems) {
    showProblems(r.data.problems.filter(function (p) { return !p.note; }), formTask(), null);
    status.textContent = "Not saved: correct what is shown in red.";
  } else {
    status.textContent = r.data.message || "Not saved (" + r.status + ").";
  }
}

function deleteTask() {
  var button = $("ed-delete");
  if (button.textContent !== "Really delete it? (its backups stay)") {
    button.textContent = "Really delete it? (its backups stay)";
    return;
  }
  api("DELETE", "/config/tasks/" + editing.index, {version: editing.version, name: taskName(editing.task)})
  .then(function (r) {
    if (r.status === 409) button.textContent = "Delete this backup";  // asked again, about the file as it is now
    if (r.status === 200) deletedTasks[taskName(editing.task)] = true;
    saved(r, deletedText(editing && editing.task));
  });
}

// What a deletion leaves: the backups there are (the page's last status), or that none was made.
function deletedText(task) {
  var item = task && lastReport && lastReport.tasks.filter(function (t) { return t.name === taskName(task); })[0];
  if (item && item.snapshots > 0) {
    return "Deleted; its " + item.snapshots + (item.snapshots === 1 ? " backup stays" : " backups stay") + " in " +
      item.dest + ".";
  }
  return "Deleted; it had made no backup.";
}

// -- the folder chooser: the server's drives, then one folder at a time -----------
function browse(input) {
  choosing = {input: input, path: null};
  $("chooser").hidden = false;
  var start = $(input).value.trim();
  // Where the backups go is usually a folder still to be made: start in the one it would be made in.
  if (input === "ed-dest") start = start.replace(/[\\/]+[^\\/]+[\\/]*$/, "") || start;
  showFolder(start && /^([A-Za-z]:)?[\\/]/.test(start) ? start : "");
}

function showFolder(path) {
  api("GET", "/folders" + (path ? "?path=" + encodeURIComponent(path) : "")).then(function (r) {
    if (r.status === 404 && path) { showFolder(""); return; }
    if (r.status !== 200) { $("ch-where").textContent = r.data.message || "Cannot list it."; return; }
    var list = $("ch-list"), d = r.data;
    choosing.path = d.path;
    choosing.backups = !!d.backups;
    clear(list);
    $("ch-where").textContent = d.path ? "In " + d.path + ":" : "Choose a drive or a place to start from:";
    $("ch-choose").hidden = !d.path;
    $("ch-choose").textContent = choosing.input !== "ed-dest" ? "Choose this folder" : d.backups
      ? "Back up into this folder (it holds backups already)" : destWords(d);
    if (d.path) list.appendChild(folderItem(d.parent ? "\u2191 Up" : "\u2191 Drives", d.parent || ""));
    (d.drives || []).forEach(function (p) {
      var about = p.kind === "home" ? "" : " (" + {fixed: "disk", removable: "removable drive", network:
        "network share", cd: "CD/DVD"}[p.kind] + (p.free !== null ? ", " + humanBytes(p.free) + " free" : "") + ")";
      list.appendChild(folderItem(p.label + about, p.path));
    });
    d.folders.forEach(function (f) { list.appendChild(folderItem(f.name, f.path)); });
    if (d.path && !d.folders.length) list.appendChild(el("li", "dim", "No folders in it."));
  });
}

// The backups go into a folder of their own, named after the backup, in
// the folder chosen (the run makes it); a folder that holds backups already
// is taken as it is, as is a folder to back up.
function chosen(input, path) {
  if (input !== "ed-dest" || choosing.backups) return path;
  var sep = path.indexOf("\\") >= 0 ? "\\" : "/";
  return path.replace(/[\\/]$/, "") + sep + destName();
}

function destName() {
  return ($("ed-name").value.trim() || suggestedName() || "Backup").replace(/[\\/:*?"<>|]/g, "_");
}

// The button's words say which folder the backups will go into, and whether it is new.
function destWords(d) {
  var name = destName(), there = d.folders.some(function (f) { return f.name === name; });
  return "Back up into " + (there ? "the folder " + name + " here" : "a new folder " + name + " here");
}

function folderItem(text, path) {
  var li = el("li"), b = el("button", "link", text);
  b.type = "button";
  b.addEventListener("click", function () { showFolder(path); });
  li.appendChild(b);
  return li;
}

// The name a new backup gets when none is typed: the last folder of what it backs up ("Documents").
function showSuggestedName() {
  $("ed-name").placeholder = suggestedName() || "Documents";
}

function suggestedName() {
  var parts = $("ed-src").value.trim().split(/[\\/]+/).filter(function (s) { return s && !/^[A-Za-z]:$/.test(s); });
  return parts.length ? parts[parts.length - 1] : "";
}

document.addEventListener("DOMContentLoaded", function () {
  var days = $("ed-days");
  DAYS.forEach(function (d) {
    var label = el("label", "day"), box = el("input");
    box.type = "checkbox";
    box.id = "ed-day-" + d;
    label.appendChild(box);
    label.appendChild(document.createTextNode(" " + d));
    days.appendChild(label);
  });
  $("add-task").addEventListener("click", function () { loadTasks().then(function (l) { if (l) openEditor(null); }); });
  $("editor").addEventListener("submit", save);
  $("editor").addEventListener("input", function (event) {
    touched(event);
    if (event.target.id === "ed-src") showSuggestedName();
    check();
  });
  $("editor").addEventListener("change", function (event) {
    touched(event);
    if (event.target.id === "ed-when") showWhenDetails();
    if (event.target.id === "ed-keep") $("ed-keep-custom").hidden = $("ed-keep").value !== "custom";
    if (event.target.id === "ed-remote" && $("ed-remote").value) {
      var rest = $("ed-offsite").value.split(":").slice(1).join(":") || ($("ed-name").value.trim() || "backup");
      $("ed-offsite").value = $("ed-remote").value + rest;
    }
    check();
  });
  $("ed-cancel").addEventListener("click", closeEditor);
  $("ed-delete").addEventListener("click", deleteTask);
  Array.prototype.forEach.call(document.querySelectorAll("[data-browse]"), function (b) {
    b.addEventListener("click", function () { browse(b.getAttribute("data-browse")); });
  });
  $("ch-choose").addEventListener("click", function () {
    $(choosing.input).value = chosen(choosing.input, choosing.path);
    if (editing) editing.touched[FIELDS[choosing.input]] = true;
    if (choosing.input === "ed-src") showSuggestedName();
    $("chooser").hidden = true;
    check();
  });
  $("ch-close").addEventListener("click", function () { $("chooser").hidden = true; });
});
