/* Options of the `pkie cmp` client: the names and meanings of `openssl cmp`,
 * from the command line and from openssl-style configuration sections. */
#ifndef PKIE_APP_CMP_CLIENT_OPTS_H
#define PKIE_APP_CMP_CLIENT_OPTS_H

#include <openssl/conf.h>

/* X(name, kind, help). Kinds: F flag, S string, N non-negative integer,
 * I integer, P positive integer, VF verification flag, VS verification
 * value, IG accepted and ignored (with argument), U not supported (with
 * argument), UF not supported (flag). */
#define CMPC_OPTIONS(X)                                                                            \
    X(help, F, "Display this summary")                                                             \
    X(config, S, "Configuration file to use; \"\" = none. Default from env OPENSSL_CONF")          \
    X(section, S,                                                                                  \
      "Section(s) in config file to get options from. \"\" = 'default'. Default 'cmp'")            \
    X(verbosity, N, "Log level; 3=ERR, 4=WARN, 6=INFO, 7=DEBUG, 8=TRACE. Default 6")               \
    X(cmd, S, "CMP request to send: ir/cr/kur/p10cr/rr/genm")                                      \
    X(infotype, S, "InfoType name for genm, e.g. signKeyPairTypes, caCerts, rootCaCert")           \
    X(geninfo, S, "Comma-separated list of OID and value to place in generalInfo PKIHeader")       \
    X(profile, S, "Certificate profile name to place in generalInfo field of PKIHeader")           \
    X(template, S, "File to save certTemplate received in genp of type certReqTemplate")           \
    X(keyspec, S, "Optional file to save Key specification received with certReqTemplate")         \
    X(newkey, S, "Private or public key for the requested cert. Default: CSR key or client key")   \
    X(newkeypass, S, "New private key pass phrase source")                                         \
    X(subject, S, "Distinguished Name (DN) of subject to use in the requested cert template")      \
    X(issuer, S, "DN of the issuer to place in the requested certificate template")                \
    X(days, N, "Requested validity time of the new certificate in number of days")                 \
    X(reqexts, S, "Name of config file section defining certificate request extensions")           \
    X(sans, S, "Subject Alt Names (IPADDR/DNS/URI) to add as (critical) cert req extension")       \
    X(san_nodefault, F, "Do not take default SANs from reference certificate (see -oldcert)")      \
    X(policies, S, "Name of config file section defining policies certificate request extension")  \
    X(policy_oids, S, "Policy OID(s) to add as policies certificate request extension")            \
    X(policy_oids_critical, F, "Flag the policy OID(s) given with -policy_oids as critical")       \
    X(popo, I, "Proof-of-Possession method: -1 NONE, 0 RAVERIFIED, 1 SIGNATURE (default)")         \
    X(centralkeygen, F, "Request central key generation for certificate enrollment")               \
    X(newkeyout, S, "File to save centrally generated key, in PEM format")                         \
    X(csr, S, "PKCS#10 CSR file in PEM or DER format to convert or to use in p10cr")               \
    X(out_trusted, S, "Certificates to trust when verifying newly enrolled certificates")          \
    X(implicit_confirm, F, "Request implicit confirmation of newly enrolled certificates")         \
    X(disable_confirm, F, "Do not confirm newly enrolled certificate (violates RFC 4210)")         \
    X(certout, S, "File to save newly enrolled certificate")                                       \
    X(chainout, S, "File to save the chain of newly enrolled certificate")                         \
    X(oldcert, S, "Certificate to be updated (defaulting to -cert) or to be revoked in rr")        \
    X(serial, S, "Serial number of certificate to be revoked in rr (with -issuer)")                \
    X(revreason, I, "Reason code in rr: 0..6, 8..10 (RFC 5280 5.3.1) or -1 = none (default)")      \
    X(oldwithold, S, "Root CA certificate to request update for in genm of type rootCaCert")       \
    X(newwithnew, S, "File to save NewWithNew cert received in genp of type rootCaKeyUpdate")      \
    X(newwithold, S, "File to save NewWithOld cert received in genp of type rootCaKeyUpdate")      \
    X(oldwithnew, S, "File to save OldWithNew cert received in genp of type rootCaKeyUpdate")      \
    X(crlcert, S, "Certificate whose issuer's CRL is requested in genm of type crlStatusList")     \
    X(oldcrl, S, "CRL to request an update for in genm of type crlStatusList")                     \
    X(crlout, S, "File to save new CRL received in genp of type 'crls'")                           \
    X(crlform, S, "Format (PEM or DER) to use when saving a CRL to a file. Default DER")           \
    X(server, S, "[http[s]://]address[:port][/path] of CMP server")                                \
    X(proxy, S, "[http[s]://]address[:port][/path] of HTTP(S) proxy to use; path is ignored")      \
    X(no_proxy, S, "List of addresses of servers not to use HTTP(S) proxy for")                    \
    X(recipient, S,                                                                                \
      "DN of CA. Default: subject of -srvcert, -issuer, issuer of -oldcert or -cert")              \
    X(path, S, "HTTP path (aka CMP alias) at the CMP server. Default from -server, else \"/\"")    \
    X(keep_alive, N, "Persistent HTTP connections. 0: no, 1 (the default): request, 2: require")   \
    X(msg_timeout, N, "Seconds allowed per CMP message round trip, or 0 for infinite")             \
    X(total_timeout, N, "Overall time an enrollment incl. polling may take. Default 0 = infinite") \
    X(max_resp_size, P, "Largest response accepted in bytes (pkie extension). Default 1048576")    \
    X(trusted, S, "Certificates to use as trust anchors when verifying signed CMP responses")      \
    X(untrusted, S, "Intermediate CA certs for chain construction for CMP/TLS/enrolled certs")     \
    X(srvcert, S, "Server cert to pin and trust directly when verifying signed CMP responses")     \
    X(expect_sender, S, "DN of expected sender of responses. Defaults to subject of -srvcert")     \
    X(ignore_keyusage, F, "Ignore CMP signer cert key usage")                                      \
    X(unprotected_errors, F, "Accept missing or invalid protection of negative responses")         \
    X(no_cache_extracerts, F,                                                                      \
      "Do not keep certificates received in the extraCerts CMP message field")                     \
    X(ta_in_ip_extracerts, F,                                                                      \
      "Permit using self-issued certificates from the extraCerts in an IP message as trust "       \
      "anchors")                                                                                   \
    X(srvcertout, S,                                                                               \
      "File to save the server cert used and validated for CMP response protection")               \
    X(extracertsout, S, "File to save extra certificates received in the extraCerts field")        \
    X(cacertsout, S, "File to save CA certificates received in caPubs or genp caCerts")            \
    X(ref, S, "Reference value to use as senderKID in case no -cert is given")                     \
    X(secret, S, "Prefer PBM (over signatures) for protecting msgs with given password source")    \
    X(cert, S, "Client's CMP signer certificate; its public key must match the -key argument")     \
    X(own_trusted, S, "Optional certs to verify chain building for own CMP signer cert")           \
    X(key, S, "CMP signer private key, not used when -secret given")                               \
    X(keypass, S, "Client private key (and cert and old cert) pass phrase source")                 \
    X(digest, S, "Digest to use in message protection and POPO signatures. Default \"sha256\"")    \
    X(mac, S, "MAC algorithm to use in PBM-based message protection. Default \"hmac-sha1\"")       \
    X(pbmac1, F, "Use PBMAC1 (RFC 9481) instead of PasswordBasedMac (pkie extension)")             \
    X(extracerts, S, "Certificates to append in extraCerts field of outgoing messages")            \
    X(unprotected_requests, F, "Send request messages without CMP-level protection")               \
    X(certform, S, "Format (PEM or DER) to use when saving a certificate to a file. Default PEM")  \
    X(keyform, S, "Format of the key input (ENGINE, other values ignored)")                        \
    X(otherpass, S, "Pass phrase source potentially needed for loading certificates of others")    \
    X(engine, U, "Use crypto engine with given identifier")                                        \
    X(provider_path, U, "Provider load path")                                                      \
    X(provider, U, "Provider to load")                                                             \
    X(propquery, U, "Property query used when fetching algorithms")                                \
    X(rand, S, "Load the given file(s) into the random number generator")                          \
    X(writerand, S, "Write random data to the specified file")                                     \
    X(tls_used, F, "Enable using TLS (also when other TLS options are not set)")                   \
    X(tls_cert, S, "Client's TLS certificate")                                                     \
    X(tls_key, S, "Private key for the client's TLS certificate")                                  \
    X(tls_keypass, S, "Pass phrase source for the client's private TLS key (and TLS cert)")        \
    X(tls_extra, S, "Extra certificates to provide to TLS server during TLS handshake")            \
    X(tls_trusted, S, "Trusted certificates to use for verifying the TLS server certificate")      \
    X(tls_host, S, "Address to be checked (rather than -server) during TLS host name validation")  \
    X(batch, F, "Do not interactively prompt for input when a password is required etc.")          \
    X(repeat, P, "Invoke the transaction the given positive number of times. Default 1")           \
    X(reqin, S, "Take sequence of CMP requests to send to server from file(s)")                    \
    X(reqin_new_tid, F, "Use fresh transactionID for CMP requests read from -reqin")               \
    X(reqout, S, "Save sequence of CMP requests created by the client to file(s)")                 \
    X(reqout_only, S, "Save first CMP request created by the client to file and exit")             \
    X(rspin, S, "Process sequence of CMP responses provided in file(s), skipping server")          \
    X(rspout, S, "Save sequence of actually used CMP responses to file(s)")                        \
    X(use_mock_srv, UF, "Use internal mock server at API level (not in pkie cmp)")                 \
    X(port, U, "Act as HTTP-based mock server (not in pkie cmp)")                                  \
    X(max_msgs, U, "Mock server option (not in pkie cmp)")                                         \
    X(srv_ref, U, "Mock server option (not in pkie cmp)")                                          \
    X(srv_secret, U, "Mock server option (not in pkie cmp)")                                       \
    X(srv_cert, U, "Mock server option (not in pkie cmp)")                                         \
    X(srv_key, U, "Mock server option (not in pkie cmp)")                                          \
    X(srv_keypass, U, "Mock server option (not in pkie cmp)")                                      \
    X(srv_trusted, U, "Mock server option (not in pkie cmp)")                                      \
    X(srv_untrusted, U, "Mock server option (not in pkie cmp)")                                    \
    X(rsp_cert, U, "Mock server option (not in pkie cmp)")                                         \
    X(rsp_extracerts, U, "Mock server option (not in pkie cmp)")                                   \
    X(rsp_capubs, U, "Mock server option (not in pkie cmp)")                                       \
    X(poll_count, U, "Mock server option (not in pkie cmp)")                                       \
    X(check_after, U, "Mock server option (not in pkie cmp)")                                      \
    X(grant_implicitconf, UF, "Mock server option (not in pkie cmp)")                              \
    X(pkistatus, U, "Mock server option (not in pkie cmp)")                                        \
    X(failure, U, "Mock server option (not in pkie cmp)")                                          \
    X(failurebits, U, "Mock server option (not in pkie cmp)")                                      \
    X(statusstring, U, "Mock server option (not in pkie cmp)")                                     \
    X(send_error, UF, "Mock server option (not in pkie cmp)")                                      \
    X(send_unprotected, UF, "Mock server option (not in pkie cmp)")                                \
    X(send_unprot_err, UF, "Mock server option (not in pkie cmp)")                                 \
    X(accept_unprotected, UF, "Mock server option (not in pkie cmp)")                              \
    X(accept_unprot_err, UF, "Mock server option (not in pkie cmp)")                               \
    X(accept_raverified, UF, "Mock server option (not in pkie cmp)")                               \
    X(policy, VS, "adds policy to the acceptable policy set")                                      \
    X(purpose, VS, "certificate chain purpose")                                                    \
    X(verify_name, VS, "verification policy name")                                                 \
    X(verify_depth, VS, "chain depth limit")                                                       \
    X(auth_level, VS, "chain authentication security level")                                       \
    X(attime, VS, "verification epoch time")                                                       \
    X(verify_hostname, VS, "expected peer hostname")                                               \
    X(verify_email, VS, "expected peer email")                                                     \
    X(verify_ip, VS, "expected peer IP address")                                                   \
    X(ignore_critical, VF, "permit unhandled critical extensions")                                 \
    X(issuer_checks, VF, "(deprecated)")                                                           \
    X(crl_check, VF, "check leaf certificate revocation")                                          \
    X(crl_check_all, VF, "check full chain revocation")                                            \
    X(policy_check, VF, "perform rfc5280 policy checks")                                           \
    X(explicit_policy, VF, "set policy variable require-explicit-policy")                          \
    X(inhibit_any, VF, "set policy variable inhibit-any-policy")                                   \
    X(inhibit_map, VF, "set policy variable inhibit-policy-mapping")                               \
    X(x509_strict, VF, "disable certificate compatibility work-arounds")                           \
    X(extended_crl, VF, "enable extended CRL features")                                            \
    X(use_deltas, VF, "use delta CRLs")                                                            \
    X(policy_print, VF, "print policy processing diagnostics")                                     \
    X(check_ss_sig, VF, "check root CA self-signatures")                                           \
    X(trusted_first, VF, "search trust store first (default)")                                     \
    X(suiteB_128_only, VF, "Suite B 128-bit-only mode")                                            \
    X(suiteB_128, VF, "Suite B 128-bit mode allowing 192-bit algorithms")                          \
    X(suiteB_192, VF, "Suite B 192-bit-only mode")                                                 \
    X(partial_chain, VF, "accept chains anchored by intermediate trust-store CAs")                 \
    X(no_alt_chains, VF, "(deprecated)")                                                           \
    X(no_check_time, VF, "ignore certificate validity time")                                       \
    X(allow_proxy_certs, VF, "allow the use of proxy certificates")

enum cmpc_opt {
#define X(n, k, h) CMPC_##n,
    CMPC_OPTIONS(X)
#undef X
        CMPC_N_OPTS
};

/** Option values after command line and configuration are merged. A flag
 *  is "1" when set; NULL = not given. */
struct cmpc_opts {
    const char *val[CMPC_N_OPTS];
    char *owned[CMPC_N_OPTS]; /* numbers read from the configuration, as text */
    CONF *conf;               /* the loaded configuration file (NULL = none) */
};

/** Parse argv (without the leading "cmp") and the configuration as openssl
 *  cmp reads it (docs/cmp-client.md, "Configuration"): the options of the
 *  table are looked up in the -section list from its last name to its
 *  first, each name falling back to [default] (NCONF_get_string); an empty
 *  value is "not set"; keys that are no option are ignored; the command line
 *  overrides, an empty argument resetting the option.
 *  Returns 0, 1 after -help (printed), or -1 after printing a one-line error. */
int cmpc_opts_parse(struct cmpc_opts *o, int argc, char **argv);
void cmpc_opts_free(struct cmpc_opts *o);

/** The default -section, and the longest section name used (longer names
 *  are cut, with a warning, as openssl cmp does). */
#define CMPC_SECTION_CMP "cmp"
#define CMPC_SECTION_MAX 40
/** Walk a section list ("a b,c") backwards: the name before @p end into
 *  @p item; returns the new end, NULL when none is left. Names are separated
 *  by commas and white space. */
const char *cmpc_section_prev(const char *list, const char *end, char item[CMPC_SECTION_MAX + 1]);
/** The value of @p name in a section list: the last section (or its
 *  [default] fallback) that has it wins; NULL if none has it. */
const char *cmpc_conf_get(const CONF *conf, const char *sections, const char *name);
/** Print the option summary. */
void cmpc_opts_usage(void);
/** Name of an option. */
const char *cmpc_opt_name(enum cmpc_opt i);
/** Integer value of a numeric option (already range-checked), @p def if unset. */
long cmpc_opt_int(const struct cmpc_opts *o, enum cmpc_opt i, long def);

#endif
