/*
 * Logging with levels. By default lines go to stderr as
 * "2026-11-22T19:30:00.123Z LEVEL [component] message". A program may set the
 * threshold and redirect lines to its own sink. Thread-safe.
 */
#ifndef PKIE_LOG_H
#define PKIE_LOG_H

#ifdef __cplusplus
extern "C" {
#endif

enum pkie_log_level {
    PKIE_LOG_ERROR = 0,
    PKIE_LOG_WARN = 1,
    PKIE_LOG_INFO = 2,
    PKIE_LOG_DEBUG = 3,
    PKIE_LOG_TRACE = 4,
};

/** A sink receives each formatted message (without timestamp or newline). */
typedef void (*pkie_log_sink)(enum pkie_log_level level, const char *component, const char *message,
                              void *arg);

/** Only messages at @p level or more severe are emitted (default INFO). */
void pkie_log_set_level(enum pkie_log_level level);
enum pkie_log_level pkie_log_get_level(void);
/** Parse "error|warn|info|debug|trace" (or 0..4). Returns 0 or PKIE_ERR_ARG. */
int pkie_log_level_parse(const char *text, enum pkie_log_level *out);
/** Replace the sink; NULL restores the stderr sink. */
void pkie_log_set_sink(pkie_log_sink sink, void *arg);
/** Is a message at @p level emitted? Lets callers skip costly formatting. */
int pkie_log_enabled(enum pkie_log_level level);

void pkie_log(enum pkie_log_level level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define pkie_log_error(comp, ...) pkie_log(PKIE_LOG_ERROR, (comp), __VA_ARGS__)
#define pkie_log_warn(comp, ...)  pkie_log(PKIE_LOG_WARN, (comp), __VA_ARGS__)
#define pkie_log_info(comp, ...)  pkie_log(PKIE_LOG_INFO, (comp), __VA_ARGS__)
#define pkie_log_debug(comp, ...)                                                                  \
    do {                                                                                           \
        if (pkie_log_enabled(PKIE_LOG_DEBUG))                                                      \
            pkie_log(PKIE_LOG_DEBUG, (comp), __VA_ARGS__);                                         \
    } while (0)

#ifdef __cplusplus
}
#endif
#endif
