/*
 * worker.c - the FastCGI responder: threads, the accept loop, reading a
 * request from libfcgi, and the SIGTERM drain (see worker.h).
 *
 * Kept-alive connections. libfcgi, used the plain way, parks a thread on a
 * kept-alive connection between requests: the thread serves nothing else
 * until the web server sends on that connection again. When the web server
 * holds idle connections to every thread of a process and opens one more
 * (another nginx worker process, a burst), that connection waits in the
 * listen queue until something times out. So here a thread holds any number
 * of kept-alive connections and polls them together with the listening
 * socket, serving whichever speaks first; libfcgi only ever reads a request
 * from a connection that poll() says is ready. The listening socket is
 * non-blocking (for every process sharing it: they are all shoal workers),
 * so when another thread wins the race for a new connection, accept()
 * returns at once instead of parking this one.
 *
 * Handing connections over. A thread about to wait a long while inside a
 * request (a password hash: a tenth of a second, more when it waits for a
 * turn) first gives the other connections it holds to its siblings: their
 * numbers go into a pipe that every thread polls between requests, and the
 * thread that reads a number takes that connection. A page the web server
 * sends on one of them meanwhile is served at once, not after the hash.
 *
 * Shutting down. The listening socket is shared with sibling processes
 * (spawn-fcgi forks several onto one socket), so it must not be shut down:
 * that would stop them too. Instead the main thread marks the shutdown and
 * interrupts every thread that is waiting for work with SIGUSR2, whose
 * handler does nothing but make poll() return. A thread in the middle of a
 * request is never interrupted: it finishes, then answers what comes on its
 * connections, closing each after its response.
 *
 * An idle kept-alive connection is the one thing a drain cannot close
 * safely: the web server may be sending a request on it at that very
 * moment, and a POST sent on a connection that then closes is answered 502
 * (nginx never resends one). So a draining process closes them only once
 * no request has come to any of its threads for DRAIN_QUIET_MS. Until
 * then, each request the web server sends uses up one of them (it is
 * closed after its response, which the web server sees before it could
 * reuse it), and once it has none left its next connect is refused and it
 * stops choosing this server. A thread that holds no connection leaves
 * as soon as the listening socket is gone: nothing can come to it then.
 *
 * Counted. With SHOAL_METRICS_LISTEN each thread counts what it serves in a
 * block of counters of its own (metrics.h), and a metrics thread answers
 * GET /metrics for the whole server (metrics_server.h); both are set up
 * before the request threads start.
 *
 * Sandboxed. Start-up ends with the seccomp filter (sandbox.c): the threads
 * start, meet the main thread at a barrier once past their own start-up
 * calls, and wait there while the filter is loaded into every one of them,
 * so no request is ever served unconfined.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "config.h"
#include "fcgi_peek.h"
#include "keyring.h"
#include "log.h"
#include "metrics.h"
#include "metrics_server.h"
#include "net.h"
#include "oom.h"
#include "pwhash.h"
#include "request.h"
#include "redis.h"
#include "reqid.h"
#include "sandbox.h"
#include "session.h"
#include "throttle.h"
#include "worker.h"

#define THREAD_MAX_CONNS	64	/* kept-alive connections per thread */
#define DRAIN_QUIET_MS		500	/* on SIGTERM: no request for this long,
					   then close what is still open */
#define DRAIN_CHECK_MS		10	/* a draining thread holding nothing
					   looks again this often */

enum thread_state {
	THREAD_WAITING,		/* in poll(), between requests */
	THREAD_BUSY,		/* handling a request */
	THREAD_DRAINING,	/* stopped accepting; answering what came */
	THREAD_DONE,
};

struct worker_thread {
	pthread_t		 tid;
	struct thread_ctx	 ctx;
	FCGX_Request		 req;
	int			 listen_fd;
	pthread_barrier_t	*start;		/* see worker_run */
	int			 conns[THREAD_MAX_CONNS];	/* kept alive */
	int			 nconns;
	/* What the last poll found ready, served in order from next_ready;
	 * what is not served yet may still be handed over. */
	int			 ready[THREAD_MAX_CONNS];
	int			 nready, next_ready;
	struct metrics_block	*metrics;	/* NULL: no metrics */
	struct redis_share	*own_share;	/* without SHOAL_REDIS_BATCH */
	_Atomic int		 state;
	/* The keyring this thread's request uses; NULL between requests. */
	_Atomic(const struct keyring *) keys_in_use;
};

static atomic_int	stopping;
static atomic_int	told_to_stop;	/* SIGTERM came; maybe still serving */
/* While stopping: when a request was last served or a thread began to
 * drain (see the top). */
static _Atomic int64_t	last_drain_activity_us;
static atomic_int	listener_gone;	/* this process let go of it */

/* Connections handed over between threads (see the top), and on SIGTERM
 * the last ones accepted by the main thread. Both ends are non-blocking. */
static int		handover[2] = { -1, -1 };
static _Thread_local struct worker_thread *self;

int
worker_stopping(void)
{
	return atomic_load(&told_to_stop);
}

static void
sleep_ms(long ms)
{
	struct timespec	 ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0)
		;
}
/* The keyring new requests use; replaced on SIGHUP. */
static _Atomic(const struct keyring *) current_keys;

static void
wakeup_handler(int sig)
{
	(void)sig;	/* only here to interrupt a blocking call */
}

static int64_t
now_us(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* While stopping: something happened that the drain waits quiet after. */
static void
drain_activity(void)
{
	atomic_store(&last_drain_activity_us, now_us());
}

/* While draining: ms left before the process counts as quiet, 0 once it
 * does. */
static int
drain_quiet_left_ms(void)
{
	int64_t	 quiet = now_us() - atomic_load(&last_drain_activity_us);

	if (quiet >= (int64_t)DRAIN_QUIET_MS * 1000)
		return 0;
	return (int)(DRAIN_QUIET_MS - quiet / 1000);
}

static const char *
fcgi_param(void *ctx, const char *name)
{
	return FCGX_GetParam(name, ((FCGX_Request *)ctx)->envp);
}

static void
fcgi_write(void *ctx, const char *data, size_t len)
{
	FCGX_Request	*req = ctx;

	if (FCGX_PutStr(data, (int)len, req->out) != (int)len)
		log_event("info", "client went away before the response "
		    "was written");
}

/*
 * Reads the FastCGI parameters and the body into r's input. A body that is
 * too large, or whose length is not a number, is not read at all (the
 * request path answers 413 or 400 from the length alone); then, and when
 * the body ends early, it returns -1: the connection is closed after the
 * response rather than reused with unread input.
 */
static int
read_input(struct worker_thread *w, struct req_input *in)
{
	FCGX_Request	*req = &w->req;
	struct arena	*a = &w->ctx.arena;
	const char	*uri, *q;
	char		*body;
	long long	 len;
	int		 got;

	memset(in, 0, sizeof *in);
	in->method = fcgi_param(req, "REQUEST_METHOD");
	if (in->method == NULL)
		in->method = "GET";
	/*
	 * The path as the client sent it, from REQUEST_URI: nginx's
	 * DOCUMENT_URI is decoded and normalised, which would decode route
	 * parameters twice ("%2541" to "A") and route "//cart" as "/cart"
	 * behind nginx but not behind lighttpd.
	 */
	if ((uri = fcgi_param(req, "REQUEST_URI")) != NULL) {
		q = strchr(uri, '?');
		in->path = q ? arena_strndup(a, uri, (size_t)(q - uri)) : uri;
	} else
		in->path = fcgi_param(req, "DOCUMENT_URI");
	if (in->path == NULL || in->path[0] == '\0')
		in->path = "/";
	in->query = fcgi_param(req, "QUERY_STRING");
	in->cookie = fcgi_param(req, "HTTP_COOKIE");
	in->content_type = fcgi_param(req, "CONTENT_TYPE");
	in->csrf_header = fcgi_param(req, "HTTP_X_CSRF_TOKEN");
	in->param = fcgi_param;
	in->param_ctx = req;

	in->content_length = fcgi_param(req, "CONTENT_LENGTH");
	len = req_content_length(in->content_length);
	if (len == -1 || len == 0)
		return 0;
	if (len < 0 || len > w->ctx.cfg->max_body)
		return -1;
	body = arena_alloc(a, (size_t)len + 1);
	got = FCGX_GetStr(body, (int)len, req->in);
	if (got < 0)
		got = 0;
	body[got] = '\0';
	in->body = body;
	in->body_len = (size_t)got;
	return got == len ? 0 : -1;
}

static void
serve(struct worker_thread *w)
{
	struct shoal_req	 r;
	struct req_input	 in;
	int64_t			 start = now_us(), start_ns = metrics_clock();
	int			 bad;

	metrics_set(METRIC_THREAD_BUSY, 1);

	/* Publish the keyring we use before using it, and check it is still
	 * the current one: a reload in between must not free it under us. */
	do {
		w->ctx.keys = atomic_load(&current_keys);
		atomic_store(&w->keys_in_use, w->ctx.keys);
	} while (atomic_load(&current_keys) != w->ctx.keys);
	bad = read_input(w, &in);
	req_init(&r, &w->ctx, &in);
	req_handle(&r);
	if (bad != 0)
		w->req.keepConnection = 0;
	req_flush(&r, fcgi_write, &w->req);
	log_request(&(struct log_req){
		.method = in.method,
		.path = in.path,
		.status = r.status,
		.usec = now_us() - start,
		.bytes = r.bytes_out,
		.id = reqid_of(&r),
		.client = throttle_client(&r),
		.thread = w->ctx.id,
	});
	metrics_request(r.metrics_route, in.method, r.status, start_ns);
	metrics_set(METRIC_THREAD_BUSY, 0);
	arena_reset(&w->ctx.arena);
	atomic_store(&w->keys_in_use, NULL);
}

/*
 * The Cookie headers of the requests waiting on this thread's other ready
 * connections, those the last poll found and not served yet, from slot
 * `from` on (thread_ctx),
 * read from a copy of their bytes: libfcgi reads each request when its
 * turn comes. A request not all there yet, or without a cookie, is left
 * out.
 */
static size_t
waiting_requests(struct thread_ctx *ctx, int from, struct ready_request *out,
    size_t max)
{
	struct worker_thread	*w = self;
	unsigned char		 peek[FCGI_PEEK_MAX];
	const unsigned char	*val;
	size_t			 n = 0, vlen;
	ssize_t			 got;
	int			 i;

	for (i = from > w->next_ready ? from : w->next_ready;
	    i < w->nready && n < max; i++) {
		got = recv(w->ready[i], peek, sizeof peek,
		    MSG_PEEK | MSG_DONTWAIT);
		if (got <= 0 || !fcgi_peek_param(peek, (size_t)got,
		    "HTTP_COOKIE", &val, &vlen))
			continue;
		out[n].slot = i;
		out[n].cookie = arena_strndup(&ctx->arena, (const char *)val,
		    vlen);
		n++;
	}
	return n;
}

/*
 * Reads one request from fd (-1: accept a new connection, if one is still
 * waiting) and serves it. A connection the web server keeps alive goes back
 * into the thread's set; close_after makes libfcgi close it instead.
 */
static void
serve_connection(struct worker_thread *w, int fd, int close_after)
{
	w->req.ipcFd = fd;
	/* FCGX_Accept_r first finishes the previous request, closing the
	 * connection unless the last one asked to keep it: say it did. */
	w->req.keepConnection = 1;
	/* < 0: the connection was closed by the web server, or another thread
	 * took the new connection; libfcgi has closed fd either way. */
	if (FCGX_Accept_r(&w->req) < 0) {
		w->req.ipcFd = -1;
		return;
	}
	if (fd == -1)
		metrics_count(METRIC_CONN_ACCEPTED);
	if (atomic_load(&stopping))
		drain_activity();
	if (!close_after)
		atomic_store(&w->state, THREAD_BUSY);
	serve(w);
	if (close_after || w->nconns == THREAD_MAX_CONNS)
		w->req.keepConnection = 0;
	FCGX_Finish_r(&w->req);
	if (w->req.ipcFd >= 0)
		w->conns[w->nconns++] = w->req.ipcFd;
	w->req.ipcFd = -1;
	if (!close_after)
		atomic_store(&w->state, THREAD_WAITING);
}

/*
 * 1 when a connection accepted here (not through libfcgi, which checks for
 * itself) comes from an address FCGI_WEB_SERVER_ADDRS allows: the same
 * rule, whichever path took the connection. Unix sockets have no address
 * to check.
 */
static int
web_server_allowed(const struct sockaddr_storage *sa)
{
	const char	*list = getenv("FCGI_WEB_SERVER_ADDRS");
	char		 text[INET6_ADDRSTRLEN];
	const void	*a;

	if (list == NULL || *list == '\0')
		return 1;
	if (sa->ss_family == AF_INET)
		a = &((const struct sockaddr_in *)sa)->sin_addr;
	else if (sa->ss_family == AF_INET6)
		a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	else
		return 1;
	if (inet_ntop(sa->ss_family, a, text, sizeof text) != NULL &&
	    net_in_list(list, text))
		return 1;
	log_event("warn", "connection from %s refused: not in "
	    "FCGI_WEB_SERVER_ADDRS", text);
	return 0;
}

/*
 * The next connection waiting in the listen queue, from a web server
 * FCGI_WEB_SERVER_ADDRS allows (one it does not is closed and skipped);
 * -1 when the queue is empty.
 */
static int
accept_waiting(int listen_fd)
{
	struct sockaddr_storage	 sa;
	socklen_t		 len;
	int			 fd;

	for (;;) {
		len = sizeof sa;
		fd = accept4(listen_fd, (struct sockaddr *)&sa, &len,
		    SOCK_CLOEXEC);
		if (fd < 0)
			return -1;
		metrics_count(METRIC_CONN_ACCEPTED);
		if (web_server_allowed(&sa))
			return fd;
		close(fd);
	}
}

/*
 * Takes every connection already waiting in the listen queue, so that
 * closing the listening socket resets none that the web server has written
 * a request into.
 */
static void
take_backlog(struct worker_thread *w)
{
	int	 fd;

	while (w->nconns < THREAD_MAX_CONNS &&
	    (fd = accept_waiting(w->listen_fd)) >= 0)
		w->conns[w->nconns++] = fd;
}

/*
 * Gives every connection the thread holds, but the one it is serving, to
 * whichever sibling polls next (pwhash calls it before a hash). A
 * connection the pipe has no room for stays. Not while stopping: the
 * siblings may have finished draining, and no longer poll the pipe.
 */
static void
hand_over_connections(void)
{
	struct worker_thread	*w = self;
	int			 i, k, fd;

	if (w == NULL || handover[1] < 0 || atomic_load(&stopping))
		return;
	for (i = 0, k = 0; i < w->nconns; i++) {
		fd = w->conns[i];
		if (write(handover[1], &fd, sizeof fd) != (ssize_t)sizeof fd)
			w->conns[k++] = fd;
	}
	w->nconns = k;
	for (i = k = w->next_ready; i < w->nready; i++) {
		fd = w->ready[i];
		if (write(handover[1], &fd, sizeof fd) != (ssize_t)sizeof fd)
			w->ready[k++] = fd;
	}
	w->nready = k;
	/* The ready list moved: what was loaded ahead is for other slots. */
	session_prefetch_forget(w->ctx.prefetch);
	metrics_set(METRIC_CONN_KEPT_ALIVE, (uint64_t)w->nconns);
}

/* Takes one handed-over connection (all of them: until the pipe is empty),
 * while the thread has room. Returns how many it took. */
static int
adopt(struct worker_thread *w, int all)
{
	int	 fd, n = 0;

	while (w->nconns < THREAD_MAX_CONNS && handover[0] >= 0 &&
	    read(handover[0], &fd, sizeof fd) == (ssize_t)sizeof fd) {
		w->conns[w->nconns++] = fd;
		n++;
		if (!all)
			break;
	}
	return n;
}

/*
 * One poll over the listening socket (unless draining), the handover pipe
 * and the kept-alive connections; serves what is ready. timeout_ms as for
 * poll(). Returns the number of connections that were ready.
 */
static int
poll_once(struct worker_thread *w, int timeout_ms, int draining)
{
	struct pollfd	 pfd[2 + THREAD_MAX_CONNS];
	int		 n, i, k, nready, first = draining ? 1 : 0;

	pfd[0].fd = w->listen_fd;
	pfd[0].events = POLLIN;
	pfd[1].fd = w->nconns < THREAD_MAX_CONNS ? handover[0] : -1;
	pfd[1].events = POLLIN;
	for (i = 0; i < w->nconns; i++) {
		pfd[2 + i].fd = w->conns[i];
		pfd[2 + i].events = POLLIN;
	}
	n = poll(pfd + first, (nfds_t)(2 + w->nconns - first), 0);
	if (n == 0 && timeout_ms != 0) {
		/* Nothing to do right now: a good moment to write the log. */
		log_flush();
		n = poll(pfd + first, (nfds_t)(2 + w->nconns - first),
		    timeout_ms);
	}
	if (n <= 0)
		return 0;
	/* Take the ready connections out of the set before serving: serving
	 * puts the kept-alive ones back. */
	w->nready = w->next_ready = 0;
	for (i = 0, k = 0; i < w->nconns; i++) {
		if (pfd[2 + i].revents != 0)
			w->ready[w->nready++] = w->conns[i];
		else
			w->conns[k++] = w->conns[i];
	}
	w->nconns = k;
	nready = w->nready;
	if (pfd[1].revents & POLLIN)
		(void)adopt(w, draining);
	/* Sessions loaded ahead were for the ready list before this one. */
	session_prefetch_forget(w->ctx.prefetch);
	while (w->next_ready < w->nready) {
		w->ctx.slot = w->next_ready;
		serve_connection(w, w->ready[w->next_ready++], draining);
	}
	w->nready = w->next_ready = 0;
	session_prefetch_forget(w->ctx.prefetch);
	w->ctx.slot = -1;
	if (!draining && (pfd[0].revents & POLLIN))
		serve_connection(w, -1, 0);
	metrics_set(METRIC_CONN_KEPT_ALIVE, (uint64_t)w->nconns);
	return nready;
}

static void *
thread_main(void *arg)
{
	struct worker_thread	*w = arg;
	sigset_t		 set;
	int			 i, left;

	metrics_self = w->metrics;
	self = w;
	/* Started (the first wait), then held until the sandbox is on. */
	pthread_barrier_wait(w->start);
	pthread_barrier_wait(w->start);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	while (!atomic_load(&stopping))
		(void)poll_once(w, -1, 0);
	/* Draining: what is in the listen queue, and what the web server
	 * sends on a kept-alive connection until the process is quiet, is
	 * answered (and each connection closed after its response). */
	take_backlog(w);
	/* And what a sibling handed over before the stop, or the main thread
	 * took from the listen queue last, whose requests would otherwise go
	 * unanswered. */
	(void)adopt(w, 1);
	drain_activity();
	atomic_store(&w->state, THREAD_DRAINING);
	for (;;) {
		if (w->nconns == 0 && atomic_load(&listener_gone) &&
		    adopt(w, 1) == 0)
			break;
		if ((left = drain_quiet_left_ms()) == 0)
			break;
		if (w->nconns == 0 && left > DRAIN_CHECK_MS)
			left = DRAIN_CHECK_MS;
		(void)poll_once(w, left, 1);
	}
	for (i = 0; i < w->nconns; i++)
		close(w->conns[i]);
	w->nconns = 0;
	metrics_set(METRIC_CONN_KEPT_ALIVE, 0);
	FCGX_Free(&w->req, 1);
	log_thread_done();
	atomic_store(&w->state, THREAD_DONE);
	return NULL;
}

static int
open_listener(const char *listen)
{
	int	 fd, type;
	socklen_t len = sizeof type;

	if (listen == NULL) {
		/* spawn-fcgi hands us the socket as fd 0. */
		if (getsockopt(0, SOL_SOCKET, SO_TYPE, &type, &len) != 0) {
			fprintf(stderr, "shoal: fd 0 is not a socket: start "
			    "with spawn-fcgi or give --listen HOST:PORT\n");
			return -1;
		}
		return 0;
	}
	if ((fd = FCGX_OpenSocket(listen, 1024)) < 0) {
		fprintf(stderr, "shoal: --listen %s: cannot listen there\n",
		    listen);
		return -1;
	}
	return fd;
}

/*
 * SIGHUP: reads the keyring again and publishes it for new requests. The old
 * one is wiped only once no request still uses it, so a reload drops nothing.
 * A keyring that does not load is logged and the old one stays.
 */
static struct keyring *
reload_keys(struct worker_thread *w, long n, struct keyring *old,
    const char *path)
{
	struct keyring	*fresh = xcalloc(1, sizeof *fresh);
	char		 err[512];
	long		 i, busy;

	if (keyring_load(fresh, path, err, sizeof err) != 0) {
		log_event("error", "SIGHUP: keyring not reloaded, keeping the "
		    "old one: %s", err);
		free(fresh);
		return old;
	}
	atomic_store(&current_keys, fresh);
	do {
		busy = 0;
		for (i = 0; i < n; i++)
			if (atomic_load(&w[i].keys_in_use) == old)
				busy++;
		if (busy > 0)
			usleep(1000);
	} while (busy > 0);
	keyring_free(old);
	free(old);
	log_event("info", "SIGHUP: keyring reloaded, %zu keys, signing with "
	    "key %u", fresh->n, keyring_signer(fresh)->id);
	return fresh;
}

/*
 * Closes this process's listening socket (in its place, /dev/null: the
 * threads still hold the number). What came into the listen queue since the
 * threads took it goes to them through the handover pipe first: closing
 * the last copy of the socket resets every connection left in its queue,
 * and the web server may already have written a request into one.
 */
static void
let_go_of_listener(int listen_fd)
{
	int	 fd, devnull;

	while ((fd = accept_waiting(listen_fd)) >= 0)
		if (write(handover[1], &fd, sizeof fd) != (ssize_t)sizeof fd)
			close(fd);
	if ((devnull = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0) {
		dup2(devnull, listen_fd);
		close(devnull);
	}
	atomic_store(&listener_gone, 1);
}

/* Serves SIGHUP until SIGTERM or SIGINT, then drains. */
static void
wait_and_drain(struct worker_thread *w, long n, const struct config *cfg,
    struct keyring **keys, int listen_fd)
{
	sigset_t	 set;
	int		 sig = 0, i, left, waiting, drained, closed = 0;
	int64_t		 deadline;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig == SIGHUP)
			*keys = reload_keys(w, n, *keys, cfg->keyring);
		else
			break;
	}
	atomic_store(&told_to_stop, 1);
	if (cfg->drain_delay_ms > 0) {
		/*
		 * A balancer that learns its servers from a name (Compose's
		 * front, Kubernetes' endpoints) hears of this stop only after
		 * it began: serve as usual meanwhile, so nothing it sends on a
		 * kept-alive connection meets one being closed.
		 */
		log_event("info", "signal %d: serving %ld ms more before "
		    "draining", sig, cfg->drain_delay_ms);
		sleep_ms(cfg->drain_delay_ms);
	}
	log_event("info", "signal %d: finishing requests in flight", sig);
	drain_activity();
	atomic_store(&stopping, 1);
	FCGX_ShutdownPending();
	deadline = now_us() + (int64_t)cfg->drain_seconds * 1000000;
	do {
		left = 0;
		waiting = 0;
		drained = 0;
		for (i = 0; i < n; i++) {
			int	 st = atomic_load(&w[i].state);

			if (st == THREAD_DRAINING || st == THREAD_DONE)
				drained++;
			if (st == THREAD_DONE)
				continue;
			left++;
			if (st == THREAD_WAITING) {
				waiting++;
				pthread_kill(w[i].tid, SIGUSR2);
			}
		}
		/*
		 * Once the idle threads have taken what was in the listen
		 * queue, let go of the listening socket: when every process
		 * sharing it has, the kernel refuses new connections, and the
		 * web server sends them to another server instead of into a
		 * queue nobody reads. (If every thread was busy, the first to
		 * finish takes the queue first.)
		 */
		if (waiting == 0 && drained > 0 && !closed) {
			let_go_of_listener(listen_fd);
			closed = 1;
		}
		if (left > 0)
			usleep(2000);
	} while (left > 0 && now_us() < deadline);
	if (left > 0) {
		log_event("warn", "%d threads still busy after %ld s; exiting",
		    left, cfg->drain_seconds);
		exit(0);
	}
}

static void
warn_unknown(const char *line, void *arg)
{
	(void)arg;
	log_event("warn", "%s", line);
}

int
worker_run(const struct shoal_app *app, const struct config *cfg,
    struct keyring *keys, const char *listen)
{
	struct keyring		*live = keys;	/* ours to free */
	struct metrics_server	*metrics = NULL;
	struct redis_share	*share = NULL;
	struct worker_thread	*w;
	struct sigaction	 sa;
	sigset_t		 set;
	pthread_barrier_t	 start;
	char			 host[64], id[128], err[256];
	int			 fd, sandbox;
	long			 i;

	sandbox = (int)cfg->sandbox;
	if ((fd = open_listener(listen)) < 0 ||
	    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == -1) {
		keyring_free(keys);
		free(keys);
		return 2;
	}
	if (FCGX_Init() != 0) {
		fprintf(stderr, "shoal: cannot initialise libfcgi\n");
		exit(1);
	}
	if (gethostname(host, sizeof host) != 0)
		snprintf(host, sizeof host, "localhost");
	host[sizeof host - 1] = '\0';
	snprintf(id, sizeof id, "%s:%ld", host, (long)getpid());
	log_init(id);
	/* A misspelt setting would otherwise be ignored without a word. */
	(void)config_unknown(environ, warn_unknown, NULL);

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = wakeup_handler;		/* no SA_RESTART */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR2, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	/* Threads inherit this mask: only the main thread takes signals. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	atomic_store(&current_keys, keys);
	/* Before the threads, which take their counter blocks from it; after
	 * the signal mask, which its thread inherits. */
	if (cfg->metrics_listen[0] != '\0' && (metrics = metrics_server_start(
	    cfg, app, (size_t)cfg->threads, err, sizeof err)) == NULL) {
		fprintf(stderr, "shoal: %s\n", err);
		exit(2);
	}
	if ((errno = pthread_barrier_init(&start, NULL,
	    (unsigned)cfg->threads + 1)) != 0) {
		fprintf(stderr, "shoal: cannot set up threads: %s\n",
		    strerror(errno));
		exit(1);
	}
	if (pipe2(handover, O_NONBLOCK | O_CLOEXEC) != 0) {
		fprintf(stderr, "shoal: cannot set up threads: %s\n",
		    strerror(errno));
		exit(1);
	}
	/* With siblings to take them, a thread about to hash hands its
	 * connections over. */
	if (cfg->threads > 1)
		pwhash_on_wait(hand_over_connections);
	/* Hashes on threads of their own, behind the pages in CPU priority. */
	if (pwhash_start((int)cfg->hash_nice, err, sizeof err) != 0) {
		fprintf(stderr, "shoal: %s\n", err);
		exit(1);
	}
	/* Threads that share a connection send their commands together. */
	if (cfg->redis_batch && cfg->ncluster_seeds == 0)
		share = redis_share_new(cfg);
	w = xcalloc((size_t)cfg->threads, sizeof *w);
	for (i = 0; i < cfg->threads; i++) {
		w[i].ctx.id = (unsigned)i;
		w[i].ctx.app = app;
		w[i].ctx.cfg = cfg;
		w[i].ctx.keys = keys;
		atomic_store(&w[i].keys_in_use, NULL);
		w[i].ctx.redis = redis_new(cfg);
		/* Without sharing, a share of its own: its request's load can
		 * still carry those of the requests waiting behind it. */
		if (share == NULL && cfg->ncluster_seeds == 0)
			w[i].own_share = redis_share_new(cfg);
		if (share != NULL || w[i].own_share != NULL)
			redis_share_with(w[i].ctx.redis, share != NULL ? share :
			    w[i].own_share);
		w[i].ctx.slot = -1;
		w[i].ctx.waiting = waiting_requests;
		w[i].ctx.prefetch = session_prefetch_new();
		arena_init(&w[i].ctx.arena);
		buf_init(&w[i].ctx.headers);
		buf_init(&w[i].ctx.body);
		buf_init(&w[i].ctx.scratch);
		buf_init(&w[i].ctx.fixed_headers);
		w[i].listen_fd = fd;
		w[i].start = &start;
		if (metrics != NULL)
			w[i].metrics = metrics_server_block(metrics,
			    (size_t)i);
		if (FCGX_InitRequest(&w[i].req, fd,
		    FCGI_FAIL_ACCEPT_ON_INTR) != 0) {
			fprintf(stderr, "shoal: cannot set up a request\n");
			exit(1);
		}
		atomic_store(&w[i].state, THREAD_WAITING);
		if ((errno = pthread_create(&w[i].tid, NULL, thread_main,
		    &w[i])) != 0) {
			fprintf(stderr, "shoal: cannot start thread: %s\n",
			    strerror(errno));
			exit(1);
		}
	}
	/*
	 * Everything the worker opens or starts at start-up is there: from
	 * here on it may only make the calls the sandbox allows, on every
	 * thread. The filter is loaded once every thread is past its own
	 * start-up calls (waiting at the barrier), and no thread serves
	 * before it is loaded (the second wait).
	 */
	pthread_barrier_wait(&start);
	if (sandbox_enter(sandbox, err, sizeof err) != 0) {
		fprintf(stderr, "shoal: sandbox: %s\n", err);
		exit(1);
	}
	pthread_barrier_wait(&start);
	log_event("info", "ready: %ld threads, redis %s", cfg->threads,
	    cfg->nsentinels > 0 ? "through Sentinel" : cfg->redis);
	wait_and_drain(w, cfg->threads, cfg, &live, fd);
	for (i = 0; i < cfg->threads; i++) {
		pthread_join(w[i].tid, NULL);
		redis_free(w[i].ctx.redis);
		redis_share_free(w[i].own_share);
		session_prefetch_free(w[i].ctx.prefetch);
		arena_free(&w[i].ctx.arena);
		buf_free(&w[i].ctx.headers);
		buf_free(&w[i].ctx.body);
		buf_free(&w[i].ctx.scratch);
		buf_free(&w[i].ctx.fixed_headers);
	}
	redis_share_free(share);
	pwhash_stop();
	pthread_barrier_destroy(&start);
	if (handover[0] >= 0) {
		pwhash_on_wait(NULL);
		close(handover[0]);
		close(handover[1]);
		handover[0] = handover[1] = -1;
	}
	metrics_server_stop(metrics);
	free(w);
	keyring_free(live);
	free(live);
	log_event("info", "stopped");
	return 0;
}
