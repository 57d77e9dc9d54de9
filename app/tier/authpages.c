/*
 * authpages.c - the sign-up, sign-in and sign-out pages, for an app that
 * wants them as they are (SHOAL_AUTH_ROUTES in its route table). They
 * render the templates "login" and "signup": the app's own when it has
 * them, else the tier's (app/tier/templates/), inside the app's layout.
 * Each answers a form it cannot use with the form again and a reason, and
 * anything the tier reports (Redis down, throttled) as shoal_fail does.
 */
#include "shoal.h"

static void
form(struct shoal_req *r, int status, const char *page, const char *title,
    const char *error)
{
	struct shoal_view	*v = shoal_view(r);

	shoal_set(v, "title", title);
	shoal_set(v, "error", error);
	shoal_set(v, "username", shoal_form(r, "username"));
	shoal_render(r, status, page, v);
}

/* The "remember me" checkbox. */
static unsigned
flags(struct shoal_req *r)
{
	const char	*v = shoal_form(r, "remember");

	return v != NULL && v[0] == '1' && v[1] == '\0' ? SHOAL_REMEMBER : 0;
}

void
shoal_login_page(struct shoal_req *r)
{
	form(r, 200, "login", "Sign in", NULL);
}

void
shoal_signup_page(struct shoal_req *r)
{
	form(r, 200, "signup", "Create an account", NULL);
}

void
shoal_login_post(struct shoal_req *r)
{
	const char	*name = shoal_form(r, "username");
	const char	*pw = shoal_form(r, "password");
	enum shoal_status st;

	if (name == NULL || pw == NULL) {
		form(r, 400, "login", "Sign in", "Enter a user name and a "
		    "password.");
		return;
	}
	switch ((st = shoal_login(r, name, pw, flags(r)))) {
	case SHOAL_OK:
		shoal_flash(r, SHOAL_FLASH_SUCCESS, "You are signed in.");
		shoal_redirect(r, "/");
		break;
	case SHOAL_BAD_PASSWORD:
		form(r, 401, "login", "Sign in", "Wrong user name or password.");
		break;
	default:
		shoal_fail(r, st);
	}
}

void
shoal_signup_post(struct shoal_req *r)
{
	const char	*name = shoal_form(r, "username");
	const char	*pw = shoal_form(r, "password");
	enum shoal_status st;

	if (name == NULL || pw == NULL || !shoal_user_name_valid(name)) {
		form(r, 400, "signup", "Create an account", "A user name is "
		    "3 to 32 of a-z, 0-9, _ and -.");
		return;
	}
	if (!shoal_password_valid(pw)) {
		form(r, 400, "signup", "Create an account", "A password is 8 "
		    "to 128 characters.");
		return;
	}
	switch ((st = shoal_signup(r, name, pw, flags(r)))) {
	case SHOAL_OK:
		shoal_flash(r, SHOAL_FLASH_SUCCESS, "Your account is ready.");
		shoal_redirect(r, "/");
		break;
	case SHOAL_TAKEN:
		form(r, 409, "signup", "Create an account", "That name is "
		    "taken.");
		break;
	default:
		shoal_fail(r, st);
	}
}

void
shoal_logout_post(struct shoal_req *r)
{
	enum shoal_status st = shoal_logout(r);

	if (st != SHOAL_OK) {
		shoal_fail(r, st);
		return;
	}
	shoal_flash(r, SHOAL_FLASH_INFO, "You are signed out.");
	shoal_redirect(r, "/");
}
