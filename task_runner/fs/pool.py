"""A bounded pool of worker threads for the per-file work of a snapshot.

On a network share every file costs round trips (open, write, set times,
close, link), and one thread spends almost all its time waiting; several
threads wait at once (like robocopy /MT). Threads are enough: the
interpreter lock is released during each system call.

The walk, the decisions and the tally stay in the thread that submits;
workers only carry jobs out. Jobs are handed over in batches of files of
one folder, so that workers mostly work in different folders: a file
system client serialises the creation of files in one folder (the
folder's lock), not across folders. The queue holds a few batches per
worker, so memory stays flat however large the tree. With one worker
there is no thread at all: each job runs at once in the calling thread,
exactly as before the pool existed.
"""

import contextlib
import queue
import threading

from . import priority

# "parallel": "auto" gives a local disk one worker (more only compete for
# the disk) and a network file system this many (bench/share.py).
AUTO_NETWORK = 16
MAX_WORKERS = 64
BATCH = 128  # jobs of one folder given to one worker at a time
_QUEUED_PER_WORKER = 2  # batches waiting per worker
_POLL = 0.1  # seconds between checks for a stop while waiting


def workers_for(parallel, network, where="the destination"):
    """(number of workers, why) for the task's ``parallel`` ("auto" or a
    number) and the network file system holding ``where`` (the
    destination; a restore's target or snapshot) (filesystems.network_filesystem:
    a name, or None for a local disk)."""
    if parallel != "auto":
        return parallel, "\"parallel\": %d" % parallel
    if network is None:
        return 1, "%s is on a local disk (\"parallel\": \"auto\")" % where
    return AUTO_NETWORK, "%s is on a network file system, %s (\"parallel\": \"auto\")" % (where, network)


class Pool(object):
    """Runs submitted jobs (callables without arguments) in ``workers``
    threads, at low priority when ``low_priority``. ``check_stop()`` is
    called while the submitting thread waits for room, and raises to stop.

    The first exception a job raises (a fatal destination error, a stop)
    stops the pool: the jobs not started are dropped and the exception is
    raised in the submitting thread by the next ``submit`` or ``finish``.
    """

    def __init__(self, workers, check_stop=None, low_priority=False, log=None):
        self.workers = max(1, workers)
        self._check_stop = check_stop
        self._abort = threading.Event()
        self._error = None
        self._batch, self._group = [], None
        self._threads = []
        self._priority = (low_priority, log)

    def _start(self):
        """The threads, at the first job: a run that fails before it has
        none to end."""
        self._queue = queue.Queue(maxsize=self.workers * _QUEUED_PER_WORKER)
        self._alive = self.workers
        self._lock = threading.Lock()
        self._all_done = threading.Event()
        for number in range(self.workers):
            thread = threading.Thread(target=self._work, args=self._priority, name="copy-%d" % (number + 1))
            thread.daemon = True  # a copy hung on a dead share must not keep the process alive
            thread.start()
            self._threads.append(thread)

    def stopping(self):
        """True once the pool is stopping: a job that sees it should end."""
        return self._abort.is_set()

    def submit(self, group, job):
        """Run ``job``; ``group`` (its folder: an object or a path, compared
        with ==) decides the batch it joins."""
        if self.workers == 1:
            job()
            return
        if not self._threads:
            self._start()
        if group != self._group or len(self._batch) >= BATCH:
            self._flush()
            self._group = group
        self._batch.append(job)

    def finish(self):
        """Wait until every submitted job is done; raise the first error."""
        if not self._threads:
            return
        self._flush()
        for _ in self._threads:
            self._put(None)
        self._wait()
        self._raise_error()

    def abort(self):
        """Stop: drop the jobs not started, wait for the ones running (they
        see ``stopping()``), and return. Called from the submitting thread."""
        self._abort.set()
        if not self._threads:
            return
        self._batch = []
        with contextlib.suppress(queue.Empty):
            while True:
                self._queue.get_nowait()
        for _ in self._threads:
            with contextlib.suppress(queue.Full):
                self._queue.put_nowait(None)
        self._wait()

    def _flush(self):
        if self._batch:
            batch, self._batch = self._batch, []
            self._put(batch)

    def _put(self, item):
        while True:
            self._raise_error()
            if self._check_stop is not None:
                self._check_stop()
            try:
                self._queue.put(item, timeout=_POLL)
                return
            except queue.Full:
                pass

    def _raise_error(self):
        if self._error is not None:
            raise self._error

    def _wait(self):
        # An Event, not Thread.join: a join interrupted by Ctrl+C marks a
        # running thread as stopped (bpo-45274); short waits let Windows
        # run its Ctrl+C handler.
        while not self._all_done.wait(_POLL):
            pass

    def _work(self, low_priority, log):
        try:
            with contextlib.ExitStack() as stack:
                if low_priority:
                    stack.enter_context(priority.background_priority(log))
                self._loop()
        finally:
            with self._lock:
                self._alive -= 1
                if not self._alive:
                    self._all_done.set()

    def _loop(self):
        while True:
            batch = self._queue.get()
            if batch is None:
                return
            for job in batch:
                if self._abort.is_set():
                    break
                try:
                    job()
                except BaseException as exc:  # handed to the submitting thread
                    with self._lock:
                        if self._error is None:
                            self._error = exc
                    self._abort.set()
                    break
