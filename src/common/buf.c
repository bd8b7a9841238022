/* Bounded growable buffer (include/pkie/buf.h). */
#include "pkie/buf.h"

#include "pkie/error.h"
#include "pkie/wipe.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pkie_buf_init(struct pkie_buf *b, size_t max)
{
    memset(b, 0, sizeof(*b));
    b->max = max;
}

void pkie_buf_init_secret(struct pkie_buf *b, size_t max)
{
    pkie_buf_init(b, max);
    b->secret = 1;
}

int pkie_buf_reserve(struct pkie_buf *b, size_t extra)
{
    if (extra > b->max || b->len > b->max - extra)
        return PKIE_ERR(PKIE_ERR_LIMIT, "buffer would exceed its bound of %zu bytes", b->max);
    size_t need = b->len + extra;
    if (need <= b->cap)
        return 0;
    size_t ncap = b->cap ? b->cap : 64;
    while (ncap < need)
        ncap = ncap > b->max / 2 ? b->max : ncap * 2;
    uint8_t *n;
    if (b->secret) {
        /* Never realloc secrets: the old block would be freed unwiped. */
        n = malloc(ncap);
        if (n != NULL && b->data != NULL) {
            memcpy(n, b->data, b->len);
            pkie_wipe_free(b->data, b->cap);
        }
    } else {
        n = realloc(b->data, ncap);
    }
    if (n == NULL)
        return PKIE_ERR(PKIE_ERR_NOMEM, "cannot grow buffer to %zu bytes", ncap);
    b->data = n;
    b->cap = ncap;
    return 0;
}

int pkie_buf_append(struct pkie_buf *b, const void *p, size_t n)
{
    if (n == 0)
        return 0;
    int rc = pkie_buf_reserve(b, n);
    if (rc != 0)
        return rc;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

int pkie_buf_append_byte(struct pkie_buf *b, uint8_t c)
{
    return pkie_buf_append(b, &c, 1);
}

int pkie_buf_append_str(struct pkie_buf *b, const char *s)
{
    return pkie_buf_append(b, s, strlen(s));
}

int pkie_buf_printf(struct pkie_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return PKIE_ERR(PKIE_ERR_ARG, "bad format string");
    int rc = pkie_buf_reserve(b, (size_t)n + 1);
    if (rc != 0)
        return rc;
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void pkie_buf_reset(struct pkie_buf *b)
{
    if (b->secret)
        pkie_wipe(b->data, b->cap);
    b->len = 0;
}

void pkie_buf_free(struct pkie_buf *b)
{
    if (b->secret)
        pkie_wipe_free(b->data, b->cap);
    else
        free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

uint8_t *pkie_buf_steal(struct pkie_buf *b, size_t *len)
{
    uint8_t *d = b->data;
    if (len != NULL)
        *len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return d;
}
