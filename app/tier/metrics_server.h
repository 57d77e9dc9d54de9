/*
 * metrics_server.h - GET /metrics on SHOAL_METRICS_LISTEN: one thread per
 * process, on a listening socket of its own bound with SO_REUSEPORT, so
 * every process of a worker server shares the address and whichever the
 * kernel hands a scrape answers for the whole server (scoreboard.h).
 *
 * It serves one connection at a time, Connection: close: a request head of
 * at most METRICS_HEAD_MAX bytes, read within METRICS_READ_TIMEOUT_MS
 * (a slower client is dropped); GET /metrics answers 200, another path 404,
 * another method 405, anything that is not HTTP/1.0 or 1.1 400, a longer
 * head 431. It is not a FastCGI request and counts in no request metric.
 */
#ifndef METRICS_SERVER_H
#define METRICS_SERVER_H

#include <stddef.h>
#include <stdio.h>

#define METRICS_HEAD_MAX		4096
#define METRICS_READ_TIMEOUT_MS		2000

struct config;
struct metrics_block;
struct metrics_server;
struct shoal_app;

enum metrics_http {
	METRICS_HTTP_INCOMPLETE,	/* no end of head yet: read on */
	METRICS_HTTP_OK,		/* GET /metrics */
	METRICS_HTTP_NOT_FOUND,
	METRICS_HTTP_BAD_METHOD,
	METRICS_HTTP_BAD_REQUEST,
	METRICS_HTTP_TOO_LARGE,
};

/* What the len bytes read so far ask for. */
enum metrics_http metrics_http_parse(const char *buf, size_t len);

/*
 * Opens this process's scoreboard for nthreads serving threads, binds the
 * listener and starts the thread: at start-up, before the sandbox, with
 * SIGUSR2 blocked (the thread unblocks it). NULL with one line in err on
 * failure.
 */
struct metrics_server *metrics_server_start(const struct config *,
	    const struct shoal_app *, size_t nthreads, char *err, size_t errsz);
/* Serving thread i's counters. */
struct metrics_block *metrics_server_block(struct metrics_server *, size_t i);
/* Stops the thread, closes the listener and the scoreboard; frees. */
void	metrics_server_stop(struct metrics_server *);
/*
 * `shoal metrics`: what GET /metrics answers for the worker server whose
 * processes count into dir, printed to out, read from outside them (a
 * container's exec, where the metrics port is on a network the caller
 * does not reach). 0, or -1 with one line in err.
 */
int	metrics_print(const char *dir, const struct shoal_app *,
	    FILE *out, char *err, size_t errsz);

#endif
