/*
 * net.c - addresses and address lists (see net.h).
 */
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"

/* Parses "ADDR" or "ADDR/BITS" into 16 bytes (v4 mapped) and a prefix. */
static int
parse_net(const char *s, size_t len, unsigned char net[16], int *bits)
{
	char		 text[NET_ADDR_MAX];
	const char	*slash;
	struct in_addr	 v4;
	long		 b;
	char		*end;
	int		 is_v4;

	slash = memchr(s, '/', len);
	if ((slash ? (size_t)(slash - s) : len) >= sizeof text)
		return -1;
	memcpy(text, s, slash ? (size_t)(slash - s) : len);
	text[slash ? (size_t)(slash - s) : len] = '\0';
	is_v4 = inet_pton(AF_INET, text, &v4) == 1;
	if (is_v4) {
		memset(net, 0, 10);
		net[10] = net[11] = 0xff;
		memcpy(net + 12, &v4, 4);
	} else if (inet_pton(AF_INET6, text, net) != 1)
		return -1;
	*bits = 128;
	if (slash != NULL) {
		if (slash + 1 == s + len || slash[1] < '0' || slash[1] > '9')
			return -1;
		b = strtol(slash + 1, &end, 10);
		if (end != s + len || b < 0 || b > (is_v4 ? 32 : 128))
			return -1;
		*bits = (int)b + (is_v4 ? 96 : 0);
	}
	return 0;
}

static int
in_net(const unsigned char a[16], const unsigned char net[16], int bits)
{
	int	 i;

	for (i = 0; bits > 0; i++, bits -= 8) {
		unsigned char mask = bits >= 8 ? 0xff :
		    (unsigned char)(0xff << (8 - bits));

		if ((a[i] & mask) != (net[i] & mask))
			return 0;
	}
	return 1;
}

int
net_in_list(const char *list, const char *addr)
{
	unsigned char	 a[16], net[16];
	const char	*p = list, *comma;
	size_t		 len;
	int		 bits;

	if (list == NULL || addr == NULL ||
	    parse_net(addr, strlen(addr), a, &bits) != 0 || bits != 128)
		return 0;
	while (*p != '\0') {
		comma = strchr(p, ',');
		len = comma ? (size_t)(comma - p) : strlen(p);
		if (parse_net(p, len, net, &bits) == 0 && in_net(a, net, bits))
			return 1;
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	return 0;
}

int
net_list_valid(const char *list)
{
	unsigned char	 net[16];
	const char	*p = list, *comma;
	size_t		 len;
	int		 bits;

	if (*p == '\0')
		return 1;
	for (;;) {
		comma = strchr(p, ',');
		len = comma ? (size_t)(comma - p) : strlen(p);
		if (parse_net(p, len, net, &bits) != 0)
			return 0;
		if (comma == NULL)
			return 1;
		p = comma + 1;
	}
}

int
net_is_address(const char *s)
{
	unsigned char	 a[16];
	int		 bits;

	return parse_net(s, strlen(s), a, &bits) == 0 && bits == 128;
}

int
net_source(const char *addr, char out[NET_SOURCE_MAX])
{
	struct in6_addr	 a6;
	struct in_addr	 a4;
	char		 text[INET6_ADDRSTRLEN];

	if (inet_pton(AF_INET, addr, &a4) == 1)
		return inet_ntop(AF_INET, &a4, out, NET_SOURCE_MAX) ? 0 : -1;
	if (inet_pton(AF_INET6, addr, &a6) != 1)
		return -1;
	/* An IPv4-mapped address is the IPv4 client it maps. */
	if (IN6_IS_ADDR_V4MAPPED(&a6)) {
		memcpy(&a4, a6.s6_addr + 12, 4);
		return inet_ntop(AF_INET, &a4, out, NET_SOURCE_MAX) ? 0 : -1;
	}
	memset(a6.s6_addr + 8, 0, 8);
	if (inet_ntop(AF_INET6, &a6, text, sizeof text) == NULL)
		return -1;
	return snprintf(out, NET_SOURCE_MAX, "%s/64", text) < NET_SOURCE_MAX ?
	    0 : -1;
}
