"""Files back from the status page, on real sockets: browse a snapshot one
folder at a time (paged), download a file as it was, restore into a new
folder; and what a hostile client tries: traversal, links, odd names."""

import http.client
import io
import json
import os
import re
import socket
import unittest
from urllib.parse import quote

from task_runner.http import files, streams
from task_runner.http.auth import HttpError
from task_runner.runs.runner import run_task
from task_runner.runs.locks import task_lock
from tests.helpers import wait_for
from tests.test_http import HttpTestCase

ODD = "odd \"quote\" %20 ; back\\slash \u00e9\u65e5 <b>.txt" if os.name != "nt" else "odd %20 ; \u00e9\u65e5.txt"


class FilesTest(HttpTestCase):
    def setUp(self):
        super(FilesTest, self).setUp()
        self.write("src/docs/letter.txt", "dear reader")
        self.write("src/docs/" + ODD, "odd name")
        self.write("src/big.bin", os.urandom(300000))
        for i in range(25):
            self.write("src/many/f%02d.txt" % i, str(i))
        if os.name != "nt":
            os.symlink(self.path("src2"), self.path("src", "link"))
        outcome = run_task(self.config, self.config.tasks[0], "manual")
        self.assertEqual(outcome.status, "success")
        self.snapshot = os.path.basename(outcome.record["snapshot"])

    def get_raw(self, path):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        conn.request("GET", path, headers={"Authorization": "Bearer " + self.token})
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        return resp, data

    def files(self, path="", **query):
        q = "&".join("%s=%s" % (k, v) for k, v in sorted(dict(query, path=quote(path)).items()))
        return self.request("GET", "/files/T/%s?%s" % (self.snapshot, q))

    def test_one_folder_at_a_time_and_paged(self):
        status, data, _ = self.files()
        self.assertEqual(status, 200, data)
        names = [(e["name"], e["kind"]) for e in data["entries"]]
        self.assertIn(("docs", "dir"), names)
        self.assertIn(("big.bin", "file"), names)
        self.assertEqual([e["size"] for e in data["entries"] if e["name"] == "big.bin"], [300000])
        status, data, _ = self.files("many", limit=10, offset=20)
        self.assertEqual((status, data["total"], [e["name"] for e in data["entries"]]),
                         (200, 25, ["f%02d.txt" % i for i in range(20, 25)]))
        status, data, _ = self.files("docs")
        self.assertIn(ODD, [e["name"] for e in data["entries"]])

    def test_download_is_the_file_as_it_was(self):
        for rel in ("big.bin", "docs/" + ODD):
            with self.subTest(rel=rel):
                resp, data = self.get_raw("/download/T/%s?path=%s" % (self.snapshot, quote(rel)))
                self.assertEqual(resp.status, 200)
                self.assertEqual(resp.getheader("Content-Type"), "application/octet-stream")
                self.assertEqual(resp.getheader("X-Content-Type-Options"), "nosniff")
                with open(self.path("src", *rel.split("/")), "rb") as f:
                    self.assertEqual(data, f.read())
                disposition = resp.getheader("Content-Disposition")
                self.assertTrue(disposition.startswith("attachment; filename=\""), disposition)
                self.assertNotIn("\n", disposition)
                self.assertIn("filename*=UTF-8''" + quote(os.path.basename(rel).encode("utf-8"), safe=""),
                              disposition)

    @unittest.skipIf(os.name == "nt", "a name that is not valid UTF-8 exists on Linux")
    def test_a_name_that_is_not_utf8_can_be_opened_and_downloaded(self):
        # Found from outside: the page could list such a name (JSON "\udcff")
        # but not open or download it: encodeURIComponent throws on a lone
        # surrogate. The page sends it as its WTF-8 bytes (files.js encodeName).
        os.makedirs(os.path.join(self.path("src").encode(), b"caf\xe9"))
        with open(os.path.join(self.path("src").encode(), b"caf\xe9", b"n\xffte.txt"), "wb") as f:
            f.write(b"latin-1 named")
        snapshot = os.path.basename(run_task(self.config, self.config.tasks[0], "manual").record["snapshot"])

        def wtf8(name):  # what encodeName sends
            return quote(name.encode("utf-8", "surrogatepass"), safe="")
        status, data, _ = self.request("GET", "/files/T/%s?path=" % snapshot)
        folder = [e["name"] for e in data["entries"] if e["name"].startswith("caf")]
        self.assertEqual(folder, ["caf\udce9"])
        status, data, _ = self.request("GET", "/files/T/%s?path=%s" % (snapshot, wtf8(folder[0])))
        self.assertEqual((status, [e["path"] for e in data["entries"]]), (200, ["caf\udce9/n\udcffte.txt"]))
        resp, body = self.get_raw("/download/T/%s?path=%s" % (snapshot, wtf8(data["entries"][0]["path"])))
        self.assertEqual((resp.status, body), (200, b"latin-1 named"))
        self.assertEqual(resp.getheader("Content-Disposition"),  # a byte that is not UTF-8 saves as "_", not "?"
                         "attachment; filename=\"n_te.txt\"; filename*=UTF-8''n_te.txt")
        status, data, _ = self.request("GET", "/files/T/%s?path=caf%%E9" % snapshot)  # not UTF-8 at all
        self.assertEqual((status, data["error"]), (400, "bad_request"))

    def test_entries_of_a_zip_that_would_leave_it_are_not_listed(self):
        # Found from outside: a hostile ZIP's "../../x", "/tmp/x" and "a/../b" were listed as "", ".." and
        # "/tmp" (opening them gave 400). Restore refuses them as errors; browsing never meets them.
        import zipfile
        os.makedirs(self.path("zdest"))
        with zipfile.ZipFile(self.path("zdest", "2026-11-05_10-00-00.zip"), "w") as zf:
            for name in ("../../evil.txt", "/tmp/abs.txt", "a/../b.txt", "ok/fine.txt"):
                zf.writestr(name, "x")
        zconfig = self.make_config(tasks=[{"name": "T", "src": "src", "dest": "zdest", "format": "zip"}])
        self.app.watcher = type("W", (), {"current": staticmethod(lambda: zconfig)})()
        status, listing, _ = self.request("GET", "/files/T/2026-11-05_10-00-00.zip?path=")
        self.assertEqual((status, [(e["name"], e["path"]) for e in listing["entries"]]), (200, [("ok", "ok")]))

    def test_a_zip_snapshot_streams_too(self):
        zconfig = self.make_config(tasks=[{"name": "T", "src": "src", "dest": "zdest", "format": "zip",
                                           "default": True}])
        outcome = run_task(zconfig, zconfig.tasks[0], "manual", clock=lambda: 1.9e9)
        self.app.watcher = type("W", (), {"current": staticmethod(lambda: zconfig)})()
        name = os.path.basename(outcome.record["snapshot"])
        resp, data = self.get_raw("/download/T/%s?path=big.bin" % name)
        with open(self.path("src", "big.bin"), "rb") as f:
            self.assertEqual((resp.status, data), (200, f.read()))
        status, listing, _ = self.request("GET", "/files/T/%s?path=docs" % name)
        self.assertEqual(sorted(e["name"] for e in listing["entries"]), sorted([ODD, "letter.txt"]))

    def test_paths_that_could_leave_the_snapshot_are_refused(self):
        for bad in ("../dest", "/etc/passwd", "docs/../..", "docs//letter.txt", "./docs", "docs/\x00"):
            with self.subTest(path=bad):
                status, data, _ = self.files(bad)
                self.assertEqual(status, 400, data)
        status, data, _ = self.request("GET", "/files/T/..%2F..?path=")
        self.assertEqual(status, 404)
        status, data, _ = self.request("GET", "/files/T/%s.partial?path=" % self.snapshot)
        self.assertEqual(status, 404)

    @unittest.skipIf(os.name == "nt", "symbolic links")
    def test_nothing_is_reached_through_a_link_of_the_snapshot(self):
        self.write("src2/secret.txt", "not in this snapshot")
        status, data, _ = self.files("link")
        self.assertEqual(status, 404, data)
        resp, _ = self.get_raw("/download/T/%s?path=link/secret.txt" % self.snapshot)
        self.assertEqual(resp.status, 404)
        status, data, _ = self.request("POST", "/restore/T", json.dumps({"snapshot": self.snapshot,
                                                                          "path": "link/secret.txt"}),
                                       {"Content-Type": "application/json"})
        self.assertEqual(status, 404)

    def test_restore_a_folder_into_a_new_folder_beside_src(self):
        status, job, _ = self.request("POST", "/restore/T", json.dumps({"snapshot": self.snapshot, "path": "docs"}),
                                      {"Content-Type": "application/json"})
        self.assertEqual(status, 202, job)
        self.assertEqual(os.path.dirname(job["target"]), self.tmp)
        self.assertTrue(wait_for(lambda: self.request("GET", job["status_url"])[1]["status"] != "running"))
        status, done, _ = self.request("GET", job["status_url"])
        self.assertEqual((done["status"], done["files"]), ("success", 2), done)
        self.assertEqual(done["message"], "2 files (19 bytes) restored into %s" % job["target"])  # was null
        with open(os.path.join(job["target"], "docs", "letter.txt")) as f:
            self.assertEqual(f.read(), "dear reader")

    def test_the_page_is_told_what_a_restore_would_do_then_restores_back_in_place(self):
        self.write("src/docs/letter.txt", "changed since the backup")
        ask = {"snapshot": self.snapshot, "path": "docs", "preview": True}
        status, new, _ = self.request("POST", "/restore/T", json.dumps(ask))
        self.assertEqual(status, 200, new)
        self.assertEqual((new["where"], os.path.dirname(new["target"]), new["files"], new["kept_aside"]),
                         ("new", self.tmp, 2, 0))
        status, back, _ = self.request("POST", "/restore/T", json.dumps(dict(ask, where="original")))
        self.assertEqual((back["target"], back["files"], back["kept_aside"], back["unchanged"]),
                         (self.path("src"), 1, 1, 1))  # the letter differs, the odd name is the same
        self.assertEqual([n for n in os.listdir(self.tmp) if n.startswith("Restored")], [])  # a preview writes nothing
        with open(self.path("src", "docs", "letter.txt")) as f:
            self.assertEqual(f.read(), "changed since the backup")
        status, job, _ = self.request("POST", "/restore/T", json.dumps({"snapshot": self.snapshot, "path": "docs",
                                                                        "where": "original"}))
        self.assertEqual((status, job["target"]), (202, self.path("src")), job)
        self.assertTrue(wait_for(lambda: self.request("GET", job["status_url"])[1]["status"] != "running"))
        done = self.request("GET", job["status_url"])[1]
        self.assertEqual((done["status"], done["kept_aside"]), ("success", 1), done)
        with open(self.path("src", "docs", "letter.txt")) as f:
            self.assertEqual(f.read(), "dear reader")
        kept = [n for n in os.listdir(self.path("src", "docs")) if n.startswith("letter.before-restore-") and n.endswith(".txt")]
        self.assertEqual(len(kept), 1)
        with open(self.path("src", "docs", kept[0])) as f:
            self.assertEqual(f.read(), "changed since the backup")  # nothing is lost
        status, data, _ = self.request("POST", "/restore/T", json.dumps(dict(ask, where="elsewhere")))
        self.assertEqual(status, 400)

    def test_a_restore_waits_for_a_running_backup(self):
        held = task_lock(self.config, "T")
        self.assertTrue(held.acquire(timeout=0))
        try:
            status, data, _ = self.request("POST", "/restore/T", json.dumps({"snapshot": self.snapshot, "path": ""}),
                                           {"Content-Type": "application/json"})
        finally:
            held.release()
        self.assertEqual(status, 409, data)
        self.assertEqual([n for n in os.listdir(self.tmp) if n.startswith("Restored")], [])

    def test_a_sloppy_restore_request_is_refused(self):
        for body in ({"snapshot": self.snapshot}, {"snapshot": self.snapshot, "path": "", "to": "/tmp/x"},
                     {"snapshot": self.snapshot, "Path": "docs"}):
            with self.subTest(body=body):
                status, data, _ = self.request("POST", "/restore/T", json.dumps(body),
                                               {"Content-Type": "application/json"})
                self.assertEqual(status, 400, data)
        for query, message in [("limit=0", "limit must be a whole number from 1 to 1000"),
                               ("limit=abc", "limit must be a whole number from 1 to 1000"),  # one range, both
                               ("limit=%EF%BC%91", "limit must be a whole number from 1 to 1000"),
                               ("offset=-1", "offset must be a whole number from 0 to 1000000000")]:
            with self.subTest(query=query):
                status, data, _ = self.request("GET", "/files/T/%s?%s" % (self.snapshot, query))
                self.assertEqual((status, data["message"]), (400, message))
        self.assertEqual([n for n in os.listdir(self.tmp) if n.startswith("Restored")], [])

    def test_without_a_token_nothing(self):
        status, _, _ = self.request("GET", "/files/T/%s?path=" % self.snapshot, token=False)
        self.assertEqual(status, 401)
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        conn.request("GET", "/download/T/%s?path=big.bin" % self.snapshot)
        self.assertEqual(conn.getresponse().status, 401)
        conn.close()

    def download_while(self, change):
        """The body a raw client gets for a file of the snapshot that
        ``change(path)`` alters once the answer's headers have arrived;
        returns (announced Content-Length, body bytes received)."""
        path = self.path("dest", self.snapshot, "grows.bin")
        with open(path, "wb") as f:
            f.truncate(16 * 1024 * 1024)  # more than socket buffers hold: the server is mid-file
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.settimeout(10)
        s.connect(("127.0.0.1", self.port))
        with s:
            s.sendall(("GET /download/T/%s?path=grows.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                       "Authorization: Bearer %s\r\n\r\n" % (self.snapshot, self.token)).encode("ascii"))
            data = b""
            while b"\r\n\r\n" not in data:
                data += s.recv(1024)
            head, body = data.split(b"\r\n\r\n", 1)
            length = int(re.search(br"Content-Length: (\d+)", head).group(1))
            change(path)
            body += self._read_all(s)
        return length, len(body)

    def test_a_download_sends_exactly_the_announced_bytes(self):
        def grow(path):
            with open(path, "ab") as f:
                f.write(b"x" * 1024 * 1024)
        length, got = self.download_while(grow)
        self.assertEqual(length, 16 * 1024 * 1024)
        self.assertLess(got, length)  # cut short: an error for the client, never more than announced

        if os.name == "nt":
            return  # Windows refuses to rename a file that is open (the server's): it cannot be swapped

        def swap(path):
            os.rename(path, path + ".old")
            with open(path, "wb") as f:
                f.write(b"y" * 32 * 1024 * 1024)
        length, got = self.download_while(swap)
        self.assertLessEqual(got, length)

    def test_send_exactly(self):
        for data, size, sent, ok in ((b"abcdef", 6, b"abcdef", True), (b"abcdefgh", 6, b"abcd", False),
                                     (b"abc", 6, b"ab", False), (b"", 0, b"", True)):
            with self.subTest(data=data, size=size):
                out = []
                source = io.BytesIO(data)
                try:
                    streams.send_exactly(source.read, size, out.append, chunk=2)
                    done = True
                except streams.LengthChanged:
                    done = False
                self.assertEqual((b"".join(out), done), (sent, ok))


class ChecksTest(unittest.TestCase):
    def test_check_rel(self):
        self.assertEqual(files.check_rel(""), "")
        self.assertEqual(files.check_rel("a/b c"), os.path.join("a", "b c"))
        for bad in ("..", "a/../b", "/a", "a/", "a//b", ".", "a\x00"):
            with self.subTest(bad=bad):
                with self.assertRaises(HttpError):
                    files.check_rel(bad)

    def test_content_disposition_is_one_safe_line(self):
        got = files.content_disposition('a"b\\c;\r\nd\u00e9.txt')
        self.assertEqual(got, "attachment; filename=\"a_b_c___d_.txt\"; filename*=UTF-8''"
                              "a%22b%5Cc%3B%0D%0Ad%C3%A9.txt")


if __name__ == "__main__":
    unittest.main()
