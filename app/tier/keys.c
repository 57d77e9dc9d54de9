/*
 * keys.c - Redis key names (see keys.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "log.h"

/* A part longer than its bound means a caller skipped validation. */
static void
check_part(const char *what, const char *s, size_t max)
{
	if (strnlen(s, max + 1) > max) {
		log_event("error", "key part %s over %zu bytes", what, max);
		abort();
	}
}

static void
build(struct redis_key *k, const char *prefix, const char *kind, const char *tag,
    size_t tag_max, const char *suffix)
{
	check_part("prefix", prefix, KEY_PREFIX_MAX);
	check_part(kind, tag, tag_max);
	/* Bounded above: KEY_MAX holds the longest of them. */
	snprintf(k->s, sizeof k->s, "%s%c:{%s}%s", prefix, kind[0], tag,
	    suffix);
}

void
key_probe(struct redis_key *k, const char *prefix)
{
	check_part("prefix", prefix, KEY_PREFIX_MAX);
	snprintf(k->s, sizeof k->s, "%sreadyz", prefix);
}

void
key_session(struct redis_key *k, const char *prefix, const char *hash)
{
	build(k, prefix, "session", hash, SID_HASH_LEN, "");
}

void
key_user(struct redis_key *k, const char *prefix, const char *user)
{
	build(k, prefix, "user", user, USER_NAME_MAX, "");
}

void
key_user_generation(struct redis_key *k, const char *prefix, const char *user)
{
	build(k, prefix, "user", user, USER_NAME_MAX, ":generation");
}

void
key_index(struct redis_key *k, const char *prefix, const char *user)
{
	build(k, prefix, "user", user, USER_NAME_MAX, ":sessions");
}

void
key_index_meta(struct redis_key *k, const char *prefix, const char *user)
{
	build(k, prefix, "user", user, USER_NAME_MAX, ":meta");
}

void
key_throttle(struct redis_key *k, const char *prefix, const char *user,
    const char *source)
{
	check_part("prefix", prefix, KEY_PREFIX_MAX);
	check_part("user", user, USER_NAME_MAX);
	snprintf(k->s, sizeof k->s, "%st:{%s}:%.*s", prefix, user,
	    KEY_ADDR_MAX, source);
}

void
key_throttle_user(struct redis_key *k, const char *prefix, const char *user)
{
	build(k, prefix, "throttle", user, USER_NAME_MAX, "");
}

static void
source_key(struct redis_key *k, const char *prefix, const char *source,
    const char *suffix)
{
	check_part("prefix", prefix, KEY_PREFIX_MAX);
	snprintf(k->s, sizeof k->s, "%sa:{%.*s}%s", prefix, KEY_ADDR_MAX,
	    source, suffix);
}

void
key_source_signin(struct redis_key *k, const char *prefix, const char *source)
{
	source_key(k, prefix, source, ":signin");
}

void
key_source_signup(struct redis_key *k, const char *prefix, const char *source)
{
	source_key(k, prefix, source, ":signup");
}

void
key_source_guest(struct redis_key *k, const char *prefix, const char *source)
{
	source_key(k, prefix, source, ":guests");
}
