/*
 * A PKI exit for the receiver's e2e tests (not installed). Configuration
 * string (pki.exit.conf): blank-separated key=value
 *   log=PATH        append "<Phase> session=<host session>" per call
 *   accept=all      CheckCertificate accepts every chain (HANDLED, accept 1)
 *   hang=PHASE      sleep for ever in that phase (a phase number): an exit
 *                   call that does not return
 *   chain=PATH      GetCertificate serves the DER certificate of PATH (its
 *                   key signs through the internal base: the key of `cert`)
 * Every other phase is answered "not handled" (the internal base works).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cftpkie.h"

static const char *const names[] = {"?",
                                    "StartTask",
                                    "StartHandshake",
                                    "GetCertificate",
                                    "GetCAList",
                                    "CheckCertificate",
                                    "CryptData",
                                    "HandshakeAlert",
                                    "HandshakeDone",
                                    "EndSession",
                                    "EndTask"};

/* the value of KEY= in the configuration string, copied into out */
static int conf_get(const struct pkicom *z, const char *key, char *out, size_t cap)
{
    size_t kl = strlen(key);
    const char *p = z->conf;
    while (*p != '\0') {
        while (*p == ' ')
            p++;
        size_t l = strcspn(p, " ");
        if (l > kl && strncmp(p, key, kl) == 0 && p[kl] == '=') {
            size_t vl = l - kl - 1;
            if (vl >= cap)
                return 0;
            memcpy(out, p + kl + 1, vl);
            out[vl] = '\0';
            return 1;
        }
        p += l;
    }
    return 0;
}

/* the configuration, read at StartTask (the same for every task) */
static char log_path[512];
static int hang_phase = -1, accept_all;
static uint8_t chain_der[16384];
static size_t chain_len;

__attribute__((visibility("default"))) int cftpkie(struct pkicom *z)
{
    char v[512];
    if (z->phase == CFTPKIE_START_TASK) {
        if (!conf_get(z, "log", log_path, sizeof(log_path)))
            log_path[0] = '\0';
        hang_phase = conf_get(z, "hang", v, sizeof(v)) ? atoi(v) : -1;
        accept_all = conf_get(z, "accept", v, sizeof(v)) && strcmp(v, "all") == 0;
        chain_len = 0;
        if (conf_get(z, "chain", v, sizeof(v))) {
            int fd = open(v, O_RDONLY | O_CLOEXEC);
            ssize_t n = fd >= 0 ? read(fd, chain_der, sizeof(chain_der)) : -1;
            if (fd >= 0)
                close(fd);
            if (n <= 0) {
                snprintf(z->error_text, sizeof(z->error_text), "chain=%.200s unreadable", v);
                return CFTPKIE_ERROR;
            }
            chain_len = (size_t)n;
        }
        z->exit_abi_version = CFTPKIE_ABI_VERSION;
        z->phase_mask = 0;
        for (uint32_t ph = CFTPKIE_START_HANDSHAKE; ph <= CFTPKIE_END_SESSION; ph++)
            z->phase_mask |= CFTPKIE_PHASE_BIT(ph);
        z->session_area_size = 0;
        return CFTPKIE_HANDLED;
    }
    if (z->flags & CFTPKIE_F_PROBE)
        return CFTPKIE_NOT_HANDLED;
    if (log_path[0] != '\0') {
        int fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        if (fd >= 0) {
            char line[128];
            int n = snprintf(line, sizeof(line), "%s session=%llu\n",
                             z->phase <= CFTPKIE_END_TASK ? names[z->phase] : "?",
                             (unsigned long long)z->host_session_ref);
            if (write(fd, line, (size_t)n) < 0)
                n = 0;
            close(fd);
        }
    }
    if (hang_phase >= 0 && (uint32_t)hang_phase == z->phase)
        for (;;)
            pause();
    if (z->phase == CFTPKIE_GET_CERTIFICATE && chain_len > 0) {
        z->chain_count = 1;
        z->chain_len[0] = (uint32_t)chain_len;
        memcpy(z->chain, chain_der, chain_len);
        return CFTPKIE_HANDLED;
    }
    if (z->phase == CFTPKIE_CHECK_CERTIFICATE && accept_all) {
        z->accept = 1;
        return CFTPKIE_HANDLED;
    }
    return CFTPKIE_NOT_HANDLED;
}
