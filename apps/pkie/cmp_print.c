/* Printing of decoded CMP messages for `pkie cmp dump`: one walker over the
 * structures, two renderings (indented tree or JSON). */
#include "cmp_dump.h"

#include <inttypes.h>
#include <openssl/bio.h>
#include <openssl/objects.h>
#include <string.h>
#include <time.h>

/* ---- emitter ---------------------------------------------------------------------- */

struct em {
    FILE *out;
    int json;
    int depth;
    int first[64]; /* JSON: nothing written yet at this depth */
};

static void em_key(struct em *e, const char *key)
{
    if (e->json) {
        if (!e->first[e->depth])
            fputc(',', e->out);
        e->first[e->depth] = 0;
        if (key != NULL)
            fprintf(e->out, "\"%s\":", key);
    } else {
        fprintf(e->out, "%*s", 2 * e->depth, "");
        fprintf(e->out, "%s%s", key != NULL ? key : "-", key != NULL ? ":" : "");
    }
}

static void em_open(struct em *e, const char *key, int array)
{
    em_key(e, key);
    if (e->json)
        fputc(array ? '[' : '{', e->out);
    else
        fputc('\n', e->out);
    if (e->depth < 63)
        e->depth++;
    e->first[e->depth] = 1;
}

static void em_close(struct em *e, int array)
{
    if (e->depth > 0)
        e->depth--;
    if (e->json)
        fputc(array ? ']' : '}', e->out);
}

/* A string value, escaped for JSON; control bytes shown as \u00XX. */
static void em_str(struct em *e, const char *key, const char *s, size_t len)
{
    em_key(e, key);
    if (e->json)
        fputc('"', e->out);
    else
        fputc(' ', e->out);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (e->json && (c == '"' || c == '\\'))
            fprintf(e->out, "\\%c", c);
        else if (c < 0x20 || c == 0x7F)
            fprintf(e->out, e->json ? "\\u%04x" : "\\x%02x", c);
        else
            fputc(c, e->out);
    }
    fputs(e->json ? "\"" : "\n", e->out);
}

static void em_cstr(struct em *e, const char *key, const char *s)
{
    em_str(e, key, s, strlen(s));
}

static void em_int(struct em *e, const char *key, int64_t v)
{
    em_key(e, key);
    fprintf(e->out, e->json ? "%" PRId64 : " %" PRId64 "\n", v);
}

static void em_hex(struct em *e, const char *key, const struct pkie_cmp_bytes *b)
{
    em_key(e, key);
    fputs(e->json ? "\"" : " ", e->out);
    size_t show = b->len > 64 && !e->json ? 64 : b->len;
    for (size_t i = 0; i < show; i++)
        fprintf(e->out, "%02x", b->p[i]);
    if (show < b->len)
        fprintf(e->out, "... (%zu bytes)", b->len);
    fputs(e->json ? "\"" : "\n", e->out);
}

/* ---- value renderings ------------------------------------------------------------- */

static void em_oid(struct em *e, const char *key, const struct pkie_cmp_bytes *oid)
{
    char txt[PKIE_DER_OID_TEXT_MAX], buf[PKIE_DER_OID_TEXT_MAX + 80];
    if (pkie_der_oid_to_text(oid->p, oid->len, txt, sizeof(txt)) != 0) {
        em_hex(e, key, oid);
        return;
    }
    ASN1_OBJECT *o = OBJ_txt2obj(txt, 1);
    int nid = o ? OBJ_obj2nid(o) : NID_undef;
    ASN1_OBJECT_free(o);
    if (nid != NID_undef)
        snprintf(buf, sizeof(buf), "%s (%s)", txt, OBJ_nid2ln(nid));
    else
        snprintf(buf, sizeof(buf), "%s", txt);
    em_cstr(e, key, buf);
}

static void em_time(struct em *e, const char *key, const struct pkie_der_time *t)
{
    char buf[64];
    time_t s = (time_t)t->secs;
    struct tm tm;
    if (gmtime_r(&s, &tm) == NULL || strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, sizeof(buf), "%" PRId64, t->secs);
    em_cstr(e, key, buf);
}

static void em_name_der(struct em *e, const char *key, const uint8_t *p, size_t len)
{
    const unsigned char *q = p;
    X509_NAME *n = d2i_X509_NAME(NULL, &q, (long)len);
    BIO *b = BIO_new(BIO_s_mem());
    char *data = NULL;
    long dlen = 0;
    int ok = n != NULL && b != NULL && X509_NAME_print_ex(b, n, 0, XN_FLAG_RFC2253) >= 0;
    if (ok)
        dlen = BIO_get_mem_data(b, &data);
    if (ok)
        em_str(e, key, data != NULL ? data : "", dlen > 0 ? (size_t)dlen : 0);
    else {
        struct pkie_cmp_bytes raw = {p, len};
        em_hex(e, key, &raw);
    }
    BIO_free(b);
    X509_NAME_free(n);
}

static void em_gn(struct em *e, const char *key, const struct pkie_cmp_bytes *gn)
{
    struct pkie_cmp_bytes name;
    if (gn->p == NULL)
        return;
    if (pkie_cmp_gn_dirname(gn, &name) == 0) {
        em_name_der(e, key, name.p, name.len);
        return;
    }
    em_hex(e, key, gn);
}

static void em_algid(struct em *e, const char *key, const struct pkie_cmp_bytes *a, int contents)
{
    struct pkie_der d, in;
    const uint8_t *oid;
    size_t len;
    pkie_der_init(&d, a->p, a->len);
    int r = contents ? 0 : pkie_der_enter(&d, PKIE_DER_SEQUENCE, &in);
    if (contents)
        in = d;
    if (r == 0 && pkie_der_read_oid(&in, PKIE_DER_OID, &oid, &len) == 0) {
        struct pkie_cmp_bytes o = {oid, len};
        em_oid(e, key, &o);
    } else {
        em_hex(e, key, a);
    }
}

static void em_cert(struct em *e, const char *key, const struct pkie_cmp_bytes *c)
{
    const unsigned char *q = c->p;
    X509 *x = d2i_X509(NULL, &q, (long)c->len);
    em_open(e, key, 0);
    if (x != NULL) {
        unsigned char *der = NULL;
        int n = i2d_X509_NAME(X509_get_subject_name(x), &der);
        if (n > 0)
            em_name_der(e, "subject", der, (size_t)n);
        OPENSSL_free(der);
        der = NULL;
        n = i2d_X509_NAME(X509_get_issuer_name(x), &der);
        if (n > 0)
            em_name_der(e, "issuer", der, (size_t)n);
        OPENSSL_free(der);
        const ASN1_INTEGER *sn = X509_get0_serialNumber(x);
        struct pkie_cmp_bytes s = {ASN1_STRING_get0_data(sn), (size_t)ASN1_STRING_length(sn)};
        em_hex(e, "serialNumber", &s);
        X509_free(x);
    } else {
        em_cstr(e, "error", "not a decodable certificate");
    }
    em_int(e, "length", (int64_t)c->len);
    em_close(e, 0);
}

static void em_freetext(struct em *e, const char *key, const struct pkie_cmp_freetext *ft)
{
    if (ft->count == 0)
        return;
    em_open(e, key, 1);
    for (size_t i = 0; i < ft->count; i++)
        em_str(e, NULL, (const char *)ft->strs[i].p, ft->strs[i].len);
    em_close(e, 1);
}

static void em_itavs(struct em *e, const char *key, const struct pkie_cmp_itav *v, size_t n)
{
    if (n == 0 && key != NULL && strcmp(key, "content") != 0)
        return;
    em_open(e, key, 1);
    for (size_t i = 0; i < n; i++) {
        em_open(e, NULL, 0);
        em_oid(e, "type", &v[i].type);
        if (v[i].value.p != NULL)
            em_hex(e, "value", &v[i].value);
        em_close(e, 0);
    }
    em_close(e, 1);
}

static void em_status(struct em *e, const char *key, const struct pkie_cmp_statusinfo *si)
{
    em_open(e, key, 0);
    em_int(e, "status", si->status);
    em_cstr(e, "statusName", pkie_cmp_status_name(si->status));
    em_freetext(e, "statusString", &si->statusString);
    if (si->has_failInfo) {
        em_open(e, "failInfo", 1);
        for (int b = 0; b <= PKIE_CMP_FI_MAX; b++)
            if (si->failInfo & (1u << b))
                em_cstr(e, NULL, pkie_cmp_failinfo_name(b));
        em_close(e, 1);
    }
    em_close(e, 0);
}

static void em_template(struct em *e, const char *key, const struct pkie_crmf_template *t)
{
    em_open(e, key, 0);
    if (t->present & PKIE_CRMF_T_VERSION)
        em_int(e, "version", t->version);
    if (t->present & PKIE_CRMF_T_SERIALNUMBER)
        em_hex(e, "serialNumber", &t->serialNumber);
    if (t->present & PKIE_CRMF_T_SIGNINGALG)
        em_algid(e, "signingAlg", &t->signingAlg, 1);
    if (t->present & PKIE_CRMF_T_ISSUER)
        em_name_der(e, "issuer", t->issuer.p, t->issuer.len);
    if (t->present & PKIE_CRMF_T_VALIDITY) {
        em_open(e, "validity", 0);
        if (t->notBefore.present)
            em_time(e, "notBefore", &t->notBefore.time);
        if (t->notAfter.present)
            em_time(e, "notAfter", &t->notAfter.time);
        em_close(e, 0);
    }
    if (t->present & PKIE_CRMF_T_SUBJECT)
        em_name_der(e, "subject", t->subject.p, t->subject.len);
    if (t->present & PKIE_CRMF_T_PUBLICKEY) {
        EVP_PKEY *k = pkie_crmf_template_pubkey(t);
        char buf[80];
        snprintf(buf, sizeof(buf), "%s (%d bits)", k ? EVP_PKEY_get0_type_name(k) : "?",
                 k ? EVP_PKEY_get_bits(k) : 0);
        em_cstr(e, "publicKey", buf);
        EVP_PKEY_free(k);
    }
    if (t->present & PKIE_CRMF_T_ISSUERUID)
        em_hex(e, "issuerUID", &t->issuerUID);
    if (t->present & PKIE_CRMF_T_SUBJECTUID)
        em_hex(e, "subjectUID", &t->subjectUID);
    if (t->present & PKIE_CRMF_T_EXTENSIONS)
        em_hex(e, "extensions", &t->extensions);
    em_close(e, 0);
}

static const char *const popo_names[] = {"none", "raVerified", "signature", "keyEncipherment",
                                         "keyAgreement"};

static void em_certreqs(struct em *e, const struct pkie_crmf_reqs *rq)
{
    em_open(e, "content", 1);
    for (size_t i = 0; i < rq->count; i++) {
        const struct pkie_crmf_msg *m = &rq->msgs[i];
        em_open(e, NULL, 0);
        em_int(e, "certReqId", m->certReq.certReqId);
        em_template(e, "certTemplate", &m->certReq.certTemplate);
        em_itavs(e, "controls", m->certReq.controls, m->certReq.controls_count);
        if (m->popo.type >= 0 && m->popo.type <= 4 && m->popo.type != PKIE_CRMF_POPO_NONE) {
            em_open(e, "popo", 0);
            em_cstr(e, "type", popo_names[m->popo.type]);
            if (m->popo.type == PKIE_CRMF_POPO_SIGNATURE) {
                em_algid(e, "algorithmIdentifier", &m->popo.algorithmIdentifier, 0);
                if (m->popo.has_poposkInput)
                    em_cstr(e, "poposkInput",
                            m->popo.poposkInput_sender ? "sender" : "publicKeyMAC");
            }
            em_close(e, 0);
        }
        em_itavs(e, "regInfo", m->regInfo, m->regInfo_count);
        em_close(e, 0);
    }
    em_close(e, 1);
}

static void em_certrep(struct em *e, const struct pkie_cmp_certrep *rep)
{
    em_open(e, "content", 0);
    if (rep->caPubs_count) {
        em_open(e, "caPubs", 1);
        for (size_t i = 0; i < rep->caPubs_count; i++)
            em_cert(e, NULL, &rep->caPubs[i]);
        em_close(e, 1);
    }
    em_open(e, "response", 1);
    for (size_t i = 0; i < rep->response_count; i++) {
        const struct pkie_cmp_certresp *c = &rep->response[i];
        em_open(e, NULL, 0);
        em_int(e, "certReqId", c->certReqId);
        em_status(e, "status", &c->status);
        if (c->has_certifiedKeyPair) {
            const struct pkie_cmp_ckp *k = &c->certifiedKeyPair;
            if (k->certOrEncCert_type == PKIE_CMP_CERTIFICATE)
                em_cert(e, "certificate", &k->certOrEncCert);
            else
                em_hex(e, "encryptedCert", &k->certOrEncCert);
            if (k->privateKey.p)
                em_hex(e, "privateKey", &k->privateKey);
            if (k->publicationInfo.p)
                em_hex(e, "publicationInfo", &k->publicationInfo);
        }
        if (c->rspInfo.p)
            em_hex(e, "rspInfo", &c->rspInfo);
        em_close(e, 0);
    }
    em_close(e, 1);
    em_close(e, 0);
}

static void em_body(struct em *e, const struct pkie_cmp_msg *m);

static void em_message(struct em *e, const char *key, const struct pkie_cmp_msg *m)
{
    const struct pkie_cmp_header *h = &m->header;
    em_open(e, key, 0);
    em_open(e, "header", 0);
    em_int(e, "pvno", h->pvno);
    em_gn(e, "sender", &h->sender);
    em_gn(e, "recipient", &h->recipient);
    if (h->has_messageTime)
        em_time(e, "messageTime", &h->messageTime);
    if (h->protectionAlg.p)
        em_algid(e, "protectionAlg", &h->protectionAlg, 0);
    if (h->senderKID.p)
        em_hex(e, "senderKID", &h->senderKID);
    if (h->recipKID.p)
        em_hex(e, "recipKID", &h->recipKID);
    if (h->transactionID.p)
        em_hex(e, "transactionID", &h->transactionID);
    if (h->senderNonce.p)
        em_hex(e, "senderNonce", &h->senderNonce);
    if (h->recipNonce.p)
        em_hex(e, "recipNonce", &h->recipNonce);
    em_freetext(e, "freeText", &h->freeText);
    em_itavs(e, "generalInfo", h->generalInfo, h->generalInfo_count);
    if (h->implicitConfirm)
        em_cstr(e, "implicitConfirm", "true");
    if (h->has_confirmWaitTime)
        em_time(e, "confirmWaitTime", &h->confirmWaitTime);
    em_freetext(e, "certProfile", &h->certProfile);
    em_close(e, 0);
    em_body(e, m);
    if (m->protection.p)
        em_hex(e, "protection", &m->protection);
    if (m->extraCerts_count) {
        em_open(e, "extraCerts", 1);
        for (size_t i = 0; i < m->extraCerts_count; i++)
            em_cert(e, NULL, &m->extraCerts[i]);
        em_close(e, 1);
    }
    em_close(e, 0);
}

static void em_body(struct em *e, const struct pkie_cmp_msg *m)
{
    const struct pkie_cmp_body *b = &m->body;
    em_open(e, "body", 0);
    em_cstr(e, "type", pkie_cmp_body_name(b->type));
    switch (b->type) {
    case PKIE_CMP_BODY_IR:
    case PKIE_CMP_BODY_CR:
    case PKIE_CMP_BODY_KUR:
    case PKIE_CMP_BODY_CCR:
        em_certreqs(e, &b->u.certReqs);
        break;
    case PKIE_CMP_BODY_IP:
    case PKIE_CMP_BODY_CP:
    case PKIE_CMP_BODY_KUP:
    case PKIE_CMP_BODY_CCP:
        em_certrep(e, &b->u.certRep);
        break;
    case PKIE_CMP_BODY_RR:
        em_open(e, "content", 1);
        for (size_t i = 0; i < b->u.rr.count; i++) {
            em_open(e, NULL, 0);
            em_template(e, "certDetails", &b->u.rr.details[i].certDetails);
            if (b->u.rr.details[i].crlEntryDetails.p)
                em_hex(e, "crlEntryDetails", &b->u.rr.details[i].crlEntryDetails);
            em_close(e, 0);
        }
        em_close(e, 1);
        break;
    case PKIE_CMP_BODY_RP:
        em_open(e, "content", 0);
        em_open(e, "status", 1);
        for (size_t i = 0; i < b->u.rp.status_count; i++)
            em_status(e, NULL, &b->u.rp.status[i]);
        em_close(e, 1);
        if (b->u.rp.revCerts_count) {
            em_open(e, "revCerts", 1);
            for (size_t i = 0; i < b->u.rp.revCerts_count; i++) {
                em_open(e, NULL, 0);
                em_gn(e, "issuer", &b->u.rp.revCerts[i].issuer);
                em_hex(e, "serialNumber", &b->u.rp.revCerts[i].serialNumber);
                em_close(e, 0);
            }
            em_close(e, 1);
        }
        if (b->u.rp.crls_count)
            em_int(e, "crls", (int64_t)b->u.rp.crls_count);
        em_close(e, 0);
        break;
    case PKIE_CMP_BODY_GENM:
    case PKIE_CMP_BODY_GENP:
        em_itavs(e, "content", b->u.genm.itav, b->u.genm.count);
        break;
    case PKIE_CMP_BODY_ERROR:
        em_open(e, "content", 0);
        em_status(e, "pKIStatusInfo", &b->u.error.pKIStatusInfo);
        if (b->u.error.has_errorCode)
            em_int(e, "errorCode", b->u.error.errorCode);
        em_freetext(e, "errorDetails", &b->u.error.errorDetails);
        em_close(e, 0);
        break;
    case PKIE_CMP_BODY_CERTCONF:
        em_open(e, "content", 1);
        for (size_t i = 0; i < b->u.certConf.count; i++) {
            const struct pkie_cmp_certstatus *cs = &b->u.certConf.status[i];
            em_open(e, NULL, 0);
            em_hex(e, "certHash", &cs->certHash);
            em_int(e, "certReqId", cs->certReqId);
            if (cs->has_statusInfo)
                em_status(e, "statusInfo", &cs->statusInfo);
            if (cs->hashAlg.p)
                em_algid(e, "hashAlg", &cs->hashAlg, 0);
            em_close(e, 0);
        }
        em_close(e, 1);
        break;
    case PKIE_CMP_BODY_PKICONF:
        break;
    case PKIE_CMP_BODY_POLLREQ:
        em_open(e, "content", 1);
        for (size_t i = 0; i < b->u.pollReq.count; i++)
            em_int(e, NULL, b->u.pollReq.certReqId[i]);
        em_close(e, 1);
        break;
    case PKIE_CMP_BODY_POLLREP:
        em_open(e, "content", 1);
        for (size_t i = 0; i < b->u.pollRep.count; i++) {
            em_open(e, NULL, 0);
            em_int(e, "certReqId", b->u.pollRep.entries[i].certReqId);
            em_int(e, "checkAfter", b->u.pollRep.entries[i].checkAfter);
            em_freetext(e, "reason", &b->u.pollRep.entries[i].reason);
            em_close(e, 0);
        }
        em_close(e, 1);
        break;
    case PKIE_CMP_BODY_NESTED:
        em_open(e, "content", 1);
        for (size_t i = 0; i < b->u.nested.count; i++)
            em_message(e, NULL, b->u.nested.msgs[i]);
        em_close(e, 1);
        break;
    default:
        em_hex(e, "content", &b->raw);
        break;
    }
    em_close(e, 0);
}

void cmp_print_msg(FILE *out, const struct pkie_cmp_msg *m, int json)
{
    struct em e;
    memset(&e, 0, sizeof(e));
    e.out = out;
    e.json = json;
    e.first[0] = 1;
    em_message(&e, json ? NULL : "PKIMessage", m);
}
