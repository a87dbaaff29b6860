"""The lockout never locks out the right client (issue 20), on real sockets:
a flood of wrong tokens from other local programs, and wrong tokens from
200 loopback addresses, which are one client."""

import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
import unittest

from task_runner.http.auth import LOOPBACK, Lockout, client_key
from task_runner.http.slots import Slots, credential
from tests.helpers import ROOT, wait_for
from tests.test_http import HttpTestCase


class ClientKeyTest(unittest.TestCase):
    def test_table(self):
        for address, key in [
                ("127.0.0.1", LOOPBACK), ("127.0.3.200", LOOPBACK), ("127.255.255.254", LOOPBACK),
                ("::1", LOOPBACK), ("::ffff:127.0.0.1", LOOPBACK), ("::ffff:127.9.8.7", LOOPBACK),
                ("192.168.1.20", "192.168.1.20"), ("::ffff:192.168.1.20", "192.168.1.20"),
                ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"),
                ("2001:db8:1:2::1", "2001:db8:1:2::/64"), ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
                ("fe80::1%eth0", "fe80::/64"), ("not an address", "not an address")]:
            with self.subTest(address):
                self.assertEqual(client_key(address), key)


class LockoutTest(unittest.TestCase):
    def test_failures_within_the_window(self):
        now = [1000.0]
        slept = []
        lockout = Lockout(limit=3, window=60, delay=1.0, clock=lambda: now[0], sleep=slept.append)
        self.assertEqual([lockout.failed("a") for _ in range(2)], [0, 0])
        self.assertEqual(lockout.failed("a"), 60)  # the third within a minute locks
        self.assertEqual(lockout.failed("b"), 0)  # another client is not affected
        now[0] += 30
        self.assertEqual(lockout.failed("a"), 30)  # locked until the oldest of the last 3 is a minute old
        now[0] += 31
        self.assertEqual(lockout.failed("a"), 0)  # two in the last minute, then this one
        lockout.slow_down()
        self.assertEqual(slept, [1.0])
        Lockout(delay=0, sleep=slept.append).slow_down()
        self.assertEqual(slept, [1.0])


class FloodTest(HttpTestCase):
    # Scaled down from the program's 1 s (bench/lockout.py measures that for 10 s).
    fail_delay = 0.2

    def flood(self, stop, answers):
        """Wrong tokens as fast as answers come, with a 20 ms pause (issue 20)."""
        while not stop.is_set():
            try:
                answers.append(self.request("GET", "/status", headers={"Authorization": "Bearer guess"})[0])
            except OSError:
                answers.append("error")
            time.sleep(0.02)

    def test_the_right_token_gets_in_during_a_flood_of_wrong_ones(self):
        stop, answers = threading.Event(), []
        loops = [threading.Thread(target=self.flood, args=(stop, answers)) for _ in range(2)]
        for loop in loops:
            loop.start()
        try:
            while answers.count(429) < 2:  # the flood has locked its client out
                time.sleep(0.02)
            statuses = []
            for _ in range(10):
                statuses.append(self.request("GET", "/status")[0])
                time.sleep(0.05)
        finally:
            stop.set()
            for loop in loops:
                loop.join(10)
        self.assertEqual(statuses, [200] * 10)
        self.assertEqual(set(answers) - {401, 429}, set())
        # The client's first failures were checked (401), then it was locked
        # out; two loops in flight may finish in either order, so count them.
        self.assertIn(answers.count(401), (9, 10), answers)
        self.assertGreaterEqual(answers.count(429), 2)


class ManyLoopbackAddressesTest(HttpTestCase):
    def send_from(self, source):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10, source_address=(source, 0))
        try:
            conn.request("GET", "/status", headers={"Authorization": "Bearer guess"})
            return conn.getresponse().status
        finally:
            conn.close()

    def test_200_loopback_addresses_are_one_client(self):
        try:
            probe = socket.socket()
            probe.bind(("127.0.1.2", 0))
            probe.close()
        except OSError:
            self.skipTest("this system cannot bind to 127.0.1.2 (only Linux and Windows loop back all of 127/8)")
        statuses = [self.send_from("127.0.%d.%d" % (1 + i // 200, 2 + i % 200)) for i in range(200)]
        self.assertEqual(statuses, [401] * 9 + [429] * 191)
        self.assertEqual(self.request("GET", "/status")[0], 200)  # the right token still gets in


class SlotsTest(unittest.TestCase):
    def test_one_client_never_holds_every_slot(self):
        slots = Slots(8)
        self.assertEqual((slots.per_client, slots.reserved), (6, 1))
        self.assertEqual([slots.take("a") for _ in range(7)], [True] * 6 + [False])
        self.assertEqual([slots.take("b") for _ in range(3)], [True, True, False])  # 8 in all
        slots.give("a")
        self.assertTrue(slots.take("b"))
        self.assertEqual([slots.take_reserved(), slots.take_reserved()], [True, False])
        slots.give_reserved()
        self.assertTrue(slots.take_reserved())
        self.assertEqual(Slots(1).per_client, 1)


class CredentialTest(HttpTestCase):
    def test_what_a_head_presents(self):
        session_id, _ = self.server.sessions.create()
        for head, kind in [(b"GET / HTTP/1.1\r\nauthorization: Bearer " + self.token.encode(), "valid"),
                           (b"GET / HTTP/1.1\r\nAuthorization: Bearer nope", "wrong"),
                           (b"GET / HTTP/1.1\r\nAuthorization: Basic " + self.token.encode(), "wrong"),
                           (b"GET / HTTP/1.1\r\nCookie: a=1; %s=%s" % (self.server.cookie_name.encode(),
                                                                          session_id.encode()), "valid"),
                           (b"GET / HTTP/1.1\r\nCookie: %s=ended" % self.server.cookie_name.encode(), None),
                           (b"GET / HTTP/1.1\r\nHost: x", None)]:
            with self.subTest(head=head):
                self.assertEqual(credential(head, self.server), kind)


class ConnectionFloodTest(HttpTestCase):
    """Issue 29: 200 connections at once from another process on 127.0.0.1
    (the same client as the right token), 50 sending wrong tokens as fast
    as they are answered and 150 stalled half-way through their request,
    never keep the right token out: not by the lockout, not by a full
    server."""
    fail_delay = 1.0  # as in the program: each of the first 10 failures holds its slot for a second

    def test_the_right_token_gets_in_past_200_flooding_connections(self):
        flood = subprocess.Popen([sys.executable, os.path.join(ROOT, "tests", "flooder.py"), str(self.port), "200",
                                  "3", "150"], stdout=subprocess.PIPE, universal_newlines=True)
        self.addCleanup(lambda: flood.poll() is None and (flood.kill(), flood.communicate()))
        # Until the flood has locked its client out (on a server it fills, it may never get that far).
        wait_for(lambda: self.server.lockout.failed_recently(LOOPBACK) >= 10, timeout=1.5)
        statuses = []
        for _ in range(20):
            statuses.append(self.request("GET", "/status")[0])
            time.sleep(0.05)
        counts = json.loads(flood.communicate(timeout=30)[0])
        self.assertEqual(statuses, [200] * 20, counts)
        self.assertGreater(counts.get("429", 0), 200, counts)  # it did flood


if __name__ == "__main__":
    unittest.main()
