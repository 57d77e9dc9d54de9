/*
 * index.h - each user's list of sessions, so a user (or an operator) can see
 * them and end one or all: a sorted set of session hashes scored by the
 * session's absolute expiry (ms), and a hash of session hash -> "CREATED\t
 * USER AGENT", both under the user's hash tag (keys.h; the scripts in
 * lua/index_*.lua).
 * Entries past their absolute expiry are pruned whenever the list is
 * written or read; sessions that ended early (idle timeout) are pruned when
 * the list is read, since their record is gone. Ending sessions deletes
 * their records in one pipelined round trip, however many there are.
 */
#ifndef INDEX_H
#define INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "shoal.h"

struct arena;
struct config;
struct sid;
struct redis;

#define INDEX_MAX_SESSIONS	64	/* per user; the oldest are ended */
#define INDEX_UA_MAX		128	/* bytes of user agent kept */
#define INDEX_FORGET_BATCH	8	/* hashes pruned per round trip */

/*
 * One round trip: the new record (SET NX PX) and its index entry, for the
 * credential generation its password was checked against (or the
 * account's new one). SHOAL_BAD_PASSWORD (no session) when Redis's copy of
 * the generation is newer; a newer generation raises the copy and ends
 * every session the index held (lua/index_add.lua).
 */
enum shoal_status index_create(struct redis *, struct arena *,
		    const struct config *, const char *user, const struct sid *,
		    const void *record, size_t len, int64_t ttl_ms,
		    int64_t expires_s, const char *user_agent,
		    int remembered, int64_t generation);
/* One round trip: deletes the record and its index entry. */
enum shoal_status index_remove(struct redis *, struct arena *,
		    const struct config *, const char *user, const char *hash);
/* The user's live sessions, oldest first; prunes the dead ones. */
enum shoal_status index_list(struct redis *, struct arena *,
		    const struct config *, const char *user,
		    struct shoal_session_info **list, size_t *n);
/*
 * Ends the sessions whose hashes are given (those not in the user's list
 * are ignored, so nobody can end another user's session), or, with
 * all_but set, every session except that one. *ended says how many.
 */
enum shoal_status index_revoke(struct redis *, struct arena *,
		    const struct config *, const char *user, const char *hash,
		    const char *all_but, size_t *ended);

#endif
