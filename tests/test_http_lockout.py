"""The lockout never locks out the right client (issue 20), on real sockets:
a flood of wrong tokens from other local programs, and wrong tokens from
200 loopback addresses, which are one client."""

import http.client
import socket
import threading
import time
import unittest

from task_runner.http.auth import LOOPBACK, Lockout, client_key
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


if __name__ == "__main__":
    unittest.main()
