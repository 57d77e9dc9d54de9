/*
 * worker.h - the FastCGI responder: a pool of threads on one listening
 * socket, each with its own FCGX_Request, Redis connection and request
 * memory. SIGTERM stops accepting and lets requests in flight finish.
 */
#ifndef WORKER_H
#define WORKER_H

struct config;
struct keyring;
struct shoal_app;

/* listen: NULL to use fd 0 (spawn-fcgi), else "HOST:PORT" or a socket path.
 * keys is heap-allocated and becomes the worker's: SIGHUP replaces it, and
 * the worker frees it. Returns the process exit status. */
/* 1 once SIGTERM came: /readyz says so while SHOAL_DRAIN_DELAY_MS runs. */
int	worker_stopping(void);
int	worker_run(const struct shoal_app *, const struct config *,
	    struct keyring *, const char *listen);

#endif
