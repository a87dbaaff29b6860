// Files back from a snapshot: its folders one at a time (a page of names at
// a time), a file downloaded as it was, a folder or file restored into a new
// folder beside the original. Uses page.js's api(), el(), clear(), when(),
// humanBytes() and plural(); every value is shown with textContent.
"use strict";

var FILES_PAGE = 200;
var browsing = null;   // {task, snapshot, path}

function openSnapshot(task, snapshot) {
  browsing = {task: task, snapshot: snapshot, path: ""};
  $("files").hidden = false;
  $("files-status").textContent = "";
  listFolder("", 0);
  $("files").scrollIntoView();
}

function snapshotUrl(kind, path) {
  return "/" + kind + "/" + encodeURIComponent(browsing.task) + "/" + encodeURIComponent(browsing.snapshot) +
    "?path=" + encodeName(path);
}

// encodeURIComponent, except that a lone surrogate is sent as its three
// bytes (WTF-8) where encodeURIComponent throws: the name of a file that is
// not valid UTF-8 on Linux, or a Windows name holding one, reaches the page
// so (as \udcff); the server decodes the path with surrogatepass.
function encodeName(text) {
  var out = "", i, c, d;
  for (i = 0; i < text.length; i++) {
    c = text.charCodeAt(i);
    d = i + 1 < text.length ? text.charCodeAt(i + 1) : 0;
    if (c >= 0xd800 && c <= 0xdbff && d >= 0xdc00 && d <= 0xdfff) {
      out += encodeURIComponent(text.substr(i, 2));
      i++;
    } else if (c >= 0xd800 && c <= 0xdfff) {
      out += [0xe0 | c >> 12, 0x80 | (c >> 6) & 0x3f, 0x80 | c & 0x3f].map(function (b) {
        return "%" + b.toString(16).toUpperCase();
      }).join("");
    } else {
      out += encodeURIComponent(text.charAt(i));
    }
  }
  return out;
}

function listFolder(path, offset) {
  var wanted = browsing;
  api("GET", snapshotUrl("files", path) + "&offset=" + offset + "&limit=" + FILES_PAGE).then(function (r) {
    if (wanted !== browsing) return;  // another snapshot was opened meanwhile
    if (r.status !== 200) { $("files-status").textContent = r.data.message || "Cannot list it (" + r.status + ")."; return; }
    var body = $("files-list").tBodies[0];
    if (offset === 0) { clear(body); browsing.path = path; showWhere(); }
    r.data.entries.forEach(function (e) { body.appendChild(entryRow(e)); });
    if (!r.data.total) body.appendChild(el("tr")).appendChild(el("td", null, "This folder is empty.")).colSpan = 4;
    var more = $("files-more"), next = offset + r.data.entries.length;
    more.hidden = next >= r.data.total;
    more.textContent = "Show " + Math.min(FILES_PAGE, r.data.total - next) + " more of " + (r.data.total - next);
    more.onclick = function () { listFolder(path, next); };
  }, function () { $("files-status").textContent = "Cannot reach the backup server."; });
}

// Where we are: task > snapshot > each folder, each a link back up.
function showWhere() {
  var nav = $("files-where");
  clear(nav);
  var parts = browsing.path ? browsing.path.split("/") : [];
  var crumbs = [[browsing.task + " \u203a " + browsing.snapshot, ""]];
  parts.forEach(function (name, i) { crumbs.push([name, parts.slice(0, i + 1).join("/")]); });
  crumbs.forEach(function (crumb, i) {
    if (i) nav.appendChild(document.createTextNode(" / "));
    if (i === crumbs.length - 1) { nav.appendChild(el("strong", null, crumb[0])); return; }
    var b = el("button", "link", crumb[0]);
    b.type = "button";
    b.addEventListener("click", function () { listFolder(crumb[1], 0); });
    nav.appendChild(b);
  });
  var restoreHere = el("button", null, browsing.path ? "Restore this folder" : "Restore everything");
  restoreHere.type = "button";
  restoreHere.addEventListener("click", function () { restoreFromPage(browsing.path); });
  nav.appendChild(document.createTextNode(" "));
  nav.appendChild(restoreHere);
}

function entryRow(e) {
  var tr = el("tr"), name = el("td", "name");
  if (e.kind === "dir") {
    var open = el("button", "link", e.name + "/");
    open.type = "button";
    open.addEventListener("click", function () { listFolder(e.path, 0); });
    name.appendChild(open);
  } else {
    name.textContent = e.name + (e.kind === "link" ? " (symbolic link)" : "");
  }
  tr.appendChild(name);
  tr.appendChild(el("td", null, e.kind === "file" ? humanBytes(e.size) : ""));
  tr.appendChild(el("td", null, e.modified ? when(e.modified) : ""));
  var actions = el("td", "actions");
  if (e.kind === "file") actions.appendChild(action("Download", function () { download(e); }));
  actions.appendChild(action("Restore", function () { restoreFromPage(e.path); }));
  tr.appendChild(actions);
  return tr;
}

function action(text, onClick) {
  var b = el("button", null, text);
  b.type = "button";
  b.addEventListener("click", onClick);
  return b;
}

// A download needs the CSRF header, so it is fetched, then saved from memory.
function download(e) {
  var status = $("files-status");
  status.textContent = "Downloading " + e.name + "...";
  fetch(snapshotUrl("download", e.path), {credentials: "same-origin", cache: "no-store",
                                          headers: {"X-CSRF-Token": csrf}}).then(function (response) {
    if (!response.ok) throw new Error("the server answered " + response.status);
    return response.blob();
  }).then(function (blob) {
    var a = el("a");
    a.href = URL.createObjectURL(blob);
    a.download = e.name;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(function () { URL.revokeObjectURL(a.href); }, 60000);
    status.textContent = "Downloaded " + e.name + " (" + humanBytes(blob.size) + ").";
  }).catch(function (err) { status.textContent = "Could not download " + e.name + ": " + err.message; });
}

// A restore asks what and where first (a new folder beside the original, or
// back in place keeping what differs), showing what it would do; "Restore"
// starts it once: the button is off until the question is asked again.
var asking = null;     // {task, snapshot, path, where}
var restoring = false; // a restore started here is running

function restoreFromPage(path) {
  var status = $("files-status");
  if (restoring) { status.textContent = "A restore is running: wait for it to finish."; return; }
  status.textContent = "";  // the last restore's result is not this one's
  status.className = "progress";
  asking = {task: browsing.task, snapshot: browsing.snapshot, path: path, where: "new"};
  $("ra-what").textContent = "Restore " + (path || "everything") + " from the copy of " +
    snapshotWhen(browsing.snapshot) + ":";
  $("ra-new").checked = true;
  $("restore-ask").hidden = false;
  $("restore-ask").scrollIntoView();
  preview();
}

// A snapshot's name (its local start time, 2026-12-06_19-36-05) in words.
function snapshotWhen(name) {
  var m = /^(\d{4})-(\d{2})-(\d{2})_(\d{2})-(\d{2})-(\d{2})/.exec(name);
  if (!m) return name;
  var d = new Date(+m[1], m[2] - 1, +m[3], +m[4], +m[5], +m[6]);
  return d.toLocaleString(undefined, {weekday: "short", year: "numeric", month: "short", day: "numeric",
                                      hour: "2-digit", minute: "2-digit", second: "2-digit"});
}

function preview() {
  var wanted = asking, text = $("ra-preview");
  $("ra-go").disabled = true;
  text.textContent = "Looking at what it would do...";
  api("POST", "/restore/" + encodeURIComponent(wanted.task),
      {snapshot: wanted.snapshot, path: wanted.path, where: wanted.where, preview: true}).then(function (r) {
    if (wanted !== asking) return;
    if (r.status !== 200) { text.textContent = r.data.message || "Cannot restore it (" + r.status + ")."; return; }
    var p = r.data;
    text.textContent = (p.where === "new" ? "Into the new folder " : "Back into ") + p.target + ": " +
      plural(p.files, "file") + " (" + humanBytes(p.bytes) + ") to write" +
      (p.kept_aside ? "; " + plural(p.kept_aside, "file") + " there that differ" + (p.kept_aside === 1 ? "s" : "") +
        " kept beside, renamed" : "") +
      (p.unchanged ? "; " + plural(p.unchanged, "file") + " already the same, left as " +
        (p.unchanged === 1 ? "it is" : "they are") : "") + ".";
    $("ra-go").disabled = false;
  }, function () { text.textContent = "Cannot reach the backup server."; });
}

function startRestore() {
  var wanted = asking, status = $("files-status"), what = wanted.path || "everything";
  $("ra-go").disabled = true;
  $("restore-ask").hidden = true;
  asking = null;
  restoring = true;
  status.className = "progress";
  status.textContent = "Starting the restore of " + what + "...";
  api("POST", "/restore/" + encodeURIComponent(wanted.task),
      {snapshot: wanted.snapshot, path: wanted.path, where: wanted.where}).then(function (r) {
    if (r.status !== 202) { restoring = false; status.textContent = r.data.message || "Could not start (" + r.status + ")."; return; }
    followRestore(r.data.status_url, what, r.data.target);
  }, function () { restoring = false; status.textContent = "Cannot reach the backup server."; });
}

function followRestore(url, what, target) {
  var status = $("files-status");
  api("GET", url).then(function (r) {
    var job = r.data;
    if (r.status === 200 && job.status === "running") {
      status.textContent = "Restoring " + what + ": " + plural(job.files, "file") + ", " + humanBytes(job.bytes) + "...";
      setTimeout(function () { followRestore(url, what, target); }, 1000);
      return;
    }
    restoring = false;
    if (r.status !== 200) { status.textContent = r.data.message || "The restore was lost."; return; }
    status.className = "progress " + (job.status === "success" ? "good" : job.status === "failed" ? "bad" : "warn");
    status.textContent = job.status === "success" || job.status === "partial"
      ? "Restored " + plural(job.files, "file") + " (" + humanBytes(job.bytes) + ") into " + target +
        (job.kept_aside ? "; " + plural(job.kept_aside, "file") + " that differed kept beside, renamed " +
          "NAME.before-restore-TIME.EXT" : "") +
        (job.errors.length ? "; " + plural(job.errors.length, "file") + " could not be restored: " +
          job.errors.join("; ") : ".")
      : "The restore " + job.status + ": " + (job.message || "see the log");
  }, function () { setTimeout(function () { followRestore(url, what, target); }, 2000); });
}

document.addEventListener("DOMContentLoaded", function () {
  $("ra-go").addEventListener("click", startRestore);
  $("ra-cancel").addEventListener("click", function () { asking = null; $("restore-ask").hidden = true; });
  ["ra-new", "ra-original"].forEach(function (id) {
    $(id).addEventListener("change", function () { if (asking) { asking.where = $(id).value; preview(); } });
  });
});
