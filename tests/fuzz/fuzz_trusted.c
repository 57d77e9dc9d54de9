/*
 * fuzz_trusted.c - net_in_list(), which decides whether a client
 * address (from REMOTE_ADDR or X-Forwarded-For, so from outside) is one of
 * SHOAL_TRUSTED_PROXIES. Input: the list, a newline, the address.
 * Properties: the answer for a list is the OR of the answers for its
 * entries; a well-formed address is trusted by a list naming it, and by
 * 0.0.0.0/0 (IPv4) or ::/0 (IPv6); nothing is trusted by an empty list.
 */
#include <arpa/inet.h>

#include "fuzz.h"
#include "net.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t	*nl;
	char		*list, *addr, *entry, *all;
	const char	*p, *comma;
	size_t		 llen, alen, len;
	int		 got, any = 0;
	unsigned char	 bin[16];

	data = FUZZ_DATA(data, size);
	fuzz_init();
	nl = memchr(data, '\n', size);
	llen = nl ? (size_t)(nl - data) : size;
	alen = nl ? size - llen - 1 : 0;
	list = malloc(llen + 1);
	addr = malloc(alen + 1);
	FUZZ_CHECK(list != NULL && addr != NULL);
	memcpy(list, data, llen);
	list[llen] = '\0';
	if (alen > 0)
		memcpy(addr, nl + 1, alen);
	addr[alen] = '\0';

	got = net_in_list(list, addr);
	FUZZ_CHECK(got == 0 || got == 1);
	FUZZ_CHECK(net_in_list("", addr) == 0);
	FUZZ_CHECK(net_in_list(NULL, addr) == 0);
	FUZZ_CHECK(net_in_list(list, NULL) == 0);

	/* OR over the entries, each asked on its own. */
	entry = malloc(llen + 1);
	FUZZ_CHECK(entry != NULL);
	for (p = list; *p != '\0'; p = comma + 1) {
		comma = strchr(p, ',');
		len = comma ? (size_t)(comma - p) : strlen(p);
		memcpy(entry, p, len);
		entry[len] = '\0';
		if (len > 0 && net_in_list(entry, addr))
			any = 1;
		if (comma == NULL)
			break;
	}
	FUZZ_CHECK(got == any);
	free(entry);

	/* A plain address trusts itself and is inside the whole space. */
	if (strchr(addr, ',') == NULL && (inet_pton(AF_INET, addr, bin) == 1 ||
	    inet_pton(AF_INET6, addr, bin) == 1)) {
		FUZZ_CHECK(net_in_list(addr, addr) == 1);
		all = malloc(llen + 32);
		FUZZ_CHECK(all != NULL);
		snprintf(all, llen + 32, "%s,0.0.0.0/0,::/0", list);
		FUZZ_CHECK(net_in_list(all, addr) == 1);
		free(all);
	}
	free(list);
	free(addr);
	return 0;
}
