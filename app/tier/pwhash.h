/*
 * pwhash.h - password hashing (Argon2id, libsodium's crypto_pwhash_str at
 * its interactive limits), at most SHOAL_HASH_CONCURRENCY hashes at a time
 * in a process.
 *
 * Each hash takes 64 MiB for about a tenth of a second. Left alone, every
 * worker thread could hash at once, and a burst of sign-ins (even for names
 * that do not exist) would need threads x 64 MiB: more than a container's
 * memory limit, and every page request would wait behind the hashes. With
 * the gate a process needs at most concurrency x 64 MiB for hashing, and a
 * sign-in that cannot get a turn within SHOAL_HASH_WAIT_MS is answered 503
 * (SHOAL_BUSY) instead of queueing without bound.
 *
 * In the worker the hashes run on a pool of concurrency threads of their
 * own, at a lower CPU priority (SHOAL_HASH_NICE): when pages and hashes
 * want the same cores, the pages get them, and sign-ins take what is left.
 */
#ifndef PWHASH_H
#define PWHASH_H

#include <stddef.h>

#include <sodium.h>

#define PWHASH_MEMORY	crypto_pwhash_MEMLIMIT_INTERACTIVE

enum pwhash_result {
	PWHASH_OK = 0,		/* hashed; or verified: the password matches */
	PWHASH_MISMATCH,	/* verified: it does not */
	PWHASH_BUSY,		/* no turn within the wait */
	PWHASH_FAILED,		/* out of memory */
};

/* Sets the gate; call once before any thread hashes. */
void	pwhash_init(long concurrency, long wait_ms);
/*
 * before_wait, if set, is called by the hashing thread before it waits for
 * a turn and hashes: the worker hands the thread's other connections to its
 * siblings there, so that no page waits behind a hash. Call once, before
 * any thread hashes.
 */
void	pwhash_on_wait(void (*before_wait)(void));
/*
 * Starts the pool: as many threads as the gate has turns, each at nice
 * value nice_value (0 leaves them at the process's). From then on every
 * hash runs on the pool, the caller asleep until it is done. Call after
 * pwhash_init, before any thread hashes; -1 with a message in err if a
 * thread cannot be started. Without a pool the caller hashes itself.
 */
int	pwhash_start(int nice_value, char *err, size_t errsz)
	    __attribute__((warn_unused_result));
/* Stops the pool once no thread hashes any more. */
void	pwhash_stop(void);
enum pwhash_result pwhash_str(char out[crypto_pwhash_STRBYTES],
	    const char *password) __attribute__((warn_unused_result));
enum pwhash_result pwhash_verify(const char *hash, const char *password)
	    __attribute__((warn_unused_result));

#endif
