/*
 * log.h - log lines on stderr, one JSON object per line, written with a
 * single write(2) so lines from many threads and processes never interleave.
 * Nothing secret is ever passed here: no cookie, token, password or key.
 */
#ifndef LOG_H
#define LOG_H

#include <stdint.h>

/* Sets the worker id every line carries ("host:pid"). */
void	log_init(const char *worker_id);
const char *log_worker_id(void);
/* level is "info", "warn" or "error"; msg is free text. */
void	log_event(const char *level, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* Frees the calling thread's line buffer; call before a thread ends. */
void	log_thread_done(void);
void	log_request(const char *method, const char *path, int status,
	    int64_t usec, unsigned thread);

#endif
