/* Sample CMP messages for the unit tests, built with our encoder. */
#ifndef PKIE_CMP_TEST_BUILD_H
#define PKIE_CMP_TEST_BUILD_H

#include "pkie/cmp_msg.h"

/** A name "CN=<cn>,O=pkie test" (caller frees). */
X509_NAME *tb_name(const char *cn);
/**
 * A message of body @p type with sample content exercising every field of
 * that body (several requests/responses, controls, all template fields,
 * every POPO choice...), a full header (freeText, generalInfo with
 * implicitConfirm, confirmWaitTime, certProfile and an unknown ITAV), and
 * @p key (optional) used for a POPO signature. Nested bodies get two inner
 * messages, stored in *inner (freed by tb_free).
 */
struct pkie_cmp_msg *tb_sample(int type, EVP_PKEY *key);
/** Free a sample (and its inner messages). */
void tb_free(struct pkie_cmp_msg *m);

#endif
