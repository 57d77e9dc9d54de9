/*
 * log.h - log lines on stderr, one JSON object per line, written whole so
 * lines from many threads and processes never interleave. Nothing secret is
 * ever passed here: no cookie, token, password or key.
 *
 * Event lines are written at once. Request lines are kept by their thread
 * and written together, up to 4 KiB at a time, when it has no work left
 * (log_flush) or the batch is full: under load that is one write(2) per
 * dozen requests instead of one each. A process killed with SIGKILL loses
 * the lines of the requests it answered last.
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
/* Writes the calling thread's pending request lines. */
void	log_flush(void);
/* Flushes and frees the calling thread's buffers; call before it ends. */
void	log_thread_done(void);
/* One answered request, as its log line shows it. */
struct log_req {
	const char	*method;
	const char	*path;
	int		 status;
	int64_t		 usec;		/* from reading it to the last byte */
	size_t		 bytes;		/* sent: headers and body */
	const char	*id;		/* the request id (reqid.h) */
	const char	*client;	/* the client's address */
	unsigned	 thread;
};

void	log_request(const struct log_req *);

#endif
