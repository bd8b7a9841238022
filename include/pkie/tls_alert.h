/* pkie TLS alert names (src/common/tls_alert.c): one table for every message
 * that names an alert. */
#ifndef PKIE_TLS_ALERT_H
#define PKIE_TLS_ALERT_H

#ifdef __cplusplus
extern "C" {
#endif

/** Name of TLS alert @p alert as RFC 8446 section 6 spells it ("unknown_ca",
 *  "certificate_required", ...; the reserved codes by their TLS 1.2 names),
 *  "unassigned" for another code 0..255, "none" for -1 (no alert) or any
 *  other value. Never NULL. */
const char *pkie_tls_alert_name(int alert);

#ifdef __cplusplus
}
#endif
#endif
