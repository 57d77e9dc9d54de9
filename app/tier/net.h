/*
 * net.h - client addresses and lists of addresses and CIDR blocks, as the
 * settings give them (SHOAL_TRUSTED_PROXIES, SHOAL_REDIS_ALLOWED) and as
 * throttling counts them. IPv4 addresses are compared as IPv4-mapped IPv6.
 */
#ifndef NET_H
#define NET_H

#include <stddef.h>

#define NET_ADDR_MAX	64	/* longest address text handled */
#define NET_SOURCE_MAX	48	/* "ADDR" or "NET/64", with its NUL */

/* 1 when list (ADDR or ADDR/BITS, separated by commas) names addr. */
int	net_in_list(const char *list, const char *addr);
/* 1 when every entry of list is an address or a CIDR block ("" too). */
int	net_list_valid(const char *list);
/* 1 when s is one IPv4 or IPv6 address. */
int	net_is_address(const char *s);
/*
 * The source an address is counted as: the address itself for IPv4, its
 * /64 for IPv6 (one subscriber usually holds a whole /64, so counting
 * single addresses would let one client have 2^64 budgets). -1 when addr
 * is not an address.
 */
int	net_source(const char *addr, char out[NET_SOURCE_MAX])
	    __attribute__((warn_unused_result));

#endif
