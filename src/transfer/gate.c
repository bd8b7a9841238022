/* The admission gate: counts of unauthenticated connections per peer address
 * in a chained hash table whose nodes come from a fixed pool (at most
 * max_total addresses can hold a connection), under one mutex. */
#include "gate.h"

#include "pkie/error.h"
#include "pkie/metrics.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct node {
    uint8_t key[16]; /* IPv6 address, IPv4 as ::ffff:a.b.c.d */
    unsigned count;
    int next; /* index in the pool, -1: end */
};

struct xfer_gate {
    struct xfer_gate_limits l;
    pthread_mutex_t mu;
    unsigned total;
    int *buckets;    /* heads, -1: empty */
    size_t nbuckets; /* power of two */
    struct node *pool;
    int free_head;
};

static void addr_key(const struct sockaddr_storage *ss, uint8_t key[16])
{
    memset(key, 0, 16);
    if (ss->ss_family == AF_INET6) {
        memcpy(key, &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
    } else if (ss->ss_family == AF_INET) {
        key[10] = key[11] = 0xff;
        memcpy(key + 12, &((const struct sockaddr_in *)ss)->sin_addr, 4);
    }
}

static size_t bucket_of(const struct xfer_gate *g, const uint8_t key[16])
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (int i = 0; i < 16; i++)
        h = (h ^ key[i]) * 1099511628211ull;
    return (size_t)(h ^ (h >> 29)) & (g->nbuckets - 1);
}

/* The node of @p key, with *prev its predecessor (-1: the bucket's head). */
static int find(const struct xfer_gate *g, const uint8_t key[16], size_t b, int *prev)
{
    *prev = -1;
    for (int i = g->buckets[b]; i >= 0; i = g->pool[i].next) {
        if (memcmp(g->pool[i].key, key, 16) == 0)
            return i;
        *prev = i;
    }
    return -1;
}

int xfer_gate_new(const struct xfer_gate_limits *l, struct xfer_gate **out)
{
    *out = NULL;
    if (l == NULL || l->max_total == 0 || l->max_per_addr == 0 || l->max_total > (1u << 24))
        return PKIE_ERR(PKIE_ERR_ARG, "gate: bounds must be 1..%u", 1u << 24);
    struct xfer_gate *g = calloc(1, sizeof(*g));
    if (g == NULL)
        return PKIE_ERR(PKIE_ERR_NOMEM, "gate");
    g->l = *l;
    g->nbuckets = 16;
    while (g->nbuckets < l->max_total)
        g->nbuckets *= 2;
    g->buckets = malloc(g->nbuckets * sizeof(*g->buckets));
    g->pool = calloc(l->max_total, sizeof(*g->pool));
    if (g->buckets == NULL || g->pool == NULL) {
        xfer_gate_free(g);
        return PKIE_ERR(PKIE_ERR_NOMEM, "gate");
    }
    for (size_t i = 0; i < g->nbuckets; i++)
        g->buckets[i] = -1;
    for (unsigned i = 0; i < l->max_total; i++)
        g->pool[i].next = i + 1 < l->max_total ? (int)i + 1 : -1;
    g->free_head = 0;
    pthread_mutex_init(&g->mu, NULL);
    *out = g;
    return 0;
}

void xfer_gate_free(struct xfer_gate *g)
{
    if (g == NULL)
        return;
    if (g->pool != NULL && g->buckets != NULL)
        pthread_mutex_destroy(&g->mu);
    free(g->buckets);
    free(g->pool);
    free(g);
}

int xfer_gate_admit(struct xfer_gate *g, const struct sockaddr_storage *addr)
{
    uint8_t key[16];
    addr_key(addr, key);
    size_t b = bucket_of(g, key);
    int prev, rc = 0;
    pthread_mutex_lock(&g->mu);
    int i = find(g, key, b, &prev);
    if (g->total >= g->l.max_total) {
        rc = PKIE_ERR(PKIE_ERR_LIMIT, "%u connections not yet authenticated (max_pending)",
                      g->total);
    } else if (i >= 0 && g->pool[i].count >= g->l.max_per_addr) {
        rc = PKIE_ERR(PKIE_ERR_LIMIT,
                      "%u connections not yet authenticated from this address "
                      "(max_pending_per_address)",
                      g->pool[i].count);
    } else {
        if (i < 0) { /* total < max_total: a node is free */
            i = g->free_head;
            g->free_head = g->pool[i].next;
            memcpy(g->pool[i].key, key, 16);
            g->pool[i].count = 0;
            g->pool[i].next = g->buckets[b];
            g->buckets[b] = i;
        }
        g->pool[i].count++;
        g->total++;
        pkie_metrics_session("handshaking", 1);
    }
    pthread_mutex_unlock(&g->mu);
    return rc;
}

void xfer_gate_release(struct xfer_gate *g, const struct sockaddr_storage *addr)
{
    uint8_t key[16];
    addr_key(addr, key);
    size_t b = bucket_of(g, key);
    int prev;
    pthread_mutex_lock(&g->mu);
    int i = find(g, key, b, &prev);
    if (i >= 0) { /* (a release without an admit changes nothing) */
        g->total--;
        pkie_metrics_session("handshaking", -1);
        if (--g->pool[i].count == 0) {
            if (prev < 0)
                g->buckets[b] = g->pool[i].next;
            else
                g->pool[prev].next = g->pool[i].next;
            g->pool[i].next = g->free_head;
            g->free_head = i;
        }
    }
    pthread_mutex_unlock(&g->mu);
}

unsigned xfer_gate_count(struct xfer_gate *g, const struct sockaddr_storage *addr)
{
    unsigned n;
    pthread_mutex_lock(&g->mu);
    if (addr == NULL) {
        n = g->total;
    } else {
        uint8_t key[16];
        addr_key(addr, key);
        int prev, i = find(g, key, bucket_of(g, key), &prev);
        n = i >= 0 ? g->pool[i].count : 0;
    }
    pthread_mutex_unlock(&g->mu);
    return n;
}

long long xfer_gate_deadline(const struct xfer_gate_limits *l, long long t_accept,
                             long long t_first)
{
    long long hs = t_accept + l->handshake_ms;
    if (t_first != 0)
        return hs;
    long long fb = t_accept + l->first_byte_ms;
    return fb < hs ? fb : hs;
}
