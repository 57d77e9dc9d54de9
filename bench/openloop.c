/*
 * openloop: an open-loop HTTP/1.1 load generator, in the model of wrk2.
 *
 * Build (from the top of the tree):
 *	cc -std=c11 -O2 -Wall -Wextra -Werror \
 *	    -o build/bench/openloop bench/openloop.c
 *
 * Request k is due at start + k / RATE, whether or not the earlier ones
 * were answered.  A due request goes out on an idle kept-alive
 * connection, or waits in a FIFO until one is free (no pipelining).  Its
 * latency runs from its due time, not from the time it was written, so
 * a server that falls behind is charged for the queue it built: this is
 * the correction for coordinated omission that wrk2 makes and that
 * closed-loop tools (wrk, ab) cannot make.
 *
 * One thread, one epoll loop that sleeps (epoll_pwait2, Linux 5.11) until
 * the next due time: the machine it runs on has two cores shared with
 * the server under test.
 * Latencies go into a log-linear histogram (1 us .. 60 s, buckets under
 * 0.8 % wide), so memory does not grow with the run.  The result is one
 * line of JSON on stdout; see bench/README.md for the fields.
 *
 * Exit status: 0 when the run took place (errors or not), 1 when no
 * connection could be made (or the tool itself failed), 2 for bad usage.
 */

#define _GNU_SOURCE

#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define HEADERS_MAX	32		/* -H flags */
#define HEADER_LEN_MAX	1024		/* one -H value */
#define PATH_LEN_MAX	2048		/* -u */
#define REQ_MAX		(PATH_LEN_MAX + HEADERS_MAX * (HEADER_LEN_MAX + 2) + \
			    256)
#define RLINE_KEEP	1024		/* bytes of a response line kept */
#define HEAD_MAX	(1024 * 1024)	/* header block, or a chunk's lines */
#define CLEN_MAX	(1ULL << 50)	/* Content-Length or chunk size */
#define CHUNK_HEX_MAX	12		/* hex digits of a chunk size */
#define RBUF_SIZE	65536
#define EVENTS_MAX	256
#define FD_SPARE	16		/* descriptors besides connections */

#define NS		1000000000LL
#define MS		1000000LL
#define SCAN_NS		(10 * MS)	/* timeouts, reconnects checked */
#define BACKOFF_MIN_NS	(10 * MS)
#define BACKOFF_MAX_NS	(1000 * MS)
#define LATE_NS		(1 * MS)	/* mean lateness: tool is the limit */

/*
 * Histogram in microseconds: values under HIST_EXACT have a bucket each;
 * above, each power of two is split in HIST_SUB buckets, so a bucket is
 * at most 1/128 of its value wide and its midpoint is within 0.4 %.
 */
#define HIST_SUB_BITS	7
#define HIST_SUB	(1 << HIST_SUB_BITS)
#define HIST_EXACT	(2 * HIST_SUB)
#define HIST_TOP_US	60000000ULL
#define HIST_TOP_BITS	26
#define HIST_N		(HIST_EXACT + \
			    (HIST_TOP_BITS - HIST_SUB_BITS - 1) * HIST_SUB)

_Static_assert(HIST_TOP_US < (1ULL << HIST_TOP_BITS), "histogram too small");
_Static_assert(HIST_TOP_US >= (1ULL << (HIST_TOP_BITS - 1)),
    "histogram too big");

enum optype {
	OPT_INT,
	OPT_REAL,
	OPT_HOST,
	OPT_PATH,
	OPT_HEADER
};

struct cfg {
	struct sockaddr_in	 sin;
	const char		*host;
	const char		*path;
	const char		*hdr[HEADERS_MAX];
	size_t			 nhdr;
	int			 hosthdr;	/* a -H gave Host */
	double			 port;
	double			 rate;
	double			 dur;
	double			 conns;
	double			 timeout;
	double			 warmup;
};

/*
 * The flags.  Numbers are checked against [min, max] (and to be whole
 * for OPT_INT); usage and --help are generated from this table.
 */
static const struct optdef {
	char		 flag;
	enum optype	 type;
	const char	*arg;
	size_t		 off;
	double		 min, max;
	const char	*def;		/* NULL: required */
	const char	*help;
} optdefs[] = {
	{ 'p', OPT_INT, "PORT", offsetof(struct cfg, port), 1, 65535,
	  NULL, "server port" },
	{ 'h', OPT_HOST, "HOST", 0, 0, 0,
	  "127.0.0.1", "server IPv4 address" },
	{ 'u', OPT_PATH, "PATH", 0, 0, 0,
	  "/", "request path and query" },
	{ 'H', OPT_HEADER, "'NAME: VALUE'", 0, 0, 0,
	  "", "extra request header (repeatable)" },
	{ 'r', OPT_REAL, "RATE", offsetof(struct cfg, rate), 0.01, 1e6,
	  NULL, "requests per second offered" },
	{ 'd', OPT_REAL, "SECONDS", offsetof(struct cfg, dur), 0.1, 86400,
	  NULL, "measured part of the schedule" },
	{ 'c', OPT_INT, "CONNECTIONS", offsetof(struct cfg, conns), 1, 10000,
	  "64", "kept-alive connections" },
	{ 't', OPT_REAL, "SECONDS", offsetof(struct cfg, timeout), 0.01, 600,
	  "10", "a request unanswered this long after its due time fails" },
	{ 'w', OPT_REAL, "SECONDS", offsetof(struct cfg, warmup), 0, 3600,
	  "0", "schedule run before the measured part, not recorded" },
};

#define OPTDEFS_N	(sizeof(optdefs) / sizeof(optdefs[0]))

enum rstate {
	RS_STATUS,
	RS_HEADER,
	RS_BODY,		/* Content-Length bytes left */
	RS_EOFBODY,		/* body ends when the server closes */
	RS_CHUNKSIZE,
	RS_CHUNK,
	RS_CHUNKEND,		/* the CRLF after a chunk's data */
	RS_TRAILER
};

enum rres {
	RR_MORE,
	RR_DONE,
	RR_ERR
};

/*
 * One response being read.  Bodies are skipped, not stored; of each
 * line only the first RLINE_KEEP bytes are kept, which is enough for
 * the three headers we read (a longer one of those is an error).
 */
struct resp {
	enum rstate	 st;
	int		 status;
	int		 http10;
	int		 interim;	/* a 1xx: another status line follows */
	int		 chunked;
	int		 eofbody;	/* Transfer-Encoding without chunked */
	int		 havelen;
	int		 close;
	int		 keepalive;
	uint64_t	 left;
	size_t		 headlen;
	size_t		 linelen;
	int		 trunc;
	char		 line[RLINE_KEEP];
};

enum cstate {
	CS_DOWN,		/* waiting to reconnect at since */
	CS_CONNECTING,
	CS_IDLE,
	CS_BUSY			/* request k in flight */
};

struct conn {
	int		 fd;
	enum cstate	 st;
	uint32_t	 gen;		/* stale epoll events are older */
	uint32_t	 ev;		/* epoll mask registered */
	uint64_t	 k;
	size_t		 woff;		/* request bytes written */
	int64_t		 since;		/* connect start, or time to retry */
	int64_t		 backoff;
	size_t		 idlepos;
	struct resp	 r;
};

struct stats {
	uint64_t	 sent;
	uint64_t	 completed;
	uint64_t	 s3xx, s4xx, s5xx;
	uint64_t	 connect;
	uint64_t	 reset;
	uint64_t	 timeout;
	uint64_t	 parse;
	uint64_t	 reconnects;
	uint64_t	 hist[HIST_N];
	uint64_t	 nlat;
	int64_t		 latmax;
	int64_t		 lastdone;	/* time of the last measured answer */
	int64_t		 behindmax;
	uint64_t	 nlate;
	int64_t		 latesum;
	int64_t		 latemax;
};

enum lost {
	LOST_RESET,
	LOST_TIMEOUT,
	LOST_PARSE
};

struct run {
	const struct cfg *cfg;
	int		 ep;
	struct conn	*c;
	size_t		 nc;
	size_t		*idle;		/* stack of idle connections */
	size_t		 nidle;
	size_t		 nup;		/* connections that ever came up */
	int		 lasterr;
	char		 req[REQ_MAX];
	size_t		 reqlen;
	double		 nsreq;		/* ns between two due times */
	int64_t		 t0;
	int64_t		 timeout;
	uint64_t	 n;		/* requests in the schedule */
	uint64_t	 km;		/* first measured request */
	uint64_t	 kdue;		/* requests due so far */
	uint64_t	 ksent;		/* the FIFO is [ksent, kdue) */
	uint64_t	 done;		/* answered, lost or timed out */
	struct stats	 st;
	char		 rbuf[RBUF_SIZE];
};

static void
usage_line(FILE *f)
{
	size_t	 i;

	fputs("usage: openloop", f);
	for (i = 0; i < OPTDEFS_N; i++)
		fprintf(f, optdefs[i].def == NULL ? " -%c %s" : " [-%c %s]%s",
		    optdefs[i].flag, optdefs[i].arg,
		    optdefs[i].type == OPT_HEADER ? "..." : "");
	fputc('\n', f);
}

static void
help(void)
{
	size_t	 i;

	usage_line(stdout);
	for (i = 0; i < OPTDEFS_N; i++)
		printf("  -%c %-14s %s%s%s%s\n", optdefs[i].flag,
		    optdefs[i].arg, optdefs[i].help,
		    optdefs[i].def != NULL && optdefs[i].def[0] != '\0' ?
		    " (default " : "",
		    optdefs[i].def != NULL ? optdefs[i].def : " (required)",
		    optdefs[i].def != NULL && optdefs[i].def[0] != '\0' ?
		    ")" : "");
}

static void __attribute__((noreturn, format(printf, 1, 2)))
usage_fail(const char *fmt, ...)
{
	va_list	 ap;

	fputs("openloop: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static int
is_tchar(int ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
	    (ch >= 'A' && ch <= 'Z') ||
	    (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

/* A -H value: a token, a colon, printable bytes; no CR or LF. */
static int
header_ok(const char *h)
{
	const unsigned char	*p = (const unsigned char *)h;

	if (strlen(h) > HEADER_LEN_MAX || !is_tchar(*p))
		return 0;
	while (*p != '\0' && *p != ':' && is_tchar(*p))
		p++;
	if (*p++ != ':')
		return 0;
	for (; *p != '\0'; p++)
		if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
			return 0;
	return 1;
}

static int
path_ok(const char *s)
{
	const unsigned char	*p = (const unsigned char *)s;

	if (*p != '/' || strlen(s) > PATH_LEN_MAX)
		return 0;
	for (; *p != '\0'; p++)
		if (*p <= 0x20 || *p >= 0x7f)
			return 0;
	return 1;
}

static void
opt_number(struct cfg *cfg, const struct optdef *o, const char *arg)
{
	char	*end;
	double	 v;

	errno = 0;
	v = strtod(arg, &end);
	if (arg[0] == '\0' || *end != '\0' || errno != 0 || !(v >= o->min) ||
	    !(v <= o->max) || (o->type == OPT_INT && v != (double)(long)v)) {
		usage_fail("-%c: '%s' is not %s in [%g, %g]", o->flag, arg,
		    o->type == OPT_INT ? "a whole number" : "a number",
		    o->min, o->max);
	}
	*(double *)(void *)((char *)cfg + o->off) = v;
}

static void
opt_set(struct cfg *cfg, const struct optdef *o, const char *arg)
{
	switch (o->type) {
	case OPT_INT:
	case OPT_REAL:
		opt_number(cfg, o, arg);
		break;
	case OPT_HOST:
		if (inet_pton(AF_INET, arg, &cfg->sin.sin_addr) != 1)
			usage_fail("-h: '%s' is not an IPv4 address", arg);
		cfg->host = arg;
		break;
	case OPT_PATH:
		if (!path_ok(arg))
			usage_fail("-u: '%s' is not a path (/..., printable, "
			    "no spaces)", arg);
		cfg->path = arg;
		break;
	case OPT_HEADER:
		if (!header_ok(arg))
			usage_fail("-H: '%s' is not 'Name: value'", arg);
		if (cfg->nhdr == HEADERS_MAX)
			usage_fail("-H: more than %d headers", HEADERS_MAX);
		if (strncasecmp(arg, "host:", 5) == 0)
			cfg->hosthdr = 1;
		cfg->hdr[cfg->nhdr++] = arg;
		break;
	}
}

/*
 * Parse argv into cfg.  Every flag is in optdefs; an unknown flag, a
 * missing required one, a stray argument or a value out of bounds ends
 * the program with status 2 and one line on stderr.
 */
static void
cfg_parse(struct cfg *cfg, int argc, char *argv[])
{
	char		 optstr[2 * OPTDEFS_N + 2], *p = optstr;
	int		 seen[OPTDEFS_N] = { 0 };
	size_t		 i;
	int		 ch;

	if (argc == 2 && strcmp(argv[1], "--help") == 0) {
		help();
		exit(0);
	}
	memset(cfg, 0, sizeof(*cfg));
	cfg->sin.sin_family = AF_INET;
	*p++ = ':';
	for (i = 0; i < OPTDEFS_N; i++) {
		*p++ = optdefs[i].flag;
		*p++ = ':';
		if (optdefs[i].def != NULL && optdefs[i].def[0] != '\0')
			opt_set(cfg, &optdefs[i], optdefs[i].def);
	}
	*p = '\0';
	opterr = 0;
	while ((ch = getopt(argc, argv, optstr)) != -1) {
		if (ch == ':')
			fprintf(stderr, "openloop: -%c needs a value; ",
			    optopt);
		else if (ch == '?')
			fprintf(stderr, "openloop: unknown flag -%c; ", optopt);
		if (ch == ':' || ch == '?') {
			usage_line(stderr);
			exit(2);
		}
		for (i = 0; i < OPTDEFS_N; i++)
			if (optdefs[i].flag == ch)
				break;
		if (seen[i]++ && optdefs[i].type != OPT_HEADER)
			usage_fail("-%c given twice", ch);
		opt_set(cfg, &optdefs[i], optarg);
	}
	if (optind < argc)
		usage_fail("unexpected argument '%s'", argv[optind]);
	for (i = 0; i < OPTDEFS_N; i++)
		if (optdefs[i].def == NULL && !seen[i]) {
			fprintf(stderr, "openloop: -%c is required; ",
			    optdefs[i].flag);
			usage_line(stderr);
			exit(2);
		}
	cfg->sin.sin_port = htons((uint16_t)cfg->port);
}

static int64_t
now_ns(void)
{
	struct timespec	 ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1) {
		perror("openloop: clock_gettime");
		exit(1);
	}
	return (int64_t)ts.tv_sec * NS + ts.tv_nsec;
}

static size_t
hist_index(uint64_t us)
{
	int	 e;

	if (us > HIST_TOP_US)
		us = HIST_TOP_US;
	if (us < HIST_EXACT)
		return us;
	e = 63 - __builtin_clzll(us);
	return HIST_EXACT + (size_t)(e - HIST_SUB_BITS - 1) * HIST_SUB +
	    ((us >> (e - HIST_SUB_BITS)) - HIST_SUB);
}

/* The middle of bucket i, in microseconds. */
static double
hist_value(size_t i)
{
	size_t	 o, s;

	if (i < HIST_EXACT)
		return (double)i;
	o = (i - HIST_EXACT) / HIST_SUB;
	s = (i - HIST_EXACT) % HIST_SUB;
	return (double)((HIST_SUB + s) << (o + 1)) +
	    (double)((1ULL << (o + 1)) - 1) / 2;
}

/* The value under which a fraction q of the samples fall, in ms. */
static double
hist_quantile(const struct stats *st, double q)
{
	uint64_t	 want, sum = 0;
	size_t		 i;

	want = (uint64_t)(q * (double)st->nlat);
	if ((double)want < q * (double)st->nlat)
		want++;
	if (want == 0)
		want = 1;
	for (i = 0; i < HIST_N; i++) {
		sum += st->hist[i];
		if (sum >= want)
			break;
	}
	if (i == HIST_N)
		i = HIST_N - 1;
	return hist_value(i) / 1000;
}

static int64_t
due(const struct run *run, uint64_t k)
{
	return run->t0 + (int64_t)((double)k * run->nsreq);
}

static int
measured(const struct run *run, uint64_t k)
{
	return k >= run->km;
}

static void
resp_reset(struct resp *r)
{
	r->st = RS_STATUS;
	r->status = 0;
	r->http10 = 0;
	r->interim = 0;
	r->chunked = 0;
	r->eofbody = 0;
	r->havelen = 0;
	r->close = 0;
	r->keepalive = 0;
	r->left = 0;
	r->headlen = 0;
	r->linelen = 0;
	r->trunc = 0;
}

/* Whether the server will close the connection after this response. */
static int
resp_closes(const struct resp *r)
{
	return r->close || (r->http10 && !r->keepalive);
}

/* Does the list value v (length n) hold token t?  Case-insensitive. */
static int
list_has(const char *v, size_t n, const char *t)
{
	size_t	 tl = strlen(t), i = 0, s, e;

	while (i < n) {
		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		s = i;
		while (i < n && v[i] != ',')
			i++;
		e = i;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (e - s == tl && strncasecmp(v + s, t, tl) == 0)
			return 1;
	}
	return 0;
}

/* Is the last element of the list value v (length n) the token t? */
static int
list_last(const char *v, size_t n, const char *t)
{
	size_t	 tl = strlen(t), s;

	while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	s = n;
	while (s > 0 && v[s - 1] != ',' && v[s - 1] != ' ' &&
	    v[s - 1] != '\t')
		s--;
	return n - s == tl && strncasecmp(v + s, t, tl) == 0;
}

static enum rres
resp_status(struct resp *r)
{
	const char	*l = r->line;

	/* A stray empty line before a status line is tolerated. */
	if (r->linelen == 0)
		return RR_MORE;
	if (r->linelen < 12 || strncmp(l, "HTTP/1.", 7) != 0 ||
	    (l[7] != '0' && l[7] != '1') || l[8] != ' ' ||
	    l[9] < '1' || l[9] > '5' || l[10] < '0' || l[10] > '9' ||
	    l[11] < '0' || l[11] > '9' || (r->linelen > 12 && l[12] != ' '))
		return RR_ERR;
	r->status = (l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0');
	r->http10 = l[7] == '0';
	/* We never ask to switch protocols; other 1xx precede the answer. */
	if (r->status == 101)
		return RR_ERR;
	r->interim = r->status < 200;
	r->st = RS_HEADER;
	return RR_MORE;
}

static enum rres
resp_header(struct resp *r)
{
	const char	*l = r->line, *colon, *v;
	size_t		 nl, n;
	uint64_t	 len = 0;
	size_t		 i;

	if ((colon = memchr(l, ':', r->linelen)) == NULL)
		return RR_ERR;
	nl = (size_t)(colon - l);
	v = colon + 1;
	n = r->linelen - nl - 1;
	while (n > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		n--;
	}
	while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;

	if (nl == 14 && strncasecmp(l, "content-length", nl) == 0) {
		if (r->trunc || n == 0)
			return RR_ERR;
		for (i = 0; i < n; i++) {
			if (v[i] < '0' || v[i] > '9')
				return RR_ERR;
			len = len * 10 + (uint64_t)(v[i] - '0');
			if (len > CLEN_MAX)
				return RR_ERR;
		}
		/* Two different lengths: the body's end is unknowable. */
		if (r->havelen && r->left != len)
			return RR_ERR;
		r->havelen = 1;
		r->left = len;
	} else if (nl == 17 && strncasecmp(l, "transfer-encoding", nl) == 0) {
		if (r->trunc)
			return RR_ERR;
		/* Not chunked last: body runs to the close (RFC 9112 6.3). */
		if (list_last(v, n, "chunked"))
			r->chunked = 1;
		else
			r->eofbody = 1;
	} else if (nl == 10 && strncasecmp(l, "connection", nl) == 0) {
		if (r->trunc)
			return RR_ERR;
		if (list_has(v, n, "close"))
			r->close = 1;
		if (list_has(v, n, "keep-alive"))
			r->keepalive = 1;
	}
	return RR_MORE;
}

/*
 * The end of the headers says how the body is delimited: chunked wins
 * over Content-Length (RFC 9112 6.3); without either, only a response
 * the server closes after has a knowable end.
 */
static enum rres
resp_endhead(struct resp *r)
{
	r->headlen = 0;
	if (r->interim) {
		resp_reset(r);
		return RR_MORE;
	}
	if (r->status == 204 || r->status == 304)
		return RR_DONE;
	if (r->chunked && !r->eofbody) {
		r->st = RS_CHUNKSIZE;
		return RR_MORE;
	}
	if (r->eofbody) {
		r->close = 1;
		r->st = RS_EOFBODY;
		return RR_MORE;
	}
	if (r->havelen) {
		if (r->left == 0)
			return RR_DONE;
		r->st = RS_BODY;
		return RR_MORE;
	}
	if (resp_closes(r)) {
		r->st = RS_EOFBODY;
		return RR_MORE;
	}
	return RR_ERR;
}

static enum rres
resp_chunksize(struct resp *r)
{
	uint64_t	 size = 0;
	size_t		 i;
	int		 d;
	char		 ch;

	for (i = 0; i < r->linelen; i++) {
		ch = r->line[i];
		if (ch >= '0' && ch <= '9')
			d = ch - '0';
		else if (ch >= 'a' && ch <= 'f')
			d = ch - 'a' + 10;
		else if (ch >= 'A' && ch <= 'F')
			d = ch - 'A' + 10;
		else
			break;
		if (i == CHUNK_HEX_MAX)
			return RR_ERR;
		size = size * 16 + (uint64_t)d;
	}
	if (i == 0 || (i < r->linelen && r->line[i] != ';' &&
	    r->line[i] != ' ' && r->line[i] != '\t'))
		return RR_ERR;
	if (size == 0) {
		r->st = RS_TRAILER;
		return RR_MORE;
	}
	r->left = size;
	r->st = RS_CHUNK;
	return RR_MORE;
}

/* A complete line (without its LF) is in r->line: act on it. */
static enum rres
resp_line(struct resp *r)
{
	if (!r->trunc && r->linelen > 0 && r->line[r->linelen - 1] == '\r')
		r->linelen--;
	if (memchr(r->line, '\0', r->linelen) != NULL)
		return RR_ERR;

	switch (r->st) {
	case RS_STATUS:
		return resp_status(r);
	case RS_HEADER:
		if (r->linelen == 0)
			return resp_endhead(r);
		return resp_header(r);
	case RS_CHUNKSIZE:
		return resp_chunksize(r);
	case RS_CHUNKEND:
		if (r->linelen != 0)
			return RR_ERR;
		r->headlen = 0;
		r->st = RS_CHUNKSIZE;
		return RR_MORE;
	case RS_TRAILER:
		return r->linelen == 0 ? RR_DONE : RR_MORE;
	default:
		return RR_ERR;
	}
}

/*
 * Feed len bytes of the stream to the response parser.  Returns RR_DONE
 * when the response ended, with *used the bytes that belonged to it;
 * RR_MORE when all were taken and more are needed; RR_ERR for a
 * response we cannot read (the connection is then useless).
 */
static enum rres
resp_feed(struct resp *r, const char *buf, size_t len, size_t *used)
{
	const char	*nl;
	size_t		 i = 0, n, keep;
	enum rres	 rc;

	while (i < len) {
		switch (r->st) {
		case RS_BODY:
		case RS_CHUNK:
			n = len - i;
			if (n > r->left)
				n = (size_t)r->left;
			i += n;
			r->left -= n;
			if (r->left > 0)
				break;
			if (r->st == RS_BODY) {
				*used = i;
				return RR_DONE;
			}
			r->st = RS_CHUNKEND;
			break;
		case RS_EOFBODY:
			i = len;
			break;
		default:
			nl = memchr(buf + i, '\n', len - i);
			n = (nl == NULL ? len : (size_t)(nl - buf)) - i;
			if (n >= HEAD_MAX - r->headlen)
				return RR_ERR;
			r->headlen += n + 1;
			keep = sizeof(r->line) - 1 - r->linelen;
			if (n > keep)
				r->trunc = 1;
			else
				keep = n;
			memcpy(r->line + r->linelen, buf + i, keep);
			r->linelen += keep;
			i += n;
			if (nl == NULL)
				break;
			i++;
			rc = resp_line(r);
			r->linelen = 0;
			r->trunc = 0;
			if (rc != RR_MORE) {
				*used = i;
				return rc;
			}
			break;
		}
	}
	*used = i;
	return RR_MORE;
}

static void
conn_setev(struct run *run, struct conn *c, uint32_t ev)
{
	struct epoll_event	 e;

	if (c->ev == ev)
		return;
	memset(&e, 0, sizeof(e));
	e.events = ev;
	e.data.u64 = (uint64_t)(c - run->c) | (uint64_t)c->gen << 32;
	if (epoll_ctl(run->ep, EPOLL_CTL_MOD, c->fd, &e) == -1) {
		perror("openloop: epoll_ctl");
		exit(1);
	}
	c->ev = ev;
}

static void
idle_push(struct run *run, struct conn *c)
{
	c->st = CS_IDLE;
	c->idlepos = run->nidle;
	run->idle[run->nidle++] = (size_t)(c - run->c);
}

static void
idle_remove(struct run *run, struct conn *c)
{
	size_t	 last = run->idle[--run->nidle];

	run->idle[c->idlepos] = last;
	run->c[last].idlepos = c->idlepos;
}

/* Close c's socket; it is down until it is reopened. */
static void
conn_close(struct run *run, struct conn *c)
{
	if (c->st == CS_IDLE)
		idle_remove(run, c);
	/* A close error on a socket we drop changes nothing we report. */
	if (c->fd != -1)
		(void)close(c->fd);
	c->fd = -1;
	c->ev = 0;
	c->st = CS_DOWN;
}

/* A connect failed: count it and retry later, backing off. */
static void
conn_failed(struct run *run, struct conn *c, int err, int64_t now)
{
	run->lasterr = err;
	run->st.connect++;
	conn_close(run, c);
	c->backoff = c->backoff == 0 ? BACKOFF_MIN_NS : 2 * c->backoff;
	if (c->backoff > BACKOFF_MAX_NS)
		c->backoff = BACKOFF_MAX_NS;
	c->since = now + c->backoff;
}

static void
conn_open(struct run *run, struct conn *c, int64_t now)
{
	struct epoll_event	 e;
	int			 one = 1;

	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd == -1) {
		conn_failed(run, c, errno, now);
		return;
	}
	if (setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one,
	    sizeof(one)) == -1 ||
	    (connect(c->fd, (const struct sockaddr *)&run->cfg->sin,
	    sizeof(run->cfg->sin)) == -1 && errno != EINPROGRESS)) {
		conn_failed(run, c, errno, now);
		return;
	}
	c->gen++;
	c->st = CS_CONNECTING;
	c->since = now;
	c->ev = EPOLLIN | EPOLLOUT;
	memset(&e, 0, sizeof(e));
	e.events = c->ev;
	e.data.u64 = (uint64_t)(c - run->c) | (uint64_t)c->gen << 32;
	if (epoll_ctl(run->ep, EPOLL_CTL_ADD, c->fd, &e) == -1)
		conn_failed(run, c, errno, now);
}

static void
conn_recycle(struct run *run, struct conn *c, int64_t now)
{
	conn_close(run, c);
	conn_open(run, c, now);
}

/* The non-blocking connect of c has an outcome. */
static void
conn_up(struct run *run, struct conn *c, int64_t now)
{
	socklen_t	 len = sizeof(int);
	int		 err = 0;

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		err = errno;
	if (err != 0) {
		conn_failed(run, c, err, now);
		return;
	}
	c->backoff = 0;
	run->nup++;
	conn_setev(run, c, EPOLLIN);
	idle_push(run, c);
}

/* The request on c ends without an answer: count why, once. */
static void
req_lost(struct run *run, struct conn *c, enum lost why)
{
	run->done++;
	if (!measured(run, c->k))
		return;
	if (why == LOST_RESET)
		run->st.reset++;
	else if (why == LOST_TIMEOUT)
		run->st.timeout++;
	else
		run->st.parse++;
}

static void
req_complete(struct run *run, struct conn *c, int64_t now)
{
	struct stats	*st = &run->st;
	int64_t		 lat;

	run->done++;
	if (!measured(run, c->k))
		return;
	st->completed++;
	if (c->r.status >= 500)
		st->s5xx++;
	else if (c->r.status >= 400)
		st->s4xx++;
	else if (c->r.status >= 300)
		st->s3xx++;
	st->lastdone = now;
	lat = now - due(run, c->k);
	if (lat < 0)
		lat = 0;
	if (lat > st->latmax)
		st->latmax = lat;
	st->hist[hist_index((uint64_t)(lat + 500) / 1000)]++;
	st->nlat++;
}

static void
conn_send(struct run *run, struct conn *c, int64_t now)
{
	ssize_t	 n;

	n = send(c->fd, run->req + c->woff, run->reqlen - c->woff,
	    MSG_NOSIGNAL);
	if (n == -1) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
			conn_setev(run, c, EPOLLIN | EPOLLOUT);
			return;
		}
		req_lost(run, c, LOST_RESET);
		conn_recycle(run, c, now);
		return;
	}
	c->woff += (size_t)n;
	conn_setev(run, c, c->woff < run->reqlen ?
	    EPOLLIN | EPOLLOUT : EPOLLIN);
}

/*
 * A response ended.  The connection goes back to the idle ones unless
 * the server closes it, sent more than asked for, or answered before it
 * had read the whole request.
 */
static void
conn_answered(struct run *run, struct conn *c, size_t used, size_t got,
    int64_t now)
{
	req_complete(run, c, now);
	if (used < got) {
		run->st.parse++;
		conn_recycle(run, c, now);
	} else if (resp_closes(&c->r) || c->woff < run->reqlen) {
		run->st.reconnects++;
		conn_recycle(run, c, now);
	} else {
		conn_setev(run, c, EPOLLIN);
		idle_push(run, c);
	}
}

static void
conn_read(struct run *run, struct conn *c, int64_t now)
{
	ssize_t		 n;
	size_t		 used;
	enum rres	 rc;

	n = recv(c->fd, run->rbuf, sizeof(run->rbuf), 0);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK ||
	    errno == EINTR))
		return;
	if (n <= 0) {
		/*
		 * A close or reset between requests is the server's right
		 * (idle keep-alive timeout); with a request out, it is lost.
		 */
		if (c->st != CS_BUSY)
			run->st.reconnects++;
		else if (n == 0 && c->r.st == RS_EOFBODY) {
			conn_answered(run, c, 0, 0, now);
			return;
		} else
			req_lost(run, c, LOST_RESET);
		conn_recycle(run, c, now);
		return;
	}
	if (c->st != CS_BUSY) {
		run->st.parse++;
		conn_recycle(run, c, now);
		return;
	}
	rc = resp_feed(&c->r, run->rbuf, (size_t)n, &used);
	if (rc == RR_DONE)
		conn_answered(run, c, used, (size_t)n, now);
	else if (rc == RR_ERR) {
		req_lost(run, c, LOST_PARSE);
		conn_recycle(run, c, now);
	}
}

static void
conn_event(struct run *run, uint64_t data, uint32_t events, int64_t now)
{
	struct conn	*c;
	uint32_t	 gen = (uint32_t)(data >> 32);

	if ((data & 0xffffffff) >= run->nc)
		return;
	c = &run->c[data & 0xffffffff];
	if (c->gen != gen || c->fd == -1)
		return;
	if (c->st == CS_CONNECTING) {
		if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
			conn_up(run, c, now);
		return;
	}
	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
		conn_read(run, c, now);
		if (c->gen != gen || c->fd == -1)
			return;
	}
	if ((events & EPOLLOUT) && c->st == CS_BUSY && c->woff < run->reqlen)
		conn_send(run, c, now);
}

/* Requests whose due time has come join the FIFO. */
static void
sched_advance(struct run *run, int64_t now)
{
	struct stats	*st = &run->st;
	int64_t		 late;

	while (run->kdue < run->n && due(run, run->kdue) <= now) {
		if (measured(run, run->kdue)) {
			late = now - due(run, run->kdue);
			st->latesum += late;
			st->nlate++;
			if (late > st->latemax)
				st->latemax = late;
		}
		run->kdue++;
	}
}

/*
 * Requests that waited in the FIFO past the timeout fail without being
 * sent: they are counted, not dropped silently.
 */
static void
sched_expire(struct run *run, int64_t now)
{
	while (run->ksent < run->kdue &&
	    now - due(run, run->ksent) >= run->timeout) {
		run->done++;
		if (measured(run, run->ksent))
			run->st.timeout++;
		run->ksent++;
	}
}

static void
sched_dispatch(struct run *run, int64_t now)
{
	struct conn	*c;
	int64_t		 behind;

	while (run->nidle > 0 && run->ksent < run->kdue) {
		c = &run->c[run->idle[--run->nidle]];
		c->st = CS_BUSY;
		c->k = run->ksent++;
		c->woff = 0;
		resp_reset(&c->r);
		if (measured(run, c->k)) {
			run->st.sent++;
			behind = now - due(run, c->k);
			if (behind > run->st.behindmax)
				run->st.behindmax = behind;
		}
		conn_send(run, c, now);
	}
}

/* Every SCAN_NS: requests out too long, connects too slow, retries due. */
static void
conns_scan(struct run *run, int64_t now)
{
	struct conn	*c;
	size_t		 i;

	for (i = 0; i < run->nc; i++) {
		c = &run->c[i];
		switch (c->st) {
		case CS_BUSY:
			if (now - due(run, c->k) >= run->timeout) {
				req_lost(run, c, LOST_TIMEOUT);
				conn_recycle(run, c, now);
			}
			break;
		case CS_CONNECTING:
			if (now - c->since >= run->timeout)
				conn_failed(run, c, ETIMEDOUT, now);
			break;
		case CS_DOWN:
			if (now >= c->since)
				conn_open(run, c, now);
			break;
		case CS_IDLE:
			break;
		}
	}
}

/*
 * Sleep until an event or the time at, then handle the events.
 * epoll_pwait2 takes nanoseconds: epoll_wait's milliseconds are ten due
 * times at 10,000 req/s.
 */
static void
wait_events(struct run *run, int64_t at)
{
	struct epoll_event	 ev[EVENTS_MAX];
	struct timespec		 ts;
	int64_t			 now, wait;
	int			 i, nev;

	wait = at - now_ns();
	if (wait < 0)
		wait = 0;
	ts.tv_sec = wait / NS;
	ts.tv_nsec = wait % NS;
	nev = epoll_pwait2(run->ep, ev, EVENTS_MAX, &ts, NULL);
	if (nev == -1) {
		if (errno == EINTR)
			return;
		perror("openloop: epoll_pwait2");
		exit(1);
	}
	now = now_ns();
	for (i = 0; i < nev; i++)
		conn_event(run, ev[i].data.u64, ev[i].events, now);
}

/*
 * Open every connection and wait until each is up or has failed, so
 * the schedule does not start against connects still in progress.
 * Returns the number that came up.
 */
static size_t
conns_setup(struct run *run)
{
	int64_t		 now = now_ns(), end = now + run->timeout;
	size_t		 i, pending;

	for (i = 0; i < run->nc; i++)
		conn_open(run, &run->c[i], now);
	for (;;) {
		pending = 0;
		for (i = 0; i < run->nc; i++)
			if (run->c[i].st == CS_CONNECTING)
				pending++;
		now = now_ns();
		if (pending == 0 || now >= end)
			break;
		wait_events(run, end);
	}
	for (i = 0; i < run->nc; i++)
		if (run->c[i].st == CS_CONNECTING)
			conn_failed(run, &run->c[i], ETIMEDOUT, now);
	return run->nup;
}

/*
 * The schedule: loop until every request of it has been answered, lost
 * or timed out.  Each turn notes what fell due, expires what waited too
 * long, puts due requests on idle connections, and sleeps until the next
 * due time or scan.
 */
static void
sched_run(struct run *run)
{
	int64_t		 now, next, nextscan, hardend;

	run->t0 = now_ns();
	hardend = due(run, run->n) + run->timeout + NS;
	nextscan = run->t0 + SCAN_NS;
	for (;;) {
		now = now_ns();
		sched_advance(run, now);
		if (now >= nextscan) {
			conns_scan(run, now);
			nextscan = now + SCAN_NS;
		}
		sched_expire(run, now);
		sched_dispatch(run, now);
		if (run->kdue == run->n && run->done == run->n)
			break;
		if (now > hardend) {
			fprintf(stderr, "openloop: %llu requests unaccounted "
			    "for at the end\n",
			    (unsigned long long)(run->n - run->done));
			break;
		}
		next = nextscan;
		if (run->kdue < run->n && due(run, run->kdue) < next)
			next = due(run, run->kdue);
		wait_events(run, next);
	}
}

static int
req_build(struct run *run)
{
	const struct cfg	*cfg = run->cfg;
	size_t			 i;
	int			 n;

	n = snprintf(run->req, sizeof(run->req), "GET %s HTTP/1.1\r\n",
	    cfg->path);
	if (n < 0 || (size_t)n >= sizeof(run->req))
		return -1;
	run->reqlen = (size_t)n;
	if (!cfg->hosthdr) {
		n = snprintf(run->req + run->reqlen,
		    sizeof(run->req) - run->reqlen, "Host: %s:%d\r\n",
		    cfg->host, (int)cfg->port);
		if (n < 0 || (size_t)n >= sizeof(run->req) - run->reqlen)
			return -1;
		run->reqlen += (size_t)n;
	}
	for (i = 0; i <= cfg->nhdr; i++) {
		n = snprintf(run->req + run->reqlen,
		    sizeof(run->req) - run->reqlen, "%s\r\n",
		    i < cfg->nhdr ? cfg->hdr[i] : "");
		if (n < 0 || (size_t)n >= sizeof(run->req) - run->reqlen)
			return -1;
		run->reqlen += (size_t)n;
	}
	return 0;
}

/* Enough descriptors for the connections, or a clear refusal. */
static void
fds_reserve(size_t conns)
{
	struct rlimit	 rl;
	rlim_t		 need = (rlim_t)conns + FD_SPARE;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1) {
		perror("openloop: getrlimit");
		exit(1);
	}
	if (rl.rlim_cur >= need)
		return;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
		fprintf(stderr, "openloop: -c %zu needs %llu descriptors, "
		    "the hard limit is %llu\n", conns, (unsigned long long)need,
		    (unsigned long long)rl.rlim_max);
		exit(2);
	}
	rl.rlim_cur = need;
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1) {
		perror("openloop: setrlimit");
		exit(1);
	}
}

static void
run_init(struct run *run, const struct cfg *cfg)
{
	size_t			 i;

	run->cfg = cfg;
	run->nc = (size_t)cfg->conns;
	run->timeout = (int64_t)(cfg->timeout * NS);
	run->nsreq = NS / cfg->rate;
	run->n = (uint64_t)((cfg->warmup + cfg->dur) * cfg->rate + 0.5);
	run->km = (uint64_t)(cfg->warmup * cfg->rate + 0.5);
	if (req_build(run) == -1) {
		fputs("openloop: request too long\n", stderr);
		exit(2);
	}
	fds_reserve(run->nc);
	run->c = calloc(run->nc, sizeof(*run->c));
	run->idle = calloc(run->nc, sizeof(*run->idle));
	if (run->c == NULL || run->idle == NULL) {
		perror("openloop: calloc");
		exit(1);
	}
	for (i = 0; i < run->nc; i++)
		run->c[i].fd = -1;
	if ((run->ep = epoll_create1(EPOLL_CLOEXEC)) == -1) {
		perror("openloop: epoll_create1");
		exit(1);
	}
}

/* A minimal JSON writer: keys are ours, values are numbers. */
struct jw {
	FILE	*f;
	int	 first;
};

static void
jw_key(struct jw *w, const char *key)
{
	fprintf(w->f, "%s\"%s\":", w->first ? "" : ",", key);
	w->first = 0;
}

static void
jw_u64(struct jw *w, const char *key, uint64_t v)
{
	jw_key(w, key);
	fprintf(w->f, "%llu", (unsigned long long)v);
}

static void
jw_real(struct jw *w, const char *key, double v, int have)
{
	jw_key(w, key);
	if (have)
		fprintf(w->f, "%.3f", v);
	else
		fputs("null", w->f);
}

static void
jw_bool(struct jw *w, const char *key, int v)
{
	jw_key(w, key);
	fputs(v ? "true" : "false", w->f);
}

static void
jw_open(struct jw *w, const char *key)
{
	if (key != NULL)
		jw_key(w, key);
	fputc('{', w->f);
	w->first = 1;
}

static void
jw_close(struct jw *w)
{
	fputc('}', w->f);
	w->first = 0;
}

static double
cpu_seconds(void)
{
	struct rusage	 ru;

	if (getrusage(RUSAGE_SELF, &ru) == -1)
		return 0;
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void
report(const struct run *run)
{
	const struct cfg	*cfg = run->cfg;
	const struct stats	*st = &run->st;
	struct jw		 w = { stdout, 1 };
	int			 have = st->nlat > 0;
	double			 latemean = 0, span = cfg->dur;

	if (st->nlate > 0)
		latemean = (double)st->latesum / (double)st->nlate / MS;
	/*
	 * Answers that come in while draining the queue count, so divide by
	 * the time they took: completed / duration would credit a server
	 * that falls behind with the rate it was offered.
	 */
	if (st->nlat > 0 &&
	    (double)(st->lastdone - due(run, run->km)) / NS > span)
		span = (double)(st->lastdone - due(run, run->km)) / NS;
	jw_open(&w, NULL);
	jw_key(&w, "rate");
	fprintf(w.f, "%.10g", cfg->rate);
	jw_real(&w, "achieved", (double)st->completed / span, 1);
	jw_real(&w, "duration_s", cfg->dur, 1);
	jw_real(&w, "span_s", span, 1);
	jw_real(&w, "warmup_s", cfg->warmup, 1);
	jw_u64(&w, "connections", run->nc);
	jw_u64(&w, "scheduled", run->n - run->km);
	jw_u64(&w, "sent", st->sent);
	jw_u64(&w, "completed", st->completed);
	jw_open(&w, "errors");
	jw_u64(&w, "status_3xx", st->s3xx);
	jw_u64(&w, "status_4xx", st->s4xx);
	jw_u64(&w, "status_5xx", st->s5xx);
	jw_u64(&w, "connect", st->connect);
	jw_u64(&w, "reset", st->reset);
	jw_u64(&w, "timeout", st->timeout);
	jw_u64(&w, "parse", st->parse);
	jw_close(&w);
	jw_real(&w, "p50_ms", hist_quantile(st, 0.50), have);
	jw_real(&w, "p90_ms", hist_quantile(st, 0.90), have);
	jw_real(&w, "p99_ms", hist_quantile(st, 0.99), have);
	jw_real(&w, "p999_ms", hist_quantile(st, 0.999), have);
	jw_real(&w, "max_ms", (double)st->latmax / MS, have);
	jw_real(&w, "behind_max_ms", (double)st->behindmax / MS, 1);
	jw_real(&w, "late_ms_mean", latemean, 1);
	jw_real(&w, "late_ms_max", (double)st->latemax / MS, 1);
	jw_bool(&w, "generator_late", latemean * MS > LATE_NS);
	jw_u64(&w, "reconnects", st->reconnects);
	jw_real(&w, "cpu_s", cpu_seconds(), 1);
	jw_close(&w);
	fputc('\n', w.f);
	if (fflush(w.f) == EOF || ferror(w.f)) {
		perror("openloop: stdout");
		exit(1);
	}
}

int
main(int argc, char *argv[])
{
	static struct run	 run;
	struct cfg		 cfg;

	cfg_parse(&cfg, argc, argv);
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
		perror("openloop: signal");
		return 1;
	}
	/*
	 * The default 50 us timer slack is half the gap between two due
	 * times at 10,000 req/s.  Failing to lower it only makes the tool
	 * later, which late_ms_mean shows.
	 */
	(void)prctl(PR_SET_TIMERSLACK, 1000UL, 0UL, 0UL, 0UL);
	run_init(&run, &cfg);
	if (conns_setup(&run) == 0) {
		fprintf(stderr, "openloop: cannot connect to %s:%d: %s\n",
		    cfg.host, (int)cfg.port, strerror(run.lasterr));
		return 1;
	}
	sched_run(&run);
	report(&run);
	return 0;
}
