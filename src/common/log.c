/* Levelled logging (include/pkie/log.h). */
#include "pkie/log.h"

#include "pkie/error.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static atomic_int log_level = PKIE_LOG_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static pkie_log_sink log_sink;
static void *log_sink_arg;

static const char *const level_names[] = {"error", "warn", "info", "debug", "trace"};

void pkie_log_set_level(enum pkie_log_level level)
{
    if (level < PKIE_LOG_ERROR)
        level = PKIE_LOG_ERROR;
    if (level > PKIE_LOG_TRACE)
        level = PKIE_LOG_TRACE;
    atomic_store(&log_level, (int)level);
}

enum pkie_log_level pkie_log_get_level(void)
{
    return (enum pkie_log_level)atomic_load(&log_level);
}

int pkie_log_level_parse(const char *text, enum pkie_log_level *out)
{
    if (text == NULL)
        return PKIE_ERR(PKIE_ERR_ARG, "no log level given");
    for (int i = 0; i <= PKIE_LOG_TRACE; i++) {
        if (strcasecmp(text, level_names[i]) == 0 || (text[0] == '0' + i && text[1] == '\0')) {
            *out = (enum pkie_log_level)i;
            return 0;
        }
    }
    return PKIE_ERR(PKIE_ERR_ARG, "unknown log level '%s' (error|warn|info|debug|trace)", text);
}

void pkie_log_set_sink(pkie_log_sink sink, void *arg)
{
    pthread_mutex_lock(&log_lock);
    log_sink = sink;
    log_sink_arg = arg;
    pthread_mutex_unlock(&log_lock);
}

int pkie_log_enabled(enum pkie_log_level level)
{
    return (int)level <= atomic_load(&log_level);
}

void pkie_log(enum pkie_log_level level, const char *component, const char *fmt, ...)
{
    if (!pkie_log_enabled(level))
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* Never let control characters from peer data forge log lines. */
    for (char *p = msg; *p; p++)
        if ((unsigned char)*p < 0x20 && *p != '\t')
            *p = '?';
    if (component == NULL)
        component = "pkie";

    pthread_mutex_lock(&log_lock);
    if (log_sink != NULL) {
        log_sink(level, component, msg, log_sink_arg);
    } else {
        struct timespec ts;
        struct tm tm;
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s [%s] %s\n", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
                level_names[level], component, msg);
    }
    pthread_mutex_unlock(&log_lock);
}
