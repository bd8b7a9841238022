/* Shared fixture of the pki unit tests: a base file filled from the test world. */
#ifndef PKIE_TEST_PKI_TESTBASE_H
#define PKIE_TEST_PKI_TESTBASE_H

#include "pki_testcerts.h"

#define TB_PASSWORD "correct horse battery staple"

/**
 * Create base @p name in the world's directory holding root, inter, inter2,
 * other (another root), alice (RSA key), bob (EC key), carol (Ed25519 key),
 * expired, revoked, future, deep, mallory, forged, and, if @p with_crl, the CRL
 * of inter that revokes "revoked". Returns the path (static buffer slot 3).
 */
const char *tb_make_base(struct tc_world *w, const char *name, int with_crl);

#endif
