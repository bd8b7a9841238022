/* Per-message arena: the variable-length arrays of a CMP message come from a
 * few large chunks released together (see include/pkie/cmp_msg.h). */
#include "cmp_local.h"

#include <stdalign.h>
#include <stddef.h>
#include <stdlib.h>

struct chunk {
    struct chunk *next;
    size_t cap;  /* usable bytes after the header */
    size_t used; /* bytes handed out */
    alignas(max_align_t) unsigned char data[];
};

struct pkie_cmp_arena {
    struct chunk *head; /* current chunk; older chunks follow through next */
    size_t total;       /* bytes of all chunks */
    size_t handed;      /* bytes handed out */
    size_t max;         /* bound on handed */
};

#define ALIGN       (alignof(max_align_t))
#define ROUND_UP(n) (((n) + (ALIGN - 1)) & ~(size_t)(ALIGN - 1))

static struct chunk *chunk_new(size_t cap)
{
    struct chunk *c = malloc(sizeof(*c) + cap);
    if (c == NULL)
        return NULL;
    c->next = NULL;
    c->cap = cap;
    c->used = 0;
    return c;
}

struct pkie_cmp_arena *cmp_arena_new(size_t first, size_t max)
{
    size_t self = ROUND_UP(sizeof(struct pkie_cmp_arena));
    if (first > SIZE_MAX / 2 - self) {
        PKIE_ERR(PKIE_ERR_LIMIT, "arena size");
        return NULL;
    }
    struct chunk *c = chunk_new(ROUND_UP(first) + self);
    if (c == NULL) {
        PKIE_ERR(PKIE_ERR_NOMEM, "arena");
        return NULL;
    }
    struct pkie_cmp_arena *a = (struct pkie_cmp_arena *)(void *)c->data;
    c->used = self;
    a->head = c;
    a->total = c->cap;
    a->handed = self;
    a->max = max ? max : SIZE_MAX;
    if (a->max < self)
        a->max = self;
    return a;
}

void cmp_arena_free(struct pkie_cmp_arena *a)
{
    if (a == NULL)
        return;
    /* The arena itself lives in the oldest chunk: free that one last. */
    struct chunk *c = a->head;
    while (c != NULL) {
        struct chunk *next = c->next;
        free(c);
        c = next;
    }
}

void *cmp_arena_alloc(struct pkie_cmp_arena *a, size_t n)
{
    if (n > SIZE_MAX / 4) {
        PKIE_ERR(PKIE_ERR_LIMIT, "arena allocation of %zu bytes", n);
        return NULL;
    }
    size_t need = ROUND_UP(n ? n : 1);
    /* The bound applies to the bytes handed out; chunks may hold up to about
     * as much again in slack. */
    if (need > a->max - a->handed) {
        PKIE_ERR(PKIE_ERR_LIMIT, "message arena exceeds %zu bytes", a->max);
        return NULL;
    }
    struct chunk *c = a->head;
    if (c->cap - c->used < need) {
        size_t cap = c->cap * 2;
        size_t room = a->max - a->handed;
        if (cap > room)
            cap = room;
        if (cap < need)
            cap = need;
        struct chunk *nc = chunk_new(cap);
        if (nc == NULL) {
            PKIE_ERR(PKIE_ERR_NOMEM, "arena chunk of %zu bytes", cap);
            return NULL;
        }
        /* Keep the first chunk (holding the arena) at the tail of the list. */
        nc->next = c;
        a->head = nc;
        a->total += cap;
        c = nc;
    }
    a->handed += need;
    void *p = c->data + c->used;
    c->used += need;
    memset(p, 0, n);
    return p;
}

void *cmp_arena_array(struct pkie_cmp_arena *a, size_t count, size_t size)
{
    if (size != 0 && count > SIZE_MAX / 4 / size) {
        PKIE_ERR(PKIE_ERR_LIMIT, "arena array of %zu x %zu", count, size);
        return NULL;
    }
    return cmp_arena_alloc(a, count * size);
}

void *pkie_cmp_alloc(struct pkie_cmp_msg *m, size_t n)
{
    if (m == NULL || m->arena == NULL) {
        PKIE_ERR(PKIE_ERR_ARG, "no message");
        return NULL;
    }
    return cmp_arena_alloc(m->arena, n);
}

void *pkie_cmp_alloc_array(struct pkie_cmp_msg *m, size_t count, size_t size)
{
    if (m == NULL || m->arena == NULL) {
        PKIE_ERR(PKIE_ERR_ARG, "no message");
        return NULL;
    }
    return cmp_arena_array(m->arena, count, size);
}

int pkie_cmp_dup(struct pkie_cmp_msg *m, struct pkie_cmp_bytes *dst, const void *p, size_t len)
{
    if (dst == NULL || (p == NULL && len != 0))
        return PKIE_ERR(PKIE_ERR_ARG, "dup");
    uint8_t *c = pkie_cmp_alloc(m, len);
    if (c == NULL)
        return pkie_err_last()->code;
    if (len)
        memcpy(c, p, len);
    dst->p = c;
    dst->len = len;
    return 0;
}
