/*
 * fuzz_template.c - template_parse() and template_render() on any text,
 * rendered against a view with values, trusted HTML and nested lists.
 * Properties: a refused template explains itself in one line naming it and
 * its line; an accepted one renders without touching memory it does not
 * own, a template without "{{" renders as itself, a template with no '<'
 * of its own and no {{&name}} renders no '<' (every value is escaped), and
 * the resolver only ever sees names made of [A-Za-z0-9_], or asset names:
 * '@' then [A-Za-z0-9_.-].
 */
#include "arena.h"
#include "buf.h"
#include "fuzz.h"
#include "shoal.h"
#include "template.h"
#include "view.h"

static const char *
resolve(void *ctx, const char *name, size_t len, int *html)
{
	size_t	 i;
	int	 asset;

	(void)ctx;
	FUZZ_CHECK(*html == 0);
	FUZZ_CHECK(len >= 1 && len <= 64);
	/* An asset name: '@' and at least one of [A-Za-z0-9_.-]. */
	asset = name[0] == '@';
	FUZZ_CHECK(!asset || len >= 2);
	for (i = asset; i < len; i++)
		FUZZ_CHECK((name[i] >= 'a' && name[i] <= 'z') ||
		    (name[i] >= 'A' && name[i] <= 'Z') ||
		    (name[i] >= '0' && name[i] <= '9') || name[i] == '_' ||
		    (asset && (name[i] == '.' || name[i] == '-')));
	/* "content" is tier-built HTML, as the layout's is. */
	if (len == 7 && memcmp(name, "content", 7) == 0) {
		*html = 1;
		return "<main>";
	}
	/* Set for names of odd length, so sections go both ways. */
	return (len & 1) ? "<v&>" : NULL;
}

/*
 * The view: values, HTML, and lists two deep ("l" items hold an "m" list).
 * Two items each: {{#l}} nested 8 deep falls back to the view's "l" and
 * renders 2^8 times, which keeps the output within a few megabytes.
 */
static struct shoal_view *
make_view(struct arena *a)
{
	struct shoal_view	*v = view_new(a), *it, *sub;
	int			 i, k;

	shoal_set(v, "a", "1");
	shoal_set(v, "b", "");
	shoal_set(v, "x", "<b>");
	shoal_set(v, "name", NULL);
	shoal_set_html(v, "h", "<i>");
	shoal_set_int(v, "n", -3);
	for (i = 0; i < 2; i++) {
		it = shoal_add(v, "l");
		shoal_set_int(it, "i", i);
		shoal_set(it, "x", "it<em>");
		if (i == 0)
			shoal_set_html(it, "a", "<u>");
		for (k = 0; k < 2; k++) {
			sub = shoal_add(it, "m");
			shoal_set(sub, "s", "\"'&");
		}
	}
	return v;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct template	*t;
	struct arena	 a;
	struct buf	 b;
	char		*text, err[256];

	data = FUZZ_DATA(data, size);
	fuzz_init();
	/* An exact copy, so reading past len is caught. */
	text = malloc(size ? size : 1);
	FUZZ_CHECK(text != NULL);
	memcpy(text, data, size);
	memset(err, 0, sizeof err);
	t = template_parse("fz", text, size, err, sizeof err);
	if (t == NULL) {
		FUZZ_CHECK(strncmp(err, "template fz line ", 17) == 0);
		FUZZ_CHECK(strchr(err, '\n') == NULL);
		free(text);
		return 0;
	}
	arena_init(&a);
	buf_init(&b);
	template_render(t, &b, make_view(&a), resolve, NULL);
	(void)buf_cstr(&b);	/* allocates, even for an empty render */
	if (memmem(text, size, "{{", 2) == NULL)
		FUZZ_CHECK(b.len == size && memcmp(b.data, text, size) == 0);
	if (memchr(text, '<', size) == NULL &&
	    memmem(text, size, "{{&", 3) == NULL)
		FUZZ_CHECK(memchr(b.data, '<', b.len) == NULL);
	buf_reset(&b);
	template_render(t, &b, NULL, NULL, NULL);
	buf_free(&b);
	arena_free(&a);
	template_free(t);
	free(text);
	return 0;
}
