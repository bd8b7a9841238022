/*
 * cftpkie.h — the pkie PKI exit ABI.
 *
 * A PKI exit is a shared library exporting one function:
 *
 *     int cftpkie(struct pkicom *zpki);
 *
 * The host (the pkie TLS runtime) calls it at each phase of an SSL task and
 * of its sessions, with zpki->phase set. The exit answers one of
 * CFTPKIE_HANDLED (it did the step; its outputs are in *zpki),
 * CFTPKIE_NOT_HANDLED (the internal PKI base does the step) or CFTPKIE_ERROR
 * (the step failed: the session is refused, or the task does not start).
 * Any other value is treated as CFTPKIE_ERROR.
 *
 * Rules:
 *  - The structure starts with its size and the ABI version; fields are fixed
 *    width; every buffer has a capacity (a CFTPKIE_*_CAP constant, also the
 *    array size) and a length; fields are only ever appended.
 *  - Each field is documented with its direction ("in": set by the host before
 *    the call, read-only for the exit; "out": set by the exit; "in/out") and
 *    the phases in which it is meaningful. Outside those phases its content is
 *    unspecified. Before a call the host resets the outputs of that phase
 *    (lengths and counts to 0, error_text to "").
 *  - Everything the exit returns is checked before use (lengths within
 *    capacity, DER that parses, a chain whose leaf matches the signing key, a
 *    signature that verifies with the leaf's public key, alert codes from the
 *    allowed list). A bad answer refuses that session (fail closed).
 *  - One struct pkicom exists per task and is only used by the thread of that
 *    task: the exit needs no locking for it. The exit function itself must be
 *    thread-safe (several tasks run at once).
 *  - Versions (as SQLite's sqlite3_vfs): a host of version N accepts exits of
 *    every version 1..N, and an exit runs on every host of version >= 1. A
 *    later version only appends fields (the struct ends with a marker
 *    "fields above are in version N"). An exit reads or writes a field of
 *    version V > 1 only when CFTPKIE_HAS(zpki, V, field) is true (the host's
 *    abi_version and size both say it is there), and never refuses a host
 *    whose abi_version is above its own. The offset and size of every
 *    version 1 field are pinned by the _Static_asserts at the end (64-bit).
 *  - With pki.exit.isolation = process (the default) the exit runs in a
 *    helper process: the struct is shared memory, pointers in it
 *    (session_area) are valid in the exit's own process only, and a call
 *    that crashes, exits or passes pki.exit.timeout costs that session only.
 *  - At StartTask the exit returns in phase_mask the later phases it wants.
 *    StartTask and EndTask are always called; when StartHandshake is wanted,
 *    EndSession is always called too. The default exit answers 0 (no phase).
 *
 * This header includes only <stdint.h> and <stddef.h>: an exit needs no
 * OpenSSL. See docs/exit-guide.md.
 */
#ifndef CFTPKIE_H
#define CFTPKIE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** ABI version of this header. The host fills abi_version with the version
 *  it implements; the exit answers exit_abi_version at StartTask. */
#define CFTPKIE_ABI_VERSION 1u

/* ---- phases (zpki->phase) ------------------------------------------------ */
#define CFTPKIE_START_TASK        1  /**< an SSL task (worker) starts */
#define CFTPKIE_START_HANDSHAKE   2  /**< TCP connected, before any TLS record */
#define CFTPKIE_GET_CERTIFICATE   3  /**< our certificate chain is to be sent */
#define CFTPKIE_GET_CA_LIST       4  /**< server: CA names for the CertificateRequest */
#define CFTPKIE_CHECK_CERTIFICATE 5  /**< the peer's chain arrived: accept or refuse */
#define CFTPKIE_CRYPT_DATA        6  /**< our private key must sign */
#define CFTPKIE_HANDSHAKE_ALERT   7  /**< an alert was sent or received in the handshake */
#define CFTPKIE_HANDSHAKE_DONE    8  /**< the handshake finished */
#define CFTPKIE_END_SESSION       9  /**< the TLS session and connection are released */
#define CFTPKIE_END_TASK          10 /**< the SSL task ends */

/** Bit of @p phase in phase_mask. */
#define CFTPKIE_PHASE_BIT(phase) (1u << (phase))
/** Every phase after StartTask. */
#define CFTPKIE_MASK_ALL                                                                           \
    (CFTPKIE_PHASE_BIT(CFTPKIE_START_HANDSHAKE) | CFTPKIE_PHASE_BIT(CFTPKIE_GET_CERTIFICATE) |     \
     CFTPKIE_PHASE_BIT(CFTPKIE_GET_CA_LIST) | CFTPKIE_PHASE_BIT(CFTPKIE_CHECK_CERTIFICATE) |       \
     CFTPKIE_PHASE_BIT(CFTPKIE_CRYPT_DATA) | CFTPKIE_PHASE_BIT(CFTPKIE_HANDSHAKE_ALERT) |          \
     CFTPKIE_PHASE_BIT(CFTPKIE_HANDSHAKE_DONE) | CFTPKIE_PHASE_BIT(CFTPKIE_END_SESSION) |          \
     CFTPKIE_PHASE_BIT(CFTPKIE_END_TASK))

/* ---- return codes of cftpkie() ------------------------------------------- */
#define CFTPKIE_HANDLED     0 /**< the exit did the step; outputs are set */
#define CFTPKIE_NOT_HANDLED 1 /**< the internal PKI base does the step */
#define CFTPKIE_ERROR       2 /**< the step failed (fill error_text) */

/* ---- flags (zpki->flags, in) --------------------------------------------- */
#define CFTPKIE_F_PROBE  0x1u /**< StartTask/EndTask of the load check (task 0) */
#define CFTPKIE_F_SERVER 0x2u /**< session phases: we are the TLS server */

/* ---- CryptData algorithms and digests ------------------------------------ */
#define CFTPKIE_SIGN_RSA_PKCS1 1 /**< RSASSA-PKCS1-v1_5 over a digest (TLS 1.2) */
#define CFTPKIE_SIGN_RSA_PSS   2 /**< RSASSA-PSS, MGF1 with the digest, salt = digest length */
#define CFTPKIE_SIGN_ECDSA     3 /**< ECDSA over a digest; signature DER Ecdsa-Sig-Value */
#define CFTPKIE_SIGN_ED25519   4 /**< Ed25519 (PureEdDSA) over the message itself */

#define CFTPKIE_MD_NONE   0 /**< no digest (Ed25519) */
#define CFTPKIE_MD_SHA1   1 /**< SHA-1 (TLS 1.2 legacy signature schemes) */
#define CFTPKIE_MD_SHA256 2 /**< SHA-256 */
#define CFTPKIE_MD_SHA384 3 /**< SHA-384 */
#define CFTPKIE_MD_SHA512 4 /**< SHA-512 */

/* ---- alert directions and levels ----------------------------------------- */
#define CFTPKIE_ALERT_SENT     1 /**< we sent the alert */
#define CFTPKIE_ALERT_RECEIVED 2 /**< the peer sent the alert */
#define CFTPKIE_ALERT_WARNING  1 /**< TLS AlertLevel warning */
#define CFTPKIE_ALERT_FATAL    2 /**< TLS AlertLevel fatal */

/* ---- capacities ---------------------------------------------------------- */
#define CFTPKIE_TASK_AREA_CAP    4096u      /**< task public area */
#define CFTPKIE_GLOBAL_AREA_CAP  64u        /**< global area of HandshakeDone */
#define CFTPKIE_SESSION_AREA_MAX (1u << 20) /**< largest private area an exit may ask */
#define CFTPKIE_ERRTEXT_CAP      256u       /**< error_text, with its NUL */
#define CFTPKIE_CONF_CAP         1024u      /**< conf (pki.exit.conf), with its NUL */
#define CFTPKIE_PASSWORD_CAP     256u       /**< pki_password, with its NUL */
#define CFTPKIE_ID_CAP           72u        /**< a certificate id (<= 64 chars) + NUL */
#define CFTPKIE_NAME_CAP         256u       /**< partner id, SNI, address, DN filter + NUL */
#define CFTPKIE_CA_IDS_MAX       16u        /**< entries of ca_ids */
#define CFTPKIE_DN_FILTERS_MAX   16u        /**< entries of dn_filters */
#define CFTPKIE_CHAIN_MAX        10u        /**< certificates in a chain */
#define CFTPKIE_CHAIN_CAP        65536u     /**< bytes of a chain (all DER certificates) */
#define CFTPKIE_CA_NAMES_MAX     64u        /**< CA names in a list */
#define CFTPKIE_CA_NAMES_CAP     16384u     /**< bytes of a CA name list (all DER Names) */
#define CFTPKIE_SIGALGS_MAX      64u        /**< entries of sigalgs */
#define CFTPKIE_DATA_CAP                                                                           \
    262144u                      /**< data to sign (Ed25519 in TLS 1.2 signs the                   \
                                      whole handshake transcript) */
#define CFTPKIE_SIG_CAP    1024u /**< a signature (RSA up to 8192 bits) */
#define CFTPKIE_KEY_CAP    8192u /**< a PKCS#8 private key (DER) */
#define CFTPKIE_CIPHER_CAP 64u   /**< cipher name + NUL */

/**
 * The communication structure. Text fields are NUL-terminated UTF-8 within
 * their capacity. DER buffers hold the encodings one after the other; the
 * i-th item starts after the sum of the lengths of the items before it.
 */
struct pkicom {
    /* ---- header: every phase ---- */
    uint32_t size;              /**< in, all: sizeof(struct pkicom) of the host */
    uint32_t abi_version;       /**< in, all: CFTPKIE_ABI_VERSION of the host */
    uint32_t phase;             /**< in, all: CFTPKIE_START_TASK .. CFTPKIE_END_TASK */
    uint32_t flags;             /**< in, all: CFTPKIE_F_* */
    uint32_t exit_abi_version;  /**< out, StartTask: the CFTPKIE_ABI_VERSION the exit was
                                     built with (required; 0 or unknown = the task fails) */
    uint32_t phase_mask;        /**< out, StartTask: CFTPKIE_PHASE_BIT() of each later
                                     phase to call (0 = none) */
    uint32_t session_area_size; /**< out, StartTask: bytes of the per-session private
                                     area (0..CFTPKIE_SESSION_AREA_MAX) */
    uint32_t reserved0;         /**< in, all: 0 */

    /* ---- references ---- */
    uint64_t host_task_ref;    /**< in, all: the host's task id (0 for the load probe) */
    uint64_t exit_task_ref;    /**< out StartTask; in every later phase of the task */
    uint64_t host_session_ref; /**< in, session phases (StartHandshake .. EndSession):
                                    the host's session number, unique within the task,
                                    from 1; 0 in StartTask/EndTask */
    uint64_t exit_session_ref; /**< out StartHandshake; in later phases of the session
                                    (0 if StartHandshake is not wanted) */
    uint8_t *session_area;     /**< in, session phases: the per-session private area
                                    (session_area_size bytes, zeroed at StartHandshake,
                                    kept until EndSession; NULL when size 0). A pointer
                                    in the exit's own address space (8 bytes on the
                                    64-bit platforms pkie supports, pinned below); the
                                    host never reads it back */

    /* ---- areas ---- */
    uint8_t task_area[CFTPKIE_TASK_AREA_CAP];     /**< in/out, all: the task public area,
                                                       zeroed before StartTask, kept between
                                                       the calls of one task */
    uint8_t global_area[CFTPKIE_GLOBAL_AREA_CAP]; /**< out, HandshakeDone: recorded by the
                                                       transfer layer with the transfer */
    char error_text[CFTPKIE_ERRTEXT_CAP];         /**< out, all: why the exit answered
                                                       CFTPKIE_ERROR (logged by the host) */

    /* ---- StartTask ---- */
    char conf[CFTPKIE_CONF_CAP];             /**< in, StartTask: the pki.exit.conf string */
    char pki_password[CFTPKIE_PASSWORD_CAP]; /**< out, StartTask of the load probe only:
                                                  optional password of the PKI base, used
                                                  when pki.password is not configured
                                                  (wiped by the host after use) */

    /* ---- StartHandshake: session description ---- */
    char partner_id[CFTPKIE_NAME_CAP]; /**< in, session phases: partner name ("" unknown) */
    char peer_addr[CFTPKIE_NAME_CAP];  /**< in, session phases: peer IP address text */
    uint32_t peer_port;                /**< in, session phases: peer TCP port */
    uint32_t local_port;               /**< in, session phases: local TCP port */
    char sni[CFTPKIE_NAME_CAP];        /**< in, StartHandshake: client: the server name
                                            it will send; server: "" */

    /* ---- the security profile: in, every session phase; out, StartHandshake ---- */
    char cert_id[CFTPKIE_ID_CAP]; /**< in/out StartHandshake: id of our certificate;
                                       in later phases */
    uint32_t n_ca_ids;            /**< in/out StartHandshake: entries of ca_ids
                                       (<= CFTPKIE_CA_IDS_MAX) */
    char ca_ids[CFTPKIE_CA_IDS_MAX][CFTPKIE_ID_CAP]; /**< in/out StartHandshake: ids of the
                                                          CAs we accept */
    int32_t verify_depth;                            /**< in/out StartHandshake: max CA
                                                          certificates above the peer leaf
                                                          (1..CFTPKIE_CHAIN_MAX) */
    uint32_t n_dn_filters; /**< in/out StartHandshake: entries of dn_filters */
    char dn_filters[CFTPKIE_DN_FILTERS_MAX][CFTPKIE_NAME_CAP]; /**< in/out StartHandshake:
                                                                    accepted peer subject DN
                                                                    patterns (RFC 4514,
                                                                    '*' per value) */

    /* ---- GetCertificate (out): our chain ---- */
    uint32_t chain_count;                  /**< out, GetCertificate: certificates in
                                                chain (1..CFTPKIE_CHAIN_MAX), leaf first */
    uint32_t chain_len[CFTPKIE_CHAIN_MAX]; /**< out, GetCertificate: DER length of each */
    uint8_t chain[CFTPKIE_CHAIN_CAP];      /**< out, GetCertificate: the DER certificates */

    /* ---- CA names: out GetCAList; in GetCertificate (client) ---- */
    uint32_t ca_names_count; /**< out GetCAList: names to send (0..CFTPKIE_CA_NAMES_MAX);
                                  in GetCertificate on the client: names the server sent */
    uint32_t ca_names_len[CFTPKIE_CA_NAMES_MAX]; /**< the DER length of each Name */
    uint8_t ca_names[CFTPKIE_CA_NAMES_CAP];      /**< the DER X.501 Names */

    /* ---- signature schemes the peer accepts: in GetCertificate, CryptData ---- */
    uint32_t n_sigalgs;                    /**< in: entries of sigalgs */
    uint16_t sigalgs[CFTPKIE_SIGALGS_MAX]; /**< in: TLS SignatureScheme codes
                                                (e.g. 0x0403 ecdsa_secp256r1_sha256) */

    /* ---- peer chain: in CheckCertificate, HandshakeDone ---- */
    uint32_t peer_count;                   /**< in: certificates the peer sent, leaf first
                                                (HandshakeDone: the leaf only, 1) */
    uint32_t peer_len[CFTPKIE_CHAIN_MAX];  /**< in: DER length of each */
    uint8_t peer_chain[CFTPKIE_CHAIN_CAP]; /**< in: the DER certificates */
    uint32_t accept; /**< out, CheckCertificate: 1 = accept the peer, 0 = refuse it
                          with alert_code (preset 0: fail closed); any other value is an
                          invalid answer (refused with internal_error) */

    /* ---- alerts: in HandshakeAlert; out CheckCertificate on refusal ---- */
    uint32_t alert_level;     /**< in HandshakeAlert: CFTPKIE_ALERT_WARNING / FATAL */
    uint32_t alert_code;      /**< in HandshakeAlert: TLS AlertDescription;
                                   out CheckCertificate: the alert to send when refusing,
                                   one of 42, 43, 44, 45, 46, 48, 51, 80 (0 = 42) */
    uint32_t alert_direction; /**< in HandshakeAlert: CFTPKIE_ALERT_SENT / RECEIVED */

    /* ---- CryptData ---- */
    uint32_t sign_alg;              /**< in: CFTPKIE_SIGN_* */
    uint32_t sign_digest;           /**< in: CFTPKIE_MD_* */
    uint32_t data_len;              /**< in: bytes of data */
    uint8_t data[CFTPKIE_DATA_CAP]; /**< in: the digest (RSA, ECDSA) or the message
                                         (Ed25519) to sign */
    uint32_t sig_len;               /**< out: bytes of sig (1..CFTPKIE_SIG_CAP) */
    uint8_t sig[CFTPKIE_SIG_CAP];   /**< out: the signature (ECDSA: DER) */
    uint32_t key_len;               /**< out, instead of sig: bytes of key */
    uint8_t key[CFTPKIE_KEY_CAP];   /**< out: the private key as PKCS#8 PrivateKeyInfo
                                         DER; the host signs with it for this
                                         signature and wipes it */

    /* ---- HandshakeDone ---- */
    uint32_t tls_version;                 /**< in: 0x0303 TLS 1.2, 0x0304 TLS 1.3 */
    uint32_t cipher_id;                   /**< in: IANA cipher suite number */
    char cipher_name[CFTPKIE_CIPHER_CAP]; /**< in: OpenSSL's cipher name */

    /* ---- fields above are in version 1 ---- */
};

/** End of the version 1 fields: a host of version 1 has size >= this. */
#define CFTPKIE_V1_END (offsetof(struct pkicom, cipher_name) + CFTPKIE_CIPHER_CAP)

/**
 * Is @p field (added in ABI version @p version) there in the host's struct?
 * An exit touches a field of version > 1 only when this is true, e.g.
 * CFTPKIE_HAS(zpki, 2, some_v2_field).
 */
#define CFTPKIE_HAS(zpki, version, field)                                                          \
    ((zpki)->abi_version >= (version) &&                                                           \
     (zpki)->size >= offsetof(struct pkicom, field) + sizeof((zpki)->field))

/* The version 1 layout, pinned (64-bit platforms, C11 or C++11). */
#if (defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L) || defined(__cplusplus)
#if defined(__LP64__) || defined(_LP64)
#ifdef __cplusplus
#define CFTPKIE_SA_ static_assert
#else
#define CFTPKIE_SA_ _Static_assert
#endif
#define CFTPKIE_PIN_(f, off, sz)                                                                   \
    CFTPKIE_SA_(offsetof(struct pkicom, f) == (off) && sizeof(((struct pkicom *)0)->f) == (sz),    \
                "struct pkicom: version 1 field " #f " moved or resized")
CFTPKIE_PIN_(size, 0, 4);
CFTPKIE_PIN_(abi_version, 4, 4);
CFTPKIE_PIN_(phase, 8, 4);
CFTPKIE_PIN_(flags, 12, 4);
CFTPKIE_PIN_(exit_abi_version, 16, 4);
CFTPKIE_PIN_(phase_mask, 20, 4);
CFTPKIE_PIN_(session_area_size, 24, 4);
CFTPKIE_PIN_(reserved0, 28, 4);
CFTPKIE_PIN_(host_task_ref, 32, 8);
CFTPKIE_PIN_(exit_task_ref, 40, 8);
CFTPKIE_PIN_(host_session_ref, 48, 8);
CFTPKIE_PIN_(exit_session_ref, 56, 8);
CFTPKIE_PIN_(session_area, 64, 8);
CFTPKIE_PIN_(task_area, 72, 4096);
CFTPKIE_PIN_(global_area, 4168, 64);
CFTPKIE_PIN_(error_text, 4232, 256);
CFTPKIE_PIN_(conf, 4488, 1024);
CFTPKIE_PIN_(pki_password, 5512, 256);
CFTPKIE_PIN_(partner_id, 5768, 256);
CFTPKIE_PIN_(peer_addr, 6024, 256);
CFTPKIE_PIN_(peer_port, 6280, 4);
CFTPKIE_PIN_(local_port, 6284, 4);
CFTPKIE_PIN_(sni, 6288, 256);
CFTPKIE_PIN_(cert_id, 6544, 72);
CFTPKIE_PIN_(n_ca_ids, 6616, 4);
CFTPKIE_PIN_(ca_ids, 6620, 1152);
CFTPKIE_PIN_(verify_depth, 7772, 4);
CFTPKIE_PIN_(n_dn_filters, 7776, 4);
CFTPKIE_PIN_(dn_filters, 7780, 4096);
CFTPKIE_PIN_(chain_count, 11876, 4);
CFTPKIE_PIN_(chain_len, 11880, 40);
CFTPKIE_PIN_(chain, 11920, 65536);
CFTPKIE_PIN_(ca_names_count, 77456, 4);
CFTPKIE_PIN_(ca_names_len, 77460, 256);
CFTPKIE_PIN_(ca_names, 77716, 16384);
CFTPKIE_PIN_(n_sigalgs, 94100, 4);
CFTPKIE_PIN_(sigalgs, 94104, 128);
CFTPKIE_PIN_(peer_count, 94232, 4);
CFTPKIE_PIN_(peer_len, 94236, 40);
CFTPKIE_PIN_(peer_chain, 94276, 65536);
CFTPKIE_PIN_(accept, 159812, 4);
CFTPKIE_PIN_(alert_level, 159816, 4);
CFTPKIE_PIN_(alert_code, 159820, 4);
CFTPKIE_PIN_(alert_direction, 159824, 4);
CFTPKIE_PIN_(sign_alg, 159828, 4);
CFTPKIE_PIN_(sign_digest, 159832, 4);
CFTPKIE_PIN_(data_len, 159836, 4);
CFTPKIE_PIN_(data, 159840, 262144);
CFTPKIE_PIN_(sig_len, 421984, 4);
CFTPKIE_PIN_(sig, 421988, 1024);
CFTPKIE_PIN_(key_len, 423012, 4);
CFTPKIE_PIN_(key, 423016, 8192);
CFTPKIE_PIN_(tls_version, 431208, 4);
CFTPKIE_PIN_(cipher_id, 431212, 4);
CFTPKIE_PIN_(cipher_name, 431216, 64);
CFTPKIE_SA_(CFTPKIE_V1_END == 431280u, "struct pkicom: version 1 size changed");
#undef CFTPKIE_PIN_
#undef CFTPKIE_SA_
#endif
#endif

/** The exit's entry point. */
int cftpkie(struct pkicom *zpki);

#ifdef __cplusplus
}
#endif
#endif
