/*
 * audit: the pure half of the hash-chained audit trail (docs/security.md "Audit
 * trail"). An event (struct audit_event, borrowed strings, NULL = "") becomes a
 * record (struct audit_rec, owned strings): every text capped and cleaned, then
 * linked into its chain (chain id, seq from 1, prev = hash of the previous record,
 * 64 zeros for the first) and hashed. audit_line() is its InfluxDB point
 * (measurement mem_dump_audit, tags action/result/chain). audit_recs_from_series()
 * reads records back from an InfluxDB answer and audit_verify() checks chains.
 * No I/O, no threads.
 *
 * THE HASH: hash = lowercase hex SHA-256 of the canonical text
 *   "memdump-audit-v1\n" then, in this order, one line per item
 *   NAME "=" LEN ":" VALUE "\n"
 * for prev, chain, seq, at, action, result, request_id, user, auth, role, client,
 * vm, dump_id, status, detail; LEN is the decimal byte length of VALUE, seq and
 * status are decimal integers, at is RFC 3339 UTC with milliseconds
 * ("2026-11-22T18:30:00.123Z"), every VALUE is the cleaned text as stored.
 * The point's own timestamp is not hashed (it only orders the chain).
 *
 * CLEANING: detail is cut to AUDIT_DETAIL_MAX bytes, every other text to
 * AUDIT_TEXT_MAX, never inside a UTF-8 sequence; control bytes and invalid UTF-8
 * become '?'. action and result must be [a-z0-9._-]{1,32}, the chain
 * [A-Za-z0-9._-]{1,AUDIT_CHAIN_MAX}.
 */
#ifndef MEMDUMP_AUDIT_H
#define MEMDUMP_AUDIT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "err.h"

#define AUDIT_MEASUREMENT "mem_dump_audit"
#define AUDIT_DETAIL_MAX 256
#define AUDIT_TEXT_MAX 128
#define AUDIT_CHAIN_MAX 96
#define AUDIT_NAME_MAX 32
#define AUDIT_HASH_HEX 64
#define AUDIT_ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"
#define AUDIT_FINDINGS_MAX 1000 /* problems listed by one verify; more are counted */

struct audit_event {
	const char *action, *result, *request_id, *user, *auth, *role, *client, *vm, *dump_id,
	    *detail;
	int status;
};

struct audit_rec {
	char *chain;
	long long seq;
	char at[32];
	char *action, *result, *request_id, *user, *auth, *role, *client, *vm, *dump_id, *detail;
	long long status;
	char prev[AUDIT_HASH_HEX + 1];
	char hash[AUDIT_HASH_HEX + 1];
	long long time; /* the point's time as read back (any unit, only compared); 0 when built */
};

/* Build a record: clean ev, link it after prev (64 hex digits) and hash it.
 * ERR_INVALID for a bad chain, action, result, seq < 1 or prev. */
int audit_rec_build(struct audit_rec *r, const struct audit_event *ev, const char *chain,
                    long long seq, long long at_ms, const char *prev, struct err *e);
void audit_rec_release(struct audit_rec *r);

/* The canonical text above (new, *len bytes) and its hash. */
char *audit_canonical(const struct audit_rec *r, size_t *len);
void audit_hash(const struct audit_rec *r, char out[AUDIT_HASH_HEX + 1]);

/* The record's line-protocol point with timestamp time_ns (write it with precision=ns). */
int audit_line(const struct audit_rec *r, long long time_ns, char **out, size_t *len,
               struct err *e);

/* Copy in (NULL = "") into out (cap + 1 bytes) cleaned as above; returns its length. */
size_t audit_text_clean(const char *in, size_t cap, char *out);

/* ---- reading back and verifying ---- */

struct audit_recs {
	struct audit_rec *v;
	size_t n, cap;
	size_t malformed; /* rows that were not an audit record (counted as problems) */
};

/* Append the records of an InfluxDB answer (SELECT * FROM mem_dump_audit, with or
 * without GROUP BY chain) to out; at most max records in all (ERR_TOO_LARGE). */
int audit_recs_from_series(const json_t *series, struct audit_recs *out, size_t max, struct err *e);
void audit_recs_release(struct audit_recs *rs);
/* One record as the JSON object GET /audit answers (new). */
json_t *audit_rec_json(const struct audit_rec *r);

enum audit_problem {
	AUDIT_MISSING,      /* seq .. seq_last absent (removed) */
	AUDIT_EDITED,       /* hash does not match the fields */
	AUDIT_OUT_OF_ORDER, /* its time is before the time of the seq before it (reordered) */
	AUDIT_BROKEN_LINK,  /* its prev is not the hash of seq - 1 (replaced or reordered) */
	AUDIT_DUPLICATE,    /* two different records with the same seq */
	AUDIT_MALFORMED,    /* a row that is not an audit record */
	AUDIT_PROBLEM__MAX
};
const char *audit_problem_name(enum audit_problem p);

struct audit_finding {
	char chain[AUDIT_CHAIN_MAX + 1];
	long long seq, seq_last;
	enum audit_problem what;
};

struct audit_report {
	size_t events, chains;
	struct audit_finding *findings; /* at most AUDIT_FINDINGS_MAX */
	size_t n_findings, more;        /* more: problems not listed */
};

/* Check every chain of rs (sorts rs). from_start: the records go back to each chain's
 * first event (no --since), so seq must start at 1 with prev = zeros. */
void audit_verify(struct audit_recs *rs, bool from_start, struct audit_report *rep);
void audit_report_release(struct audit_report *rep);

/*
 * Chain heads: the (seq, hash) of each chain's newest event, kept outside InfluxDB
 * (Redis, memdump:audit:head:<chain>) by the process that writes the chain. Checked
 * against the records verified above (rs, sorted by audit_verify), a head finds what
 * the chain alone cannot: its last events removed (AUDIT_MISSING from the last record
 * read + 1 to the head's seq, or the whole chain) or its last event replaced
 * (AUDIT_BROKEN_LINK at the head's seq). spooled_last: per head, the highest seq
 * still waiting in the spool (0: none), which is not missing. Pure.
 */
struct audit_head {
	char chain[AUDIT_CHAIN_MAX + 1];
	long long seq;
	char hash[AUDIT_HASH_HEX + 1];
};
/* "SEQ HASH" (what the head key holds) -> 0, or -1 when malformed. */
int audit_head_parse(const char *s, struct audit_head *h);
void audit_verify_heads(const struct audit_recs *rs, const struct audit_head *heads, size_t n,
                        const long long *spooled_last, struct audit_report *rep);
/* "chain X: event seq 5 missing" (new). */
char *audit_finding_text(const struct audit_finding *f);

#endif
