"""The ZIP writer: one archive per snapshot (deflate, ZIP64 when needed).

How each entry keeps its name, time and mode is decided in
snapshots.zipped.zip_entry; this module writes the entries as the walk brings them.
"""

import time
import zipfile

from .. import console
from ..snapshots import zipped as snapshot_zip
from ..fs import osutil
from ..errors import BackupError
from ..fs.fileio import CHUNK
from .walk import reason
from .writers import Writer, dest_hint


class ZipWriter(Writer):
    """Writes a ZIP archive (deflate, ZIP64 when needed; entries made by
    snapshots.zipped.zip_entry, which knows how names, times and modes are kept)."""

    def __init__(self, root, stats, ops, stop_event):
        super(ZipWriter, self).__init__(root, stats, ops, stop_event)
        try:
            self.zip = zipfile.ZipFile(root, "w", zipfile.ZIP_DEFLATED, allowZip64=True)
        except OSError as exc:
            raise BackupError("cannot write to the destination %s: %s" % (root, exc.strerror or exc))

    def dest_error(self, exc, rel):
        # An archive is one stream: after a failed write nothing more can be
        # added to it safely, so any write error fails the run.
        raise BackupError("cannot write the archive (%s) while adding %s: %s"
                          % (dest_hint(exc), console.printable(rel), exc.strerror or exc))

    def _entry(self, rel, st, kind):
        info, clamped = snapshot_zip.zip_entry(rel, st, kind)
        if clamped:
            self.stats.warn("%s: modification time %s cannot be stored in a ZIP archive; stored as %s"
                            % (rel, time.strftime("%Y-%m-%d", time.gmtime(max(st.st_mtime, 0))), clamped))
        return info

    def dir(self, rel, entry, st):
        try:
            self.zip.writestr(self._entry(rel, st, "dir"), b"")
        except OSError as exc:
            self.dest_error(exc, rel)
        return True

    def end(self, rel, st):
        pass

    def file(self, rel, entry, st):
        fd_in = self.open_source(entry.path, rel, st)
        if fd_in is None:
            return
        copied = 0
        read_error = None
        try:
            with self.zip.open(self._entry(rel, st, "file"), "w") as out:
                while True:
                    self.check_stop()
                    try:
                        buf = self.ops.read(fd_in, CHUNK)
                    except OSError as exc:
                        read_error = exc
                        break
                    if not buf:
                        break
                    out.write(buf)
                    copied += len(buf)
        except OSError as exc:
            self.dest_error(exc, rel)
        finally:
            self.ops.close(fd_in)
        if read_error is not None:
            # An archive entry cannot be taken back: keep it, and say it is short.
            self.stats.skip(rel, "read error after %d bytes, the archive holds only those: %s"
                            % (copied, reason(read_error)))
            return
        self.counted(rel, st, copied)

    def link(self, rel, entry, st):
        target = self.read_link(entry, rel)
        if target is None:
            return
        try:
            self.zip.writestr(self._entry(rel, st, "link"), osutil.name_to_bytes(target))
        except OSError as exc:
            self.dest_error(exc, rel)
            return
        self.stats.add_symlink()

    def close(self, top):
        """Finish the archive, keeping the source folder's own mode and time
        (``top``: its stat) in its comment."""
        self.zip.comment = snapshot_zip.zip_root_comment(top)
        try:
            self.zip.close()
        except OSError as exc:
            self.dest_error(exc, "the archive's directory")

    def abandon(self):
        """Close the file without finishing the archive, so that it can be
        deleted (Windows) and zipfile does not try to finish it later."""
        fp, self.zip.fp = self.zip.fp, None
        if fp is not None:
            try:
                fp.close()
            except OSError:
                pass
