/*
 * fuzz_route.c - route patterns and paths. The input is "PATTERN\nPATH"
 * (no newline: all of it is the path). The pattern is checked, then the path
 * is matched against it and against a few fixed patterns. Properties: a
 * refusal is one message; a match has at most ROUTE_MAX_PARAMS parameters,
 * each a non-empty span of up to ROUTE_MAX_SEGMENT bytes inside the path
 * holding no '/', its name a span inside the pattern; an integer is the
 * canonical spelling of its value; on a valid pattern the parameters put
 * back in the pattern give the path again, and a pattern without
 * parameters matches exactly its own text; a decoded value holds no '/' or
 * NUL and is no longer than the value sent.
 */
#include <inttypes.h>

#include "fuzz.h"
#include "route.h"

static const char *const fixed[] = {
	"/",
	"/cart/add",
	"/cart/items/{item}",
	"/orders/{id:int}",
	"/account/sessions/{id}/revoke",
	"/x/{a}/{b:int}/y/{c}",
	"/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h:int}",
};

static void
check_param(const struct route_param *p, const char *pattern,
    const char *path, size_t path_len)
{
	char	 num[32], *out;
	size_t	 len;

	FUZZ_CHECK(p->value >= path && p->value <= path + path_len);
	FUZZ_CHECK(p->value_len >= 1 && p->value_len <= ROUTE_MAX_SEGMENT);
	FUZZ_CHECK(p->value_len <= (size_t)(path + path_len - p->value));
	FUZZ_CHECK(memchr(p->value, '/', p->value_len) == NULL);
	FUZZ_CHECK(p->name >= pattern &&
	    p->name + p->name_len <= pattern + strlen(pattern));
	if (p->is_int) {
		FUZZ_CHECK(p->num >= 0);
		snprintf(num, sizeof num, "%" PRId64, p->num);
		FUZZ_CHECK(strlen(num) == p->value_len &&
		    memcmp(num, p->value, p->value_len) == 0);
	} else
		FUZZ_CHECK(p->num == 0);
	out = malloc(p->value_len + 1);
	FUZZ_CHECK(out != NULL);
	if (route_decode(out, p->value, p->value_len, &len) == ROUTE_OK) {
		FUZZ_CHECK(len <= p->value_len && out[len] == '\0');
		FUZZ_CHECK(memchr(out, '/', len) == NULL);
		FUZZ_CHECK(memchr(out, '\0', len) == NULL);
	}
	free(out);
}

/* The valid pattern with its parameters' values put back in: the path. */
static void
check_rebuilt(const char *pattern, const struct route_params *m,
    const char *path, size_t path_len)
{
	char		*re = malloc(path_len + 1);
	const char	*s;
	size_t		 o = 0, k = 0;

	FUZZ_CHECK(re != NULL);
	for (s = pattern; *s != '\0'; s++) {
		if (*s != '{') {
			FUZZ_CHECK(o < path_len);
			re[o++] = *s;
			continue;
		}
		FUZZ_CHECK(k < m->n);
		FUZZ_CHECK(o + m->p[k].value_len <= path_len);
		memcpy(re + o, m->p[k].value, m->p[k].value_len);
		o += m->p[k].value_len;
		k++;
		s = strchr(s, '}');
		FUZZ_CHECK(s != NULL);
	}
	FUZZ_CHECK(k == m->n && o == path_len);
	FUZZ_CHECK(memcmp(re, path, path_len) == 0);
	free(re);
}

static void
try(const char *pattern, int valid, const char *path, size_t path_len)
{
	struct route_params	 m;
	size_t			 i;

	if (!route_match(pattern, path, &m)) {
		FUZZ_CHECK(m.n == 0);
		if (valid && !route_has_params(pattern))
			FUZZ_CHECK(strcmp(pattern, path) != 0);
		return;
	}
	FUZZ_CHECK(m.n <= ROUTE_MAX_PARAMS);
	for (i = 0; i < m.n; i++)
		check_param(&m.p[i], pattern, path, path_len);
	if (valid) {
		check_rebuilt(pattern, &m, path, path_len);
		if (!route_has_params(pattern))
			FUZZ_CHECK(m.n == 0 && strcmp(pattern, path) == 0);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*in, *nl;
	char		*pattern, *path, err[256];
	size_t		 plen, i;
	int		 valid;

	data = FUZZ_DATA(data, size);
	in = (const char *)data;
	/* C strings: each part ends at its first NUL, if any. */
	if ((nl = memchr(in, '\n', size)) != NULL) {
		plen = (size_t)(nl - in);
		pattern = strndup(in, plen);
		path = strndup(nl + 1, size - plen - 1);
	} else {
		pattern = strdup("/");
		path = strndup(in, size);
	}
	FUZZ_CHECK(pattern != NULL && path != NULL);

	memset(err, 'x', sizeof err);
	err[0] = '\0';
	valid = route_pattern_check(pattern, err, sizeof err) == 0;
	if (!valid) {
		FUZZ_CHECK(err[0] != '\0');
		FUZZ_CHECK(memchr(err, '\0', sizeof err) != NULL);
	} else {
		FUZZ_CHECK(pattern[0] == '/');
		FUZZ_CHECK(route_same(pattern, pattern));
	}
	try(pattern, valid, path, strlen(path));
	for (i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
		FUZZ_CHECK(route_pattern_check(fixed[i], err, sizeof err) == 0);
		try(fixed[i], 1, path, strlen(path));
		if (valid)
			FUZZ_CHECK(route_same(pattern, fixed[i]) ==
			    route_same(fixed[i], pattern));
	}
	free(pattern);
	free(path);
	return 0;
}
