"""Reading a request against its deadline and writing an answer of an
exact length: the byte streams under transport.py."""

import io
import socket
import time


class DeadlineReader(io.RawIOBase):
    """Reads from a socket until a fixed deadline: each read waits only for
    what is left of the request's time, so a client sending one byte a
    second cannot stretch a request past it."""

    def __init__(self, sock, deadline, clock=time.monotonic, first_byte_deadline=None, prefix=b""):
        super(DeadlineReader, self).__init__()
        self.sock = sock
        self.deadline = deadline
        self.clock = clock
        # Until the first byte arrives, the (shorter) first-byte deadline holds.
        self.first_byte_deadline = None if prefix else first_byte_deadline
        self.prefix = prefix  # what was read already (slots.Triage), given first

    def readable(self):
        return True

    def readinto(self, buf):
        if self.prefix:
            n = min(len(buf), len(self.prefix))
            buf[:n], self.prefix = self.prefix[:n], self.prefix[n:]
            return n
        deadline = self.deadline
        if self.first_byte_deadline is not None:
            deadline = min(deadline, self.first_byte_deadline)
        left = deadline - self.clock()
        if left <= 0:
            raise socket.timeout("the request took longer than allowed")
        self.sock.settimeout(left)
        n = self.sock.recv_into(buf)
        if n:
            self.first_byte_deadline = None
        return n


class LengthChanged(Exception):
    """The file being sent is not the size its Content-Length announced."""


def send_exactly(read, size, write, chunk=64 * 1024):
    """Copy exactly ``size`` bytes from ``read(n)`` to ``write(data)``.

    The last block is held back until the source is known to end there:
    a source that ends early or goes on past ``size`` (the file grew or
    was swapped while sent) raises LengthChanged before the last block is
    written, so the client sees a response cut short, an error, and never
    a byte more than announced."""
    left, held = size, b""
    while left > 0:
        block = read(min(chunk, left))
        if not block:
            raise LengthChanged("it ended %d bytes before its announced %d" % (left, size))
        left -= len(block)
        if held:
            write(held)
        held = block
    if read(1):
        raise LengthChanged("it has more than its announced %d bytes" % size)
    if held:
        write(held)
