/*
 * metrics_server.c - the /metrics listener (see metrics_server.h).
 */
#include <sys/socket.h>

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "log.h"
#include "metrics.h"
#include "metrics_server.h"
#include "oom.h"
#include "scoreboard.h"

#ifndef SHOAL_VERSION
#define SHOAL_VERSION "0.0.0"
#endif

#define METHOD_MAX	16
#define STOP_CHECK_MS	1000	/* SIGUSR2 wakes it sooner */
#define LINGER_MS	500	/* unread input drained after an error */
#define LINGER_BYTES	65536

struct metrics_server {
	pthread_t		 tid;
	int			 fd;
	atomic_int		 stopping;
	struct scoreboard	 sb;
	char			*dir;
	const char		**names;	/* route slots */
	size_t			 nslots;
	uint64_t		*requests;	/* the sum's, reused */
	struct buf		 body;
	struct buf		 out;
	pthread_barrier_t	 started;	/* see metrics_server_start */
};

/* RFC 9110 token characters. */
static int
tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || (c != '\0' &&
	    strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* A header line: a token, a colon, then visible characters or blanks. */
static int
field_valid(const char *p, const char *end)
{
	const char	*q = p;

	while (q < end && tchar(*q))
		q++;
	if (q == p || q == end || *q != ':')
		return 0;
	for (q++; q < end; q++)
		if ((unsigned char)*q < 0x20 && *q != '\t')
			return 0;
	return 1;
}

enum metrics_http
metrics_http_parse(const char *buf, size_t len)
{
	const char	*end = NULL, *p, *line_end, *sp1, *sp2, *path_end;
	size_t		 i, mlen;
	int		 spaces = 0;

	/* Garbage (a TLS hello, binary) is refused at its first byte, not
	 * after the time limit. */
	for (i = 0; i < len && buf[i] != '\n'; i++) {
		if (buf[i] == '\r' && (i + 1 == len || buf[i + 1] == '\n'))
			continue;
		if ((unsigned char)buf[i] < 0x20 ||
		    (unsigned char)buf[i] >= 0x7f)
			return METRICS_HTTP_BAD_REQUEST;
		if (buf[i] == ' ')
			spaces++;
		else if (spaces == 0 && !tchar(buf[i]))
			return METRICS_HTTP_BAD_REQUEST;
	}
	for (i = 0; i + 1 < len && end == NULL; i++) {
		if (buf[i] == '\n' && buf[i + 1] == '\n')
			end = buf + i + 1;
		else if (buf[i] == '\n' && buf[i + 1] == '\r' && i + 2 < len &&
		    buf[i + 2] == '\n')
			end = buf + i + 1;
	}
	if (end == NULL)
		return len >= METRICS_HEAD_MAX ? METRICS_HTTP_TOO_LARGE :
		    METRICS_HTTP_INCOMPLETE;
	if ((size_t)(end - buf) > METRICS_HEAD_MAX)
		return METRICS_HTTP_TOO_LARGE;
	/* The request line: METHOD SP TARGET SP HTTP/1.x */
	line_end = memchr(buf, '\n', (size_t)(end - buf));
	p = line_end;
	if (p > buf && p[-1] == '\r')
		p--;
	sp1 = memchr(buf, ' ', (size_t)(p - buf));
	if (sp1 == NULL || (mlen = (size_t)(sp1 - buf)) == 0 ||
	    mlen > METHOD_MAX)
		return METRICS_HTTP_BAD_REQUEST;
	for (i = 0; i < mlen; i++)
		if (!tchar(buf[i]))
			return METRICS_HTTP_BAD_REQUEST;
	sp2 = memchr(sp1 + 1, ' ', (size_t)(p - sp1 - 1));
	if (sp2 == NULL || sp1[1] != '/' || (size_t)(p - sp2 - 1) != 8 ||
	    (memcmp(sp2 + 1, "HTTP/1.0", 8) != 0 &&
	    memcmp(sp2 + 1, "HTTP/1.1", 8) != 0))
		return METRICS_HTTP_BAD_REQUEST;
	for (i = 1; sp1 + i < sp2; i++)
		if ((unsigned char)sp1[i] <= 0x20 || sp1[i] == 0x7f)
			return METRICS_HTTP_BAD_REQUEST;
	/* The header lines. */
	for (p = line_end + 1; p < end; p = line_end + 1) {
		line_end = memchr(p, '\n', (size_t)(end - p) + 1);
		if (line_end == p || (line_end == p + 1 && *p == '\r'))
			break;
		if (!field_valid(p, line_end[-1] == '\r' ? line_end - 1 :
		    line_end))
			return METRICS_HTTP_BAD_REQUEST;
	}
	if (mlen != 3 || memcmp(buf, "GET", 3) != 0)
		return METRICS_HTTP_BAD_METHOD;
	path_end = memchr(sp1 + 1, '?', (size_t)(sp2 - sp1 - 1));
	if (path_end == NULL)
		path_end = sp2;
	if (path_end - sp1 - 1 != 8 || memcmp(sp1 + 1, "/metrics", 8) != 0)
		return METRICS_HTTP_NOT_FOUND;
	return METRICS_HTTP_OK;
}

static void
write_all(int fd, const char *p, size_t n)
{
	ssize_t	 w;

	while (n > 0) {
		w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;		/* gone, or the send timeout */
		p += w;
		n -= (size_t)w;
	}
}

static void
respond(struct metrics_server *m, int fd, int status, const char *reason,
    const char *extra, const char *ctype, const char *body, size_t len)
{
	buf_reset(&m->out);
	buf_printf(&m->out, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
	    "Content-Length: %zu\r\n%sConnection: close\r\n\r\n", status,
	    reason, ctype, len, extra);
	write_all(fd, m->out.data, m->out.len);
	write_all(fd, body, len);
}

static void
error_reply(struct metrics_server *m, int fd, int status, const char *reason,
    const char *extra)
{
	char	 text[64];
	int	 n = snprintf(text, sizeof text, "%s\n", reason);

	respond(m, fd, status, reason, extra, "text/plain; charset=utf-8",
	    text, (size_t)n);
}

/*
 * The text GET /metrics answers, summed from every live process's file in
 * dir (own through its own mapping, may be NULL) into body; requests is
 * the sum's array, nslots route slots long. 0, or -1 when dir cannot be
 * read.
 */
static int
render(const char *dir, const struct scoreboard *own, const char **names,
    size_t nslots, uint64_t *requests, struct buf *body)
{
	struct metrics_sum	 sum;

	memset(&sum, 0, sizeof sum);
	memset(requests, 0, nslots * METRICS_NMETHODS * METRICS_NSTATUS *
	    sizeof *requests);
	sum.requests = requests;
	sum.nslots = nslots;
	if (scoreboard_collect(dir, own, &sum) < 0)
		return -1;
	buf_reset(body);
	metrics_render(body, &sum, names, SHOAL_VERSION);
	return 0;
}

static void
scrape(struct metrics_server *m, int fd)
{
	if (render(m->dir, &m->sb, m->names, m->nslots, m->requests,
	    &m->body) != 0) {
		log_event("error", "metrics: cannot read SHOAL_METRICS_DIR "
		    "%s", m->dir);
		error_reply(m, fd, 500, "Internal Server Error", "");
		return;
	}
	respond(m, fd, 200, "OK", "",
	    "text/plain; version=0.0.4; charset=utf-8", m->body.data,
	    m->body.len);
}

int
metrics_print(const char *dir, const struct shoal_app *app,
    FILE *out, char *err, size_t errsz)
{
	const char	**names;
	size_t		  nslots;
	uint64_t	 *requests;
	struct buf	  body;
	int		  rc = 0;

	names = metrics_route_names(app->routes, &nslots);
	requests = xcalloc(nslots * METRICS_NMETHODS * METRICS_NSTATUS,
	    sizeof *requests);
	buf_init(&body);
	if (render(dir, NULL, names, nslots, requests, &body) != 0) {
		snprintf(err, errsz, "metrics: cannot read %s: %s", dir,
		    strerror(errno));
		rc = -1;
	} else if (fwrite(body.data, 1, body.len, out) != body.len ||
	    fflush(out) != 0) {
		snprintf(err, errsz, "metrics: cannot write: %s",
		    strerror(errno));
		rc = -1;
	}
	buf_free(&body);
	free(requests);
	free(names);
	return rc;
}

static int64_t
now_ms(void)
{
	return metrics_clock() / 1000000;
}

/*
 * After an error the client may still be sending (a head over the limit):
 * closing with unread input would reset the connection, and the client
 * could lose the answer. So the answer is ended with a FIN, and what comes
 * is read and dropped for a short, bounded while.
 */
static void
linger(int fd)
{
	char			 sink[4096];
	struct pollfd		 pfd = { .fd = fd, .events = POLLIN };
	int64_t			 deadline = now_ms() + LINGER_MS, left;
	size_t			 total = 0;
	ssize_t			 n;

	if (shutdown(fd, SHUT_WR) != 0)
		return;
	while (total < LINGER_BYTES && (left = deadline - now_ms()) > 0 &&
	    poll(&pfd, 1, (int)left) > 0) {
		if ((n = read(fd, sink, sizeof sink)) <= 0)
			return;
		total += (size_t)n;
	}
}

/* Reads one request head within the time limit and answers it. */
static void
serve_one(struct metrics_server *m, int fd)
{
	char			 head[METRICS_HEAD_MAX];
	size_t			 len = 0;
	int64_t			 deadline = now_ms() + METRICS_READ_TIMEOUT_MS;
	struct pollfd		 pfd = { .fd = fd, .events = POLLIN };
	struct timeval		 tv = { METRICS_READ_TIMEOUT_MS / 1000, 0 };
	enum metrics_http	 res = METRICS_HTTP_INCOMPLETE;
	ssize_t			 n;
	int64_t			 left;

	/* A client that does not read its answer holds us no longer. */
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	while (res == METRICS_HTTP_INCOMPLETE) {
		if ((left = deadline - now_ms()) <= 0 ||
		    poll(&pfd, 1, (int)left) <= 0)
			return;		/* too slow: dropped */
		n = read(fd, head + len, sizeof head - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		len += (size_t)n;
		res = metrics_http_parse(head, len);
	}
	switch (res) {
	case METRICS_HTTP_OK:
		scrape(m, fd);
		break;
	case METRICS_HTTP_NOT_FOUND:
		error_reply(m, fd, 404, "Not Found", "");
		break;
	case METRICS_HTTP_BAD_METHOD:
		error_reply(m, fd, 405, "Method Not Allowed", "Allow: GET\r\n");
		break;
	case METRICS_HTTP_TOO_LARGE:
		error_reply(m, fd, 431, "Request Header Fields Too Large", "");
		break;
	default:
		error_reply(m, fd, 400, "Bad Request", "");
		break;
	}
	if (res != METRICS_HTTP_OK)
		linger(fd);
}

static void *
serve_loop(void *arg)
{
	struct metrics_server	*m = arg;
	struct pollfd		 pfd = { .fd = m->fd, .events = POLLIN };
	sigset_t		 set;
	int			 fd;

	pthread_barrier_wait(&m->started);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	while (!atomic_load(&m->stopping)) {
		if (poll(&pfd, 1, STOP_CHECK_MS) <= 0)
			continue;
		if ((fd = accept4(m->fd, NULL, NULL, SOCK_CLOEXEC)) < 0)
			continue;
		serve_one(m, fd);
		close(fd);
	}
	return NULL;
}

/* A listening socket on host:port, shared with the other processes. */
static int
bind_listener(const struct redis_addr *a, char *err, size_t errsz)
{
	struct addrinfo	 hints, *res = NULL;
	char		 port[16];
	int		 fd = -1, on = 1, rc;

	memset(&hints, 0, sizeof hints);
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	snprintf(port, sizeof port, "%d", a->port);
	if ((rc = getaddrinfo(a->host, port, &hints, &res)) != 0) {
		snprintf(err, errsz, "SHOAL_METRICS_LISTEN: %s: %s", a->host,
		    gai_strerror(rc));
		return -1;
	}
	if ((fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, 0)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0 ||
	    bind(fd, res->ai_addr, res->ai_addrlen) != 0 ||
	    listen(fd, 64) != 0) {
		snprintf(err, errsz, "SHOAL_METRICS_LISTEN: %s:%d: %s",
		    a->host, a->port, strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

struct metrics_server *
metrics_server_start(const struct config *cfg, const struct shoal_app *app,
    size_t nthreads, char *err, size_t errsz)
{
	struct metrics_server	*m = xcalloc(1, sizeof *m);

	m->fd = -1;
	m->sb.fd = -1;
	m->names = metrics_route_names(app->routes, &m->nslots);
	m->requests = xcalloc(m->nslots * METRICS_NMETHODS * METRICS_NSTATUS,
	    sizeof *m->requests);
	m->dir = xstrdup(cfg->metrics_dir);
	buf_init(&m->body);
	buf_init(&m->out);
	if (scoreboard_open(&m->sb, cfg->metrics_dir, nthreads, m->nslots,
	    err, errsz) != 0 ||
	    (m->fd = bind_listener(&cfg->metrics_addr, err, errsz)) < 0)
		goto fail;
	/*
	 * The thread is waited for until it runs: a new thread's own start-up
	 * (glibc registers rseq) is a call the sandbox does not allow, and the
	 * filter is loaded into every thread as soon as this returns.
	 */
	if ((errno = pthread_barrier_init(&m->started, NULL, 2)) != 0 ||
	    (errno = pthread_create(&m->tid, NULL, serve_loop, m)) != 0) {
		snprintf(err, errsz, "metrics: cannot start thread: %s",
		    strerror(errno));
		goto fail;
	}
	pthread_barrier_wait(&m->started);
	pthread_barrier_destroy(&m->started);
	return m;
fail:
	if (m->fd >= 0)
		close(m->fd);
	m->fd = -1;
	metrics_server_stop(m);
	return NULL;
}

struct metrics_block *
metrics_server_block(struct metrics_server *m, size_t i)
{
	return scoreboard_block(&m->sb, i);
}

void
metrics_server_stop(struct metrics_server *m)
{
	if (m == NULL)
		return;
	if (m->fd >= 0) {
		atomic_store(&m->stopping, 1);
		pthread_kill(m->tid, SIGUSR2);
		pthread_join(m->tid, NULL);
		close(m->fd);
	}
	scoreboard_close(&m->sb);
	buf_free(&m->body);
	buf_free(&m->out);
	free(m->requests);
	free(m->names);
	free(m->dir);
	free(m);
}
