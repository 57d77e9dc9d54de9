/*
 * profile.c - /account/profile: the signed-in user's display name and
 * e-mail, read through the cache; an edit commits, then drops the cache
 * entry, so the next read loads what was written.
 */
#include <string.h>

#include "app.h"

static const char *
cache_key(struct shoal_req *r, int64_t id)
{
	return shoal_printf(r, "profile:%lld", (long long)id);
}

static void
form(struct shoal_req *r, int status, const char *error, const char *name,
    const char *email)
{
	struct shoal_view	*v = shoal_view(r);

	shoal_set(v, "title", "Your profile");
	shoal_set(v, "error", error);
	shoal_set(v, "display_name", name);
	shoal_set(v, "email", email);
	shoal_render(r, status, "profile", v);
}

void
page_profile(struct shoal_req *r)
{
	struct shoal_rows	*rows;
	enum shoal_status	 st;
	const char		*p[1];
	int64_t			 id;

	if (shoal_user(r) == NULL) {
		shoal_redirect(r, "/login");
		return;
	}
	if ((id = shoal_account_id(r)) == 0) {
		shoal_fail(r, SHOAL_ANONYMOUS);
		return;
	}
	p[0] = shoal_printf(r, "%lld", (long long)id);
	if ((st = shoal_db_cached(r, cache_key(r, id), PROFILE_TTL_S,
	    "SELECT display_name, email FROM profiles WHERE account_id = $1",
	    1, p, &rows)) != SHOAL_OK) {
		shoal_fail(r, st);
		return;
	}
	form(r, 200, NULL, shoal_row_str(rows, 0, 0), shoal_row_str(rows, 0,
	    1));
}

/* Text a person types: UTF-8 without control characters. */
static int
plain(const char *s)
{
	const unsigned char	*p;

	if (!shoal_utf8_valid(s))
		return 0;
	for (p = (const unsigned char *)s; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			return 0;
	return 1;
}

/* Empty, or one '@' between a local part and a domain, no spaces. */
static int
email_valid(const char *s)
{
	const char	*at = strchr(s, '@');
	size_t		 i;

	if (s[0] == '\0')
		return 1;
	if (at == NULL || at == s || at[1] == '\0' || strchr(at + 1, '@'))
		return 0;
	for (i = 0; s[i] != '\0'; i++)
		if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f)
			return 0;
	return plain(s);
}

void
page_profile_post(struct shoal_req *r)
{
	const char		*name = shoal_form(r, "display_name");
	const char		*email = shoal_form(r, "email");
	const char		*p[3];
	struct shoal_tx		*tx;
	enum shoal_status	 st;
	int64_t			 id;

	if (shoal_user(r) == NULL) {
		shoal_redirect(r, "/login");
		return;
	}
	if (name == NULL || email == NULL) {
		form(r, 400, "Give a display name and an e-mail (either may "
		    "be empty).", NULL, NULL);
		return;
	}
	if (strlen(name) > PROFILE_NAME_MAX || !plain(name)) {
		form(r, 400, "A display name is at most 64 bytes of text, "
		    "without control characters.", NULL, NULL);
		return;
	}
	if (strlen(email) > PROFILE_EMAIL_MAX || !email_valid(email)) {
		form(r, 400, "An e-mail address is at most 254 bytes: "
		    "name@domain, without spaces.", name, NULL);
		return;
	}
	if ((id = shoal_account_id(r)) == 0) {
		shoal_fail(r, SHOAL_ANONYMOUS);
		return;
	}
	p[0] = shoal_printf(r, "%lld", (long long)id);
	p[1] = name;
	p[2] = email;
	if ((st = shoal_tx_begin(r, &tx)) != SHOAL_OK) {
		shoal_fail(r, st);
		return;
	}
	if ((st = shoal_tx_query(tx, "INSERT INTO profiles (account_id, "
	    "display_name, email) VALUES ($1, $2, $3) ON CONFLICT (account_id) "
	    "DO UPDATE SET display_name = EXCLUDED.display_name, "
	    "email = EXCLUDED.email, updated = now()", 3, p, NULL)) !=
	    SHOAL_OK) {
		shoal_tx_rollback(tx);
		shoal_fail(r, st);
		return;
	}
	if ((st = shoal_tx_commit(tx)) != SHOAL_OK) {
		shoal_fail(r, st);
		return;
	}
	/* Committed: now the cache may forget the old profile. */
	if ((st = shoal_cache_forget(r, cache_key(r, id))) != SHOAL_OK) {
		shoal_fail(r, st);
		return;
	}
	shoal_flash(r, SHOAL_FLASH_SUCCESS, "Profile saved.");
	shoal_redirect(r, "/account/profile");
}
