/*
 * account.c - the signed-in user's sessions and password.
 */
#include <string.h>
#include <time.h>

#include "app.h"

static const char *
when(struct shoal_req *r, int64_t t)
{
	struct tm	 tm;
	time_t		 tt = (time_t)t;
	char		 s[32];

	gmtime_r(&tt, &tm);
	strftime(s, sizeof s, "%Y-%m-%d %H:%M UTC", &tm);
	return shoal_strdup(r, s);
}

void
page_sessions(struct shoal_req *r)
{
	struct shoal_session_info	*list;
	struct shoal_view		*v, *row;
	enum shoal_status		 st;
	size_t				 n, i;

	if (shoal_user(r) == NULL) {
		shoal_redirect(r, "/login");
		return;
	}
	if ((st = shoal_sessions(r, &list, &n)) != SHOAL_OK) {
		shoal_fail(r, st);
		return;
	}
	v = shoal_view(r);
	shoal_set(v, "title", "Your sessions");
	shoal_set(v, "others", n > 1 ? "1" : NULL);
	for (i = 0; i < n; i++) {
		row = shoal_add(v, "rows");
		shoal_set(row, "id", list[i].id);
		shoal_set(row, "created", when(r, list[i].created));
		shoal_set(row, "last_seen", when(r, list[i].last_seen));
		shoal_set(row, "agent", list[i].user_agent[0] ?
		    list[i].user_agent : "unknown");
		shoal_set(row, "current", list[i].current ? "1" : NULL);
		shoal_set(row, "remembered", list[i].remembered ? "1" : NULL);
	}
	shoal_render(r, 200, "sessions", v);
}

void
page_sessions_revoke(struct shoal_req *r)
{
	const char		*id = shoal_form(r, "id");
	const char		*all = shoal_form(r, "all");
	enum shoal_status	 st;
	size_t			 ended;

	if (all != NULL && strcmp(all, "1") == 0)
		st = shoal_revoke_others(r, &ended);
	else if (id != NULL && id[0] != '\0')
		st = shoal_revoke(r, id);
	else {
		shoal_error(r, 400, "give id, or all=1");
		return;
	}
	if (st == SHOAL_OK)
		shoal_redirect(r, "/account/sessions");
	else if (st == SHOAL_ANONYMOUS)
		shoal_redirect(r, "/login");
	else if (st == SHOAL_REJECT)
		shoal_error(r, 404, "no such session");
	else
		shoal_fail(r, st);
}

static void
password_form(struct shoal_req *r, int status, const char *error,
    const char *done)
{
	struct shoal_view	*v = shoal_view(r);

	shoal_set(v, "title", "Change password");
	shoal_set(v, "error", error);
	shoal_set(v, "done", done);
	shoal_render(r, status, "password", v);
}

void
page_password(struct shoal_req *r)
{
	if (shoal_user(r) == NULL) {
		shoal_redirect(r, "/login");
		return;
	}
	password_form(r, 200, NULL, NULL);
}

void
page_password_post(struct shoal_req *r)
{
	const char		*cur = shoal_form(r, "current");
	const char		*fresh = shoal_form(r, "password");
	enum shoal_status	 st;

	if (cur == NULL || fresh == NULL || !shoal_password_valid(fresh)) {
		password_form(r, 400, "A password is 8 to 128 characters.",
		    NULL);
		return;
	}
	switch ((st = shoal_change_password(r, cur, fresh))) {
	case SHOAL_OK:
		password_form(r, 200, NULL, "1");
		break;
	case SHOAL_BAD_PASSWORD:
		password_form(r, 401, "The current password is wrong.", NULL);
		break;
	case SHOAL_ANONYMOUS:
		shoal_redirect(r, "/login");
		break;
	default:
		shoal_fail(r, st);
	}
}
