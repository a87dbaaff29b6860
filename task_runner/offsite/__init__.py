"""The offsite copy: every snapshot also goes to an rclone remote.

rclone is the only outside program the project uses, and only for a task
with ``offsite``. One module per concern:

* ``rclone``: finding and running rclone (arguments as a list, never a
  shell), its exit codes and errors in plain words, secrets removed from
  everything it says.
* ``layout``: what a remote snapshot is (a folder or ZIP of the snapshot's
  name, and a manifest uploaded last), building and reading manifests.
* ``upload``: one local snapshot to the remote; ``reuse``: how the files
  unchanged since the previous remote snapshot get there unsent.
* ``cleanup``: what an upload deletes on the remote: retention, incomplete
  uploads, room on a full remote.
* ``remote``: listing the remote's snapshots, restoring and verifying from it.
* ``service``: when an upload runs (after a run, retries), its records and
  notifications, what is pending (status, page, metrics).
"""
