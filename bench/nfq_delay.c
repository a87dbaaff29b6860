/* Holds every packet of an NFQUEUE queue for a fixed time, then accepts it:
 * a link delay where the kernel has no netem (bench/share.py).
 *
 *     nfq_delay QUEUE MICROSECONDS
 *
 * Packets are released in the order they came, each DELAY after it came.
 * Built by bench/share.py: cc -O2 -o nfq_delay nfq_delay.c -lnetfilter_queue
 * (Debian: libnetfilter-queue-dev). Runs until killed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define RING 65536

static uint32_t ids[RING];
static int64_t due[RING];
static unsigned head, tail;
static int64_t delay_us;

static int64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int on_packet(struct nfq_q_handle *qh, struct nfgenmsg *msg, struct nfq_data *nfa, void *data) {
    struct nfqnl_msg_packet_hdr *ph = nfq_get_msg_packet_hdr(nfa);
    (void)msg; (void)data;
    if (ph == NULL)
        return 0;
    if (head - tail >= RING)  /* full: let it through at once rather than drop it */
        return nfq_set_verdict(qh, ntohl(ph->packet_id), NF_ACCEPT, 0, NULL);
    ids[head % RING] = ntohl(ph->packet_id);
    due[head % RING] = now_us() + delay_us;
    head++;
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: nfq_delay QUEUE MICROSECONDS\n");
        return 2;
    }
    delay_us = atoll(argv[2]);
    struct nfq_handle *h = nfq_open();
    if (h == NULL) { perror("nfq_open"); return 1; }
    struct nfq_q_handle *qh = nfq_create_queue(h, (uint16_t)atoi(argv[1]), on_packet, NULL);
    if (qh == NULL) { perror("nfq_create_queue"); return 1; }
    if (nfq_set_mode(qh, NFQNL_COPY_META, 0) < 0) { perror("nfq_set_mode"); return 1; }
    nfq_set_queue_maxlen(qh, RING);
    int fd = nfq_fd(h);
    static char buf[65536];
    for (;;) {
        int64_t t = now_us();
        while (tail != head && due[tail % RING] <= t) {
            nfq_set_verdict(qh, ids[tail % RING], NF_ACCEPT, 0, NULL);
            tail++;
        }
        int timeout = -1;
        if (tail != head) {
            int64_t wait = due[tail % RING] - t;
            timeout = wait <= 0 ? 0 : (int)((wait + 999) / 1000);
        }
        struct pollfd p = {fd, POLLIN, 0};
        /* poll waits whole milliseconds: sleep finer when a packet is due sooner */
        if (timeout > 0 && due[tail % RING] - t < 1000) {
            struct timespec ts = {0, (long)(due[tail % RING] - t) * 1000};
            if (poll(&p, 1, 0) == 0) {
                nanosleep(&ts, NULL);
                continue;
            }
        } else if (poll(&p, 1, timeout) <= 0) {
            continue;
        }
        int n = recv(fd, buf, sizeof buf, 0);
        if (n >= 0)
            nfq_handle_packet(h, buf, n);
        else if (errno != ENOBUFS && errno != EINTR)
            perror("recv");
    }
}
