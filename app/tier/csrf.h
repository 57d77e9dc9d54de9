/*
 * csrf.h - tokens that every POST must carry.
 *
 * Signed-in visitors: the token is a MAC of the session ID under the key that
 * signed the session, so it changes at every login and needs no storage.
 * Anonymous visitors (sign-in and sign-up forms): a "double submit" token. A
 * random nonce lives in its own cookie; the token is a MAC of the nonce and an
 * expiry time. A site that cannot read our cookies cannot forge it, and
 * nothing about it is kept in Redis.
 */
#ifndef CSRF_H
#define CSRF_H

#include <stddef.h>
#include <stdint.h>

#include "b64url.h"

struct keyring;
struct sid;

#define CSRF_NONCE_BYTES	16
#define CSRF_NONCE_LEN		B64URL_LEN(CSRF_NONCE_BYTES)
/* key id, 8-byte expiry, 32-byte MAC */
#define CSRF_RAW_BYTES		(1 + 8 + 32)
#define CSRF_TOKEN_LEN		B64URL_LEN(CSRF_RAW_BYTES)
#define CSRF_ANON_LIFETIME	7200	/* seconds a sign-in form stays valid */
#define CSRF_COOKIE_MAX_AGE	86400	/* seconds the nonce cookie is kept */

/* Tokens are CSRF_TOKEN_LEN characters and a NUL. */
int	csrf_session_token(const struct keyring *, const struct sid *,
	    char *out, size_t outsz) __attribute__((warn_unused_result));
int	csrf_session_check(const struct keyring *, const struct sid *,
	    const char *token) __attribute__((warn_unused_result));

/* A new nonce for the anonymous CSRF cookie (CSRF_NONCE_LEN chars + NUL). */
void	csrf_nonce_new(char *out, size_t outsz);
int	csrf_anon_token(const struct keyring *, const char *nonce, int64_t now,
	    char *out, size_t outsz) __attribute__((warn_unused_result));
int	csrf_anon_check(const struct keyring *, const char *nonce,
	    const char *token, int64_t now) __attribute__((warn_unused_result));

#endif
