/*
 * CMP message layer: PKIMessage (RFC 9810 / RFC 4210 section 5) and CRMF
 * (RFC 4211) structures with encode and decode, message protection
 * (PasswordBasedMac, PBMAC1, signatures) and validation of received messages.
 *
 * Memory model
 * ------------
 * A decoded message is zero-copy: every opaque part (certificates, Names,
 * GeneralNames, extensions, public keys, algorithm identifiers, strings,
 * octet strings) is a struct pkie_cmp_bytes pointing into the input, which
 * therefore must outlive the message (unless PKIE_CMP_DECODE_COPY is used).
 * Every opaque part is validated as DER before it is accepted. The message's
 * variable-length arrays live in one per-message arena released by
 * pkie_cmp_msg_free, so a typical decode costs one or two mallocs. Every
 * count and size taken from the wire is bounded by struct pkie_cmp_limits.
 *
 * Encoding is always done from the fields. DER is canonical and the decoder
 * keeps everything it read (unknown ITAVs, controls and body types as raw
 * slices), so encoding a decoded message gives back the identical bytes.
 * Fields that the RFC defines as IMPLICIT-tagged SEQUENCEs (e.g. the
 * CertTemplate publicKey [6] SubjectPublicKeyInfo) are stored as the
 * *contents* of that SEQUENCE, as said at each field; all other opaque parts
 * are complete TLVs.
 *
 * Presence: an optional struct pkie_cmp_bytes is absent when .p == NULL
 * (an empty OCTET STRING that is present has .p != NULL, .len == 0); other
 * optional fields have a has_<field> flag or a count (0 = absent).
 *
 * Building a message: pkie_cmp_msg_new gives an empty message with its arena;
 * fill the fields (arrays from pkie_cmp_alloc, copies from pkie_cmp_dup when
 * the data would not outlive the message), then protect it
 * (pkie_cmp_protect_mac / pkie_cmp_protect_sig) and pkie_cmp_msg_encode.
 * Raw fields given to the encoder must be valid DER; they are copied as is.
 */
#ifndef PKIE_CMP_MSG_H
#define PKIE_CMP_MSG_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "pkie/der.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- basics -------------------------------------------------------------- */

/** A byte range: a slice into the decoded input, into the arena, or into
 *  caller memory that outlives the message. Absent when p == NULL. */
struct pkie_cmp_bytes {
    const uint8_t *p; /**< first byte, NULL when absent */
    size_t len;       /**< number of bytes */
};

/** PKIFreeText ::= SEQUENCE SIZE (1..MAX) OF UTF8String. Absent when count == 0. */
struct pkie_cmp_freetext {
    struct pkie_cmp_bytes *strs; /**< UTF-8 contents of each string (not NUL-terminated) */
    size_t count;                /**< number of strings */
};

/** InfoTypeAndValue (ITAV) and CRMF AttributeTypeAndValue share this shape. */
struct pkie_cmp_itav {
    struct pkie_cmp_bytes type;  /**< infoType / type: OID contents (no tag, no length) */
    struct pkie_cmp_bytes value; /**< infoValue / value: complete TLV; absent for an ITAV
                                      without infoValue (never absent in an ATV) */
};

/** Decoding limits (a zero field takes the default); every count and size read from the wire is
 * checked against them before anything is allocated. */
struct pkie_cmp_limits {
    size_t max_msg_len;   /**< largest encoded PKIMessage accepted (bytes) */
    size_t max_items;     /**< largest number of elements in any SEQUENCE OF */
    unsigned max_nesting; /**< deepest nesting of "nested" bodies */
};

/** Defaults: 1 MiB messages, 1024 items per SEQUENCE OF, 2 levels of nesting. */
#define PKIE_CMP_DEFAULT_MAX_MSG_LEN ((size_t)1 << 20)
#define PKIE_CMP_DEFAULT_MAX_ITEMS   1024u
#define PKIE_CMP_DEFAULT_MAX_NESTING 2u

/** Well-known infoType OIDs (RFC 9810 5.3.19 and appendix F, RFC 9483 section 4.3): the one
 *  list the client, the server and the message layer use. */
#define PKIE_CMP_OID_IT_CA_PROT_ENC_CERT    "1.3.6.1.5.5.7.4.1"
#define PKIE_CMP_OID_IT_SIGN_KEY_PAIR_TYPES "1.3.6.1.5.5.7.4.2"
#define PKIE_CMP_OID_IT_ENC_KEY_PAIR_TYPES  "1.3.6.1.5.5.7.4.3"
#define PKIE_CMP_OID_IT_PREFERRED_SYMM_ALG  "1.3.6.1.5.5.7.4.4"
#define PKIE_CMP_OID_IT_CURRENT_CRL         "1.3.6.1.5.5.7.4.6"
#define PKIE_CMP_OID_IT_IMPLICIT_CONFIRM    "1.3.6.1.5.5.7.4.13"
#define PKIE_CMP_OID_IT_CONFIRM_WAIT_TIME   "1.3.6.1.5.5.7.4.14"
#define PKIE_CMP_OID_IT_CA_CERTS            "1.3.6.1.5.5.7.4.17"
#define PKIE_CMP_OID_IT_ROOT_CA_KEYUPDATE   "1.3.6.1.5.5.7.4.18"
#define PKIE_CMP_OID_IT_CERT_REQ_TEMPLATE   "1.3.6.1.5.5.7.4.19"
#define PKIE_CMP_OID_IT_ROOT_CA_CERT        "1.3.6.1.5.5.7.4.20"
#define PKIE_CMP_OID_IT_CERT_PROFILE        "1.3.6.1.5.5.7.4.21"
#define PKIE_CMP_OID_IT_CRL_STATUS_LIST     "1.3.6.1.5.5.7.4.22"
#define PKIE_CMP_OID_IT_CRLS                "1.3.6.1.5.5.7.4.23"

/* ---- PKIHeader ----------------------------------------------------------- */

/** pvno values. */
#define PKIE_CMP_PVNO_2000 2 /**< cmp2000 (RFC 4210) */
#define PKIE_CMP_PVNO_2021 3 /**< cmp2021 (RFC 9480/9810): needed for some features */

/** PKIHeader. Every field keeps its RFC name. */
struct pkie_cmp_header {
    int64_t pvno;                        /**< 2 or 3 (others are decoded, rejected by validation) */
    struct pkie_cmp_bytes sender;        /**< GeneralName TLV (required) */
    struct pkie_cmp_bytes recipient;     /**< GeneralName TLV (required) */
    int has_messageTime;                 /**< messageTime [0] present */
    struct pkie_der_time messageTime;    /**< GeneralizedTime */
    struct pkie_cmp_bytes protectionAlg; /**< [1] AlgorithmIdentifier TLV, optional */
    struct pkie_cmp_bytes senderKID;     /**< [2] KeyIdentifier contents, optional */
    struct pkie_cmp_bytes recipKID;      /**< [3] KeyIdentifier contents, optional */
    struct pkie_cmp_bytes transactionID; /**< [4] OCTET STRING contents, optional */
    struct pkie_cmp_bytes senderNonce;   /**< [5] OCTET STRING contents, optional */
    struct pkie_cmp_bytes recipNonce;    /**< [6] OCTET STRING contents, optional */
    struct pkie_cmp_freetext freeText;   /**< [7] PKIFreeText, optional */
    /** [8] generalInfo, in wire order; this array is what gets encoded.
     *  Known ITAVs are also decoded into the fields below (read-only views). */
    struct pkie_cmp_itav *generalInfo;
    size_t generalInfo_count;             /**< 0 = generalInfo absent */
    int implicitConfirm;                  /**< an id-it-implicitConfirm ITAV is present */
    int has_confirmWaitTime;              /**< an id-it-confirmWaitTime ITAV is present */
    struct pkie_der_time confirmWaitTime; /**< its GeneralizedTime */
    struct pkie_cmp_freetext certProfile; /**< id-it-certProfile: SEQUENCE OF UTF8String */
};

/* ---- CRMF (RFC 4211) ----------------------------------------------------- */

/** Bits of struct pkie_crmf_template.present. */
enum pkie_crmf_tmpl_field {
    PKIE_CRMF_T_VERSION = 1u << 0,
    PKIE_CRMF_T_SERIALNUMBER = 1u << 1,
    PKIE_CRMF_T_SIGNINGALG = 1u << 2,
    PKIE_CRMF_T_ISSUER = 1u << 3,
    PKIE_CRMF_T_VALIDITY = 1u << 4,
    PKIE_CRMF_T_SUBJECT = 1u << 5,
    PKIE_CRMF_T_PUBLICKEY = 1u << 6,
    PKIE_CRMF_T_ISSUERUID = 1u << 7,
    PKIE_CRMF_T_SUBJECTUID = 1u << 8,
    PKIE_CRMF_T_EXTENSIONS = 1u << 9,
};

/** A Time of OptionalValidity: UTCTime or GeneralizedTime, as received. */
struct pkie_cmp_time {
    int present;               /**< the field is present */
    uint32_t type;             /**< PKIE_DER_UTC_TIME or PKIE_DER_GENERALIZED_TIME */
    struct pkie_der_time time; /**< its value */
};

/** CertTemplate (all fields; RFC 4211 section 5). */
struct pkie_crmf_template {
    unsigned present;                   /**< PKIE_CRMF_T_* bits of the fields present */
    int64_t version;                    /**< [0] Version */
    struct pkie_cmp_bytes serialNumber; /**< [1] INTEGER contents (two's complement) */
    struct pkie_cmp_bytes signingAlg;   /**< [2] AlgorithmIdentifier: SEQUENCE *contents* */
    struct pkie_cmp_bytes issuer;       /**< [3] Name: complete Name TLV */
    struct pkie_cmp_time notBefore;     /**< [4] OptionalValidity notBefore [0] */
    struct pkie_cmp_time notAfter;      /**< [4] OptionalValidity notAfter [1] */
    struct pkie_cmp_bytes subject;      /**< [5] Name: complete Name TLV */
    struct pkie_cmp_bytes publicKey;    /**< [6] SubjectPublicKeyInfo: SEQUENCE *contents* */
    struct pkie_cmp_bytes issuerUID;    /**< [7] UniqueIdentifier BIT STRING contents
                                             (first octet = unused bits) */
    struct pkie_cmp_bytes subjectUID;   /**< [8] as issuerUID */
    struct pkie_cmp_bytes extensions;   /**< [9] Extensions: SEQUENCE OF *contents* */
};

/** CertId ::= SEQUENCE { issuer GeneralName, serialNumber INTEGER }. */
struct pkie_crmf_certid {
    struct pkie_cmp_bytes issuer;       /**< GeneralName TLV */
    struct pkie_cmp_bytes serialNumber; /**< INTEGER contents (two's complement) */
};

/** CertRequest with its Controls. */
struct pkie_crmf_certreq {
    int64_t certReqId;                      /**< certReqId */
    struct pkie_crmf_template certTemplate; /**< certTemplate */
    struct pkie_cmp_itav *controls;         /**< Controls in wire order (encoded from here) */
    size_t controls_count;                  /**< 0 = controls absent */
    struct pkie_cmp_bytes regToken;         /**< id-regCtrl-regToken UTF8String contents */
    struct pkie_cmp_bytes authenticator;    /**< id-regCtrl-authenticator UTF8String contents */
    int has_oldCertID;                      /**< id-regCtrl-oldCertID present */
    struct pkie_crmf_certid oldCertID;      /**< its CertId */
    struct pkie_cmp_bytes der;              /**< decoded: the CertRequest TLV as received */
};

/** ProofOfPossession CHOICE: the CHOICE tag number is type - 1 (a zeroed
 *  struct means "no popo"). */
enum pkie_crmf_popo_type {
    PKIE_CRMF_POPO_NONE = 0,            /**< popo absent */
    PKIE_CRMF_POPO_RAVERIFIED = 1,      /**< raVerified [0] NULL */
    PKIE_CRMF_POPO_SIGNATURE = 2,       /**< signature [1] POPOSigningKey */
    PKIE_CRMF_POPO_KEYENCIPHERMENT = 3, /**< keyEncipherment [2] POPOPrivKey */
    PKIE_CRMF_POPO_KEYAGREEMENT = 4,    /**< keyAgreement [3] POPOPrivKey */
};

/** POPOPrivKey CHOICE alternatives. */
enum pkie_crmf_privkey_type {
    PKIE_CRMF_PRIVKEY_THISMESSAGE = 0,       /**< thisMessage [0] BIT STRING */
    PKIE_CRMF_PRIVKEY_SUBSEQUENTMESSAGE = 1, /**< subsequentMessage [1] INTEGER */
    PKIE_CRMF_PRIVKEY_DHMAC = 2,             /**< dhMAC [2] BIT STRING */
    PKIE_CRMF_PRIVKEY_AGREEMAC = 3,          /**< agreeMAC [3] PKMACValue */
    PKIE_CRMF_PRIVKEY_ENCRYPTEDKEY = 4,      /**< encryptedKey [4] EnvelopedData */
};

/** ProofOfPossession. */
struct pkie_crmf_popo {
    int type; /**< enum pkie_crmf_popo_type */
    /* signature [1] POPOSigningKey */
    int has_poposkInput;                         /**< poposkInput [0] present */
    int poposkInput_sender;                      /**< authInfo is sender (1) or publicKeyMAC (0) */
    struct pkie_cmp_bytes poposkInput;           /**< POPOSigningKeyInput SEQUENCE *contents* */
    struct pkie_cmp_bytes authInfo_sender;       /**< sender [0] GeneralName TLV */
    struct pkie_cmp_bytes publicKeyMAC;          /**< PKMACValue TLV */
    struct pkie_cmp_bytes poposkInput_publicKey; /**< SubjectPublicKeyInfo TLV */
    struct pkie_cmp_bytes algorithmIdentifier;   /**< AlgorithmIdentifier TLV */
    struct pkie_cmp_bytes signature;             /**< BIT STRING contents incl. unused-bits octet */
    /* keyEncipherment [2] / keyAgreement [3] POPOPrivKey */
    int privkey_type;              /**< enum pkie_crmf_privkey_type */
    int64_t subsequentMessage;     /**< value for subsequentMessage (0 encrAfterCert ...) */
    struct pkie_cmp_bytes privkey; /**< contents of the chosen alternative (BIT STRING
                                        contents, PKMACValue / EnvelopedData contents) */
};

/** CertReqMsg. */
struct pkie_crmf_msg {
    struct pkie_crmf_certreq certReq; /**< certReq */
    struct pkie_crmf_popo popo;       /**< popo (type PKIE_CRMF_POPO_NONE when absent) */
    struct pkie_cmp_itav *regInfo;    /**< regInfo AttributeTypeAndValues, in wire order */
    size_t regInfo_count;             /**< 0 = absent */
};

/** CertReqMessages ::= SEQUENCE SIZE (1..MAX) OF CertReqMsg (any number). */
struct pkie_crmf_reqs {
    struct pkie_crmf_msg *msgs; /**< the requests */
    size_t count;               /**< at least 1 */
};

/* ---- CMP bodies ---------------------------------------------------------- */

/** PKIStatus values. */
enum pkie_cmp_status {
    PKIE_CMP_ACCEPTED = 0,
    PKIE_CMP_GRANTED_WITH_MODS = 1,
    PKIE_CMP_REJECTION = 2,
    PKIE_CMP_WAITING = 3,
    PKIE_CMP_REVOCATION_WARNING = 4,
    PKIE_CMP_REVOCATION_NOTIFICATION = 5,
    PKIE_CMP_KEY_UPDATE_WARNING = 6,
};

/** PKIFailureInfo bit numbers (bit n is (1u << n) in the uint32_t masks). */
enum pkie_cmp_failinfo {
    PKIE_CMP_FI_badAlg = 0,
    PKIE_CMP_FI_badMessageCheck = 1,
    PKIE_CMP_FI_badRequest = 2,
    PKIE_CMP_FI_badTime = 3,
    PKIE_CMP_FI_badCertId = 4,
    PKIE_CMP_FI_badDataFormat = 5,
    PKIE_CMP_FI_wrongAuthority = 6,
    PKIE_CMP_FI_incorrectData = 7,
    PKIE_CMP_FI_missingTimeStamp = 8,
    PKIE_CMP_FI_badPOP = 9,
    PKIE_CMP_FI_certRevoked = 10,
    PKIE_CMP_FI_certConfirmed = 11,
    PKIE_CMP_FI_wrongIntegrity = 12,
    PKIE_CMP_FI_badRecipientNonce = 13,
    PKIE_CMP_FI_timeNotAvailable = 14,
    PKIE_CMP_FI_unacceptedPolicy = 15,
    PKIE_CMP_FI_unacceptedExtension = 16,
    PKIE_CMP_FI_addInfoNotAvailable = 17,
    PKIE_CMP_FI_badSenderNonce = 18,
    PKIE_CMP_FI_badCertTemplate = 19,
    PKIE_CMP_FI_signerNotTrusted = 20,
    PKIE_CMP_FI_transactionIdInUse = 21,
    PKIE_CMP_FI_unsupportedVersion = 22,
    PKIE_CMP_FI_notAuthorized = 23,
    PKIE_CMP_FI_systemUnavail = 24,
    PKIE_CMP_FI_systemFailure = 25,
    PKIE_CMP_FI_duplicateCertReq = 26,
    PKIE_CMP_FI_MAX = 26,
};

/** PKIStatusInfo. */
struct pkie_cmp_statusinfo {
    int64_t status;                        /**< PKIStatus (enum pkie_cmp_status) */
    struct pkie_cmp_freetext statusString; /**< optional */
    int has_failInfo;                      /**< failInfo present */
    uint32_t failInfo;                     /**< PKIFailureInfo bits (1u << PKIE_CMP_FI_*) */
};

/** CertOrEncCert alternatives. */
enum pkie_cmp_certorenc {
    PKIE_CMP_CERTIFICATE = 0,   /**< certificate [0] CMPCertificate */
    PKIE_CMP_ENCRYPTEDCERT = 1, /**< encryptedCert [1] EncryptedKey */
};

/** CertifiedKeyPair. */
struct pkie_cmp_ckp {
    int certOrEncCert_type;                /**< enum pkie_cmp_certorenc */
    struct pkie_cmp_bytes certOrEncCert;   /**< Certificate TLV, or EncryptedKey TLV */
    struct pkie_cmp_bytes privateKey;      /**< [0] EncryptedKey TLV, optional */
    struct pkie_cmp_bytes publicationInfo; /**< [1] PKIPublicationInfo TLV, optional */
};

/** CertResponse. */
struct pkie_cmp_certresp {
    int64_t certReqId;                    /**< certReqId */
    struct pkie_cmp_statusinfo status;    /**< status */
    int has_certifiedKeyPair;             /**< certifiedKeyPair present */
    struct pkie_cmp_ckp certifiedKeyPair; /**< certifiedKeyPair */
    struct pkie_cmp_bytes rspInfo;        /**< OCTET STRING contents, optional */
};

/** CertRepMessage (ip, cp, kup, ccp). */
struct pkie_cmp_certrep {
    struct pkie_cmp_bytes *caPubs;      /**< [1] certificates (TLVs); absent when count 0 */
    size_t caPubs_count;                /**< number of caPubs */
    struct pkie_cmp_certresp *response; /**< responses (may be empty) */
    size_t response_count;              /**< number of responses */
};

/** RevDetails. */
struct pkie_cmp_revdetails {
    struct pkie_crmf_template certDetails; /**< certDetails */
    struct pkie_cmp_bytes crlEntryDetails; /**< Extensions TLV, optional */
};

/** RevReqContent ::= SEQUENCE OF RevDetails. */
struct pkie_cmp_revreq {
    struct pkie_cmp_revdetails *details; /**< the revocation requests */
    size_t count;                        /**< number of requests */
};

/** RevRepContent. */
struct pkie_cmp_revrep {
    struct pkie_cmp_statusinfo *status; /**< one per request (at least 1) */
    size_t status_count;                /**< number of status */
    struct pkie_crmf_certid *revCerts;  /**< [0] optional */
    size_t revCerts_count;              /**< 0 = absent (or empty, see below) */
    int revCerts_empty;                 /**< present but empty: SIZE (1..MAX) broken as
                                             OpenSSL's mock server breaks it for an rr
                                             without serial number; read as absent,
                                             kept for the identical re-encoding */
    struct pkie_cmp_bytes *crls;        /**< [1] CertificateList TLVs, optional */
    size_t crls_count;                  /**< 0 = absent */
};

/** CertStatus of certConf. */
struct pkie_cmp_certstatus {
    struct pkie_cmp_bytes certHash;        /**< OCTET STRING contents */
    int64_t certReqId;                     /**< certReqId */
    int has_statusInfo;                    /**< statusInfo present */
    struct pkie_cmp_statusinfo statusInfo; /**< statusInfo */
    struct pkie_cmp_bytes hashAlg;         /**< [0] AlgorithmIdentifier TLV (pvno 3), optional */
};

/** CertConfirmContent ::= SEQUENCE OF CertStatus. */
struct pkie_cmp_certconf {
    struct pkie_cmp_certstatus *status; /**< may be empty (rejection of all) */
    size_t count;                       /**< number of CertStatus */
};

/** PollReqContent: the certReqIds polled for. */
struct pkie_cmp_pollreq {
    int64_t *certReqId; /**< certReqIds */
    size_t count;       /**< at least 1 */
};

/** One entry of PollRepContent. */
struct pkie_cmp_pollrep_entry {
    int64_t certReqId;               /**< certReqId */
    int64_t checkAfter;              /**< seconds */
    struct pkie_cmp_freetext reason; /**< optional */
};

/** PollRepContent. */
struct pkie_cmp_pollrep {
    struct pkie_cmp_pollrep_entry *entries; /**< entries */
    size_t count;                           /**< at least 1 */
};

/** GenMsgContent / GenRepContent ::= SEQUENCE OF InfoTypeAndValue. */
struct pkie_cmp_itavs {
    struct pkie_cmp_itav *itav; /**< ITAVs in order */
    size_t count;               /**< may be 0 */
};

/** ErrorMsgContent. */
struct pkie_cmp_errormsg {
    struct pkie_cmp_statusinfo pKIStatusInfo; /**< pKIStatusInfo */
    int has_errorCode;                        /**< errorCode present */
    int64_t errorCode;                        /**< implementation-specific code */
    struct pkie_cmp_freetext errorDetails;    /**< optional */
};

struct pkie_cmp_msg;

/** NestedMessageContent ::= PKIMessages. */
struct pkie_cmp_nested {
    struct pkie_cmp_msg **msgs; /**< the inner messages (share the outer arena) */
    size_t count;               /**< at least 1 */
};

/** PKIBody CHOICE tags. */
enum pkie_cmp_body_type {
    PKIE_CMP_BODY_IR = 0,
    PKIE_CMP_BODY_IP = 1,
    PKIE_CMP_BODY_CR = 2,
    PKIE_CMP_BODY_CP = 3,
    PKIE_CMP_BODY_P10CR = 4,
    PKIE_CMP_BODY_POPDECC = 5,
    PKIE_CMP_BODY_POPDECR = 6,
    PKIE_CMP_BODY_KUR = 7,
    PKIE_CMP_BODY_KUP = 8,
    PKIE_CMP_BODY_KRR = 9,
    PKIE_CMP_BODY_KRP = 10,
    PKIE_CMP_BODY_RR = 11,
    PKIE_CMP_BODY_RP = 12,
    PKIE_CMP_BODY_CCR = 13,
    PKIE_CMP_BODY_CCP = 14,
    PKIE_CMP_BODY_CKUANN = 15,
    PKIE_CMP_BODY_CANN = 16,
    PKIE_CMP_BODY_RANN = 17,
    PKIE_CMP_BODY_CRLANN = 18,
    PKIE_CMP_BODY_PKICONF = 19,
    PKIE_CMP_BODY_NESTED = 20,
    PKIE_CMP_BODY_GENM = 21,
    PKIE_CMP_BODY_GENP = 22,
    PKIE_CMP_BODY_ERROR = 23,
    PKIE_CMP_BODY_CERTCONF = 24,
    PKIE_CMP_BODY_POLLREQ = 25,
    PKIE_CMP_BODY_POLLREP = 26,
    PKIE_CMP_BODY_MAX = 26,
};

/** A body type as a bit of struct pkie_cmp_vctx.allowed_bodies. */
#define PKIE_CMP_BODY_BIT(t) (1u << (t))

/** PKIBody: type selects the member of u. Body types without a structured
 *  decoder here (popdecc, popdecr, krr, krp, ckuann, cann, rann, crlann) keep
 *  their content TLV in raw; p10cr keeps the CertificationRequest TLV in raw. */
struct pkie_cmp_body {
    int type; /**< enum pkie_cmp_body_type */
    union {
        struct pkie_crmf_reqs certReqs;    /**< ir, cr, kur, ccr */
        struct pkie_cmp_certrep certRep;   /**< ip, cp, kup, ccp */
        struct pkie_cmp_revreq rr;         /**< rr */
        struct pkie_cmp_revrep rp;         /**< rp */
        struct pkie_cmp_itavs genm;        /**< genm and genp */
        struct pkie_cmp_errormsg error;    /**< error */
        struct pkie_cmp_certconf certConf; /**< certConf */
        struct pkie_cmp_pollreq pollReq;   /**< pollReq */
        struct pkie_cmp_pollrep pollRep;   /**< pollRep */
        struct pkie_cmp_nested nested;     /**< nested */
    } u;
    struct pkie_cmp_bytes raw; /**< p10cr and the opaque body types: the content TLV */
};

struct pkie_cmp_arena;

/** PKIMessage. */
struct pkie_cmp_msg {
    struct pkie_cmp_header header;     /**< header */
    struct pkie_cmp_body body;         /**< body */
    struct pkie_cmp_bytes protection;  /**< [0] PKIProtection BIT STRING value (without the
                                            unused-bits octet, which must be 0); optional */
    struct pkie_cmp_bytes *extraCerts; /**< [1] CMPCertificate TLVs, optional */
    size_t extraCerts_count;           /**< 0 = absent */
    /* Set by the decoder (the exact received bytes, used for verification): */
    struct pkie_cmp_bytes der;        /**< the whole PKIMessage TLV */
    struct pkie_cmp_bytes header_der; /**< the PKIHeader TLV */
    struct pkie_cmp_bytes body_der;   /**< the PKIBody TLV (follows header_der) */
    struct pkie_cmp_arena *arena;     /**< owns the arrays (shared with nested messages) */
    int is_inner;                     /**< set for messages inside a nested body */
};

/* ---- message lifecycle --------------------------------------------------- */

/** Decode options; NULL means defaults. */
struct pkie_cmp_decode_opts {
    struct pkie_cmp_limits limits; /**< zero fields take the defaults */
    int copy;                      /**< non-zero: copy the input into the arena first, so it
                                        need not outlive the message */
};

/**
 * Decode one DER PKIMessage that spans exactly @p len bytes at @p der.
 * On success *out is the message (free with pkie_cmp_msg_free). Errors:
 * PKIE_ERR_DER_* for malformed DER (with the offset), PKIE_ERR_CMP_* for
 * structure violations, PKIE_ERR_LIMIT for a bound exceeded, PKIE_ERR_NOMEM.
 */
int pkie_cmp_msg_decode(const uint8_t *der, size_t len, const struct pkie_cmp_decode_opts *opts,
                        struct pkie_cmp_msg **out);

/** A new empty message (pvno 2, body type -1 until set) with its own arena. */
struct pkie_cmp_msg *pkie_cmp_msg_new(void);

/** Free a message from pkie_cmp_msg_decode or pkie_cmp_msg_new (NULL allowed;
 *  inner messages of a nested body are freed with their outer message). */
void pkie_cmp_msg_free(struct pkie_cmp_msg *m);

/** Zeroed memory from the message's arena (lives as long as the message),
 *  aligned for any object; NULL on overflow or allocation failure. */
void *pkie_cmp_alloc(struct pkie_cmp_msg *m, size_t n);
/** As pkie_cmp_alloc for an array of @p count elements of @p size bytes. */
void *pkie_cmp_alloc_array(struct pkie_cmp_msg *m, size_t count, size_t size);
/** Copy @p len bytes into the arena and point @p dst at the copy. */
int pkie_cmp_dup(struct pkie_cmp_msg *m, struct pkie_cmp_bytes *dst, const void *p, size_t len);

/**
 * Encode the message into a new malloc'd buffer (*out, *len; free()).
 * The message must be complete (header sender/recipient, a body type).
 */
int pkie_cmp_msg_encode(const struct pkie_cmp_msg *m, uint8_t **out, size_t *len);
/** Append the PKIMessage encoding to a DER writer. */
int pkie_cmp_msg_encode_to(const struct pkie_cmp_msg *m, struct pkie_derw *w);
/** Append the ProtectedPart ::= SEQUENCE { header, body } encoding. */
int pkie_cmp_protected_part_encode(const struct pkie_cmp_msg *m, struct pkie_derw *w);
/** Append the PKIHeader encoding / the PKIBody encoding. */
int pkie_cmp_header_encode(const struct pkie_cmp_header *h, struct pkie_derw *w);
int pkie_cmp_body_encode(const struct pkie_cmp_body *b, struct pkie_derw *w);
/** Append one CertTemplate (SEQUENCE) encoding. */
int pkie_crmf_template_encode(const struct pkie_crmf_template *t, struct pkie_derw *w);
/** Append one CertRequest encoding (for POPO signatures). */
int pkie_crmf_certreq_encode(const struct pkie_crmf_certreq *r, struct pkie_derw *w);

/* ---- helpers for building and reading ------------------------------------ */

/** Short name of a body type ("ir", "pkiconf", ...) or "unknown". */
const char *pkie_cmp_body_name(int type);
/** The body type that answers request body @p req (ir -> ip, cr and p10cr -> cp, kur -> kup,
 *  krr -> krp, rr -> rp, ccr -> ccp, genm -> genp, certConf and error -> pkiconf, pollReq ->
 *  pollRep), -1 for a body that is no request. */
int pkie_cmp_body_answer(int req);
/** Body type from its short name, or -1. */
int pkie_cmp_body_from_name(const char *name);
/** Name of a PKIStatus value ("accepted", ...) or "unknown". */
const char *pkie_cmp_status_name(int64_t status);
/** RFC name of a PKIFailureInfo bit number ("badAlg", ...) or NULL. */
const char *pkie_cmp_failinfo_name(int bit);

/** If @p gn is a directoryName [4] GeneralName, point @p name at its Name TLV
 *  and return 0; PKIE_ERR_CMP_NAME otherwise. */
int pkie_cmp_gn_dirname(const struct pkie_cmp_bytes *gn, struct pkie_cmp_bytes *name);
/** Build a directoryName GeneralName from @p name (encoded into the arena;
 *  NULL @p name means the empty Name, as for an unknown sender). */
int pkie_cmp_gn_from_name(struct pkie_cmp_msg *m, const X509_NAME *name, struct pkie_cmp_bytes *gn);

/**
 * Fill a header for a new request or response: pvno, sender, recipient from
 * the names (NULL = empty Name), messageTime now, a fresh random 16-byte
 * senderNonce, and a fresh random 16-byte transactionID unless @p tid is given.
 * @p recipNonce (optional) is copied into recipNonce.
 */
int pkie_cmp_header_init(struct pkie_cmp_msg *m, int pvno, const X509_NAME *sender,
                         const X509_NAME *recipient, const struct pkie_cmp_bytes *tid,
                         const struct pkie_cmp_bytes *recipNonce);
/** Append an ITAV to generalInfo (and update the decoded views). @p value is a
 *  TLV (NULL for none); @p oid_text dotted. Copies into the arena. */
int pkie_cmp_header_add_itav(struct pkie_cmp_msg *m, const char *oid_text, const uint8_t *value,
                             size_t value_len);
/** Append the implicitConfirm ITAV. */
int pkie_cmp_header_set_implicit_confirm(struct pkie_cmp_msg *m);

/** The public key of a CertTemplate (NULL if absent or not decodable). */
EVP_PKEY *pkie_crmf_template_pubkey(const struct pkie_crmf_template *t);

/* ---- protection (RFC 9810 5.1.3, RFC 4211 4.4, RFC 9481) ----------------- */

/** MAC-based protection algorithms. */
enum pkie_cmp_mac_alg {
    PKIE_CMP_MAC_PBM = 0,    /**< PasswordBasedMac (1.2.840.113533.7.66.13) */
    PKIE_CMP_MAC_PBMAC1 = 1, /**< PBMAC1 (1.2.840.113549.1.5.14) with PBKDF2 */
};

/** Parameters to build MAC protection. Digest names are OpenSSL names
 *  ("SHA1", "SHA256", "SHA384", "SHA512", "SHA224"). */
struct pkie_cmp_mac_params {
    int alg;                 /**< enum pkie_cmp_mac_alg */
    const char *owf;         /**< PBM one-way function (SHA1/SHA256/SHA384/SHA512) */
    const char *mac;         /**< PBM: HMAC digest (SHA1..SHA512); PBMAC1: HMAC digest
                                  (SHA256/SHA384/SHA512) */
    const char *prf;         /**< PBMAC1: PBKDF2 PRF HMAC digest (SHA256/384/512) */
    unsigned iterationCount; /**< iterations */
    size_t salt_len;         /**< random salt length (8..64) */
    size_t key_len;          /**< PBMAC1 keyLength (0 = the MAC's digest size) */
};

/** OpenSSL's defaults for PBM (owf SHA256, mac SHA1, 500 iterations, 16-byte salt). */
void pkie_cmp_mac_params_default(struct pkie_cmp_mac_params *p, int alg);

/** The MAC parameters of @p m's protectionAlg (algorithm, owf, MAC, PRF, iterationCount,
 *  salt and key length), to answer in kind (RFC 9481 6.1); a salt outside 8..64 bytes gives
 *  the default length. PKIE_ERR_CMP_PROT_ALG when @p m is not MAC-protected. */
int pkie_cmp_mac_params_of(const struct pkie_cmp_msg *m, struct pkie_cmp_mac_params *p);

/** Bounds applied when verifying MAC parameters from the wire. */
struct pkie_cmp_mac_limits {
    unsigned iter_min; /**< least iterationCount accepted (default 100) */
    unsigned iter_max; /**< largest iterationCount accepted (default 100000) */
};
#define PKIE_CMP_ITER_MIN_DEFAULT 100u
#define PKIE_CMP_ITER_MAX_DEFAULT 100000u

/**
 * Protect @p m with a MAC: set header.protectionAlg (and senderKID to @p kid
 * when given), encode ProtectedPart, compute the MAC into m->protection.
 * The derived key and intermediate values are wiped.
 */
int pkie_cmp_protect_mac(struct pkie_cmp_msg *m, const uint8_t *secret, size_t secret_len,
                         const struct pkie_cmp_mac_params *p, const struct pkie_cmp_bytes *kid);

/** Parameters to build signature protection. */
struct pkie_cmp_sig_params {
    const char *digest; /**< "SHA256" (default when NULL), "SHA384", "SHA512"; ignored for
                             Ed25519/Ed448 */
    int rsa_pss;        /**< RSA keys: RSASSA-PSS (salt length = digest length, MGF1 with
                             the same digest) instead of PKCS#1 v1.5 */
};

/**
 * Protect @p m with a signature by @p key: set header.protectionAlg, senderKID
 * (the subjectKeyIdentifier of @p cert, unless senderKID is already set),
 * sender (the subject of @p cert when the sender is absent or the empty Name), extraCerts = @p cert
 * followed by
 * @p chain (may be NULL) and the message's previous extraCerts, then sign
 * ProtectedPart into m->protection.
 */
int pkie_cmp_protect_sig(struct pkie_cmp_msg *m, EVP_PKEY *key, X509 *cert, STACK_OF(X509) *chain,
                         const struct pkie_cmp_sig_params *p);

/** Verify MAC protection with the shared secret (PKIE_ERR_CMP_* on failure). */
int pkie_cmp_verify_mac(const struct pkie_cmp_msg *m, const uint8_t *secret, size_t secret_len,
                        const struct pkie_cmp_mac_limits *lim);
/** Verify signature protection with a public key. */
int pkie_cmp_verify_sig(const struct pkie_cmp_msg *m, EVP_PKEY *pub);
/** 1 when protectionAlg is a MAC algorithm, 0 a signature, negative error if
 *  absent or unknown. */
int pkie_cmp_protection_is_mac(const struct pkie_cmp_msg *m);

/* ---- validation of a received message ------------------------------------ */

/** Validation context: what the receiver knows and expects. */
struct pkie_cmp_vctx {
    /* protection */
    const uint8_t *secret;          /**< shared secret for MAC protection (NULL: none) */
    size_t secret_len;              /**< its length */
    X509_STORE *trusted;            /**< trust anchors for signatures (NULL: none) */
    STACK_OF(X509) *untrusted;      /**< intermediate certificates (extraCerts are added) */
    struct pkie_cmp_mac_limits mac; /**< iteration bounds (zeros: defaults) */
    int allow_unprotected;          /**< accept a message without protection */
    /* header */
    const X509_NAME *expected_sender;             /**< the peer's name (NULL: any) */
    struct pkie_cmp_bytes expected_transactionID; /**< (p NULL: any, but present) */
    struct pkie_cmp_bytes expected_recipNonce;    /**< the senderNonce we sent (p NULL:
                                                       no check) */
    uint32_t allowed_bodies;                      /**< PKIE_CMP_BODY_BIT mask (0: any) */
    int64_t max_skew;        /**< allowed |messageTime - now| in seconds (< 0: no check) */
    int require_messageTime; /**< messageTime must be present (whatever max_skew) */
    int64_t now;             /**< the current time (0: time(NULL)) */
    int check_critical_ext;  /**< reject unknown critical extensions in cert templates */
    /** Optional: return non-zero if this senderNonce was seen before (replay). */
    int (*nonce_seen)(void *arg, const uint8_t *nonce, size_t len);
    /** Optional: return non-zero if this transactionID is already in use
     *  (server side, for a message that starts a transaction). */
    int (*tid_in_use)(void *arg, const uint8_t *tid, size_t len);
    void *cb_arg; /**< passed to the callbacks */
    /* result */
    X509 *signer; /**< out: the verified signer's certificate (caller frees) */
};

/**
 * Validate a received message against @p v (see docs/cmp-messages.md): pvno,
 * body type allowed, transactionID, senderNonce present and not replayed,
 * recipNonce equal to the nonce we sent, messageTime within max_skew, and
 * protection (MAC with the secret; or a signature by a certificate from
 * extraCerts/untrusted/trusted whose subject matches the sender and whose
 * subjectKeyIdentifier matches senderKID, chained to the trust store).
 * Returns 0 or the PKIE_ERR_CMP_* code of the first failure;
 * pkie_cmp_err_failinfo maps it to the failure bit of an error reply.
 */
int pkie_cmp_msg_validate(const struct pkie_cmp_msg *m, struct pkie_cmp_vctx *v);

/** The PKIFailureInfo bit number for an error code (e.g. PKIE_ERR_CMP_RECIPNONCE ->
 *  PKIE_CMP_FI_badRecipientNonce); DER errors give badDataFormat, unknown
 *  codes systemFailure. */
int pkie_cmp_err_failinfo(int err);

/** Verify the POPOSigningKey of a CertReqMsg (popo signature) with the
 *  template's public key: PKIE_ERR_CMP_POP on failure. */
int pkie_crmf_popo_verify(const struct pkie_crmf_msg *req);
/** Same, with @p template_key the template's publicKey already decoded by the
 *  caller (not decoded again; NULL: decode it here). Used only without poposkInput. */
int pkie_crmf_popo_verify_key(const struct pkie_crmf_msg *req, EVP_PKEY *template_key);

/** Fill the popo of @p req with a signature by @p key over the CertRequest
 *  (without poposkInput; the template must hold the subject and public key). */
int pkie_crmf_popo_sign(struct pkie_cmp_msg *m, struct pkie_crmf_msg *req, EVP_PKEY *key,
                        const char *digest);

#ifdef __cplusplus
}
#endif
#endif
