/*
 * log.c - JSON log lines on stderr (see log.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "html.h"
#include "log.h"

#define LOG_LINE_MAX	2048

static char	worker_id[128] = "shoal";
/* Each thread builds a line in its own buffer, and keeps request lines in
 * another until it has no more work or a write's worth (see log.h). */
static _Thread_local struct buf line;
static _Thread_local struct buf pending;

#define LOG_BATCH	4096	/* PIPE_BUF: a write this size is never split */

void
log_init(const char *id)
{
	snprintf(worker_id, sizeof worker_id, "%s", id);
}

const char *
log_worker_id(void)
{
	return worker_id;
}

/* The time to the millisecond; the date part is formatted once a second. */
static void
put_time(struct buf *b)
{
	static _Thread_local time_t	 sec = -1;
	static _Thread_local char	 text[32];
	struct timespec			 ts;
	struct tm			 tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (ts.tv_sec != sec) {
		gmtime_r(&ts.tv_sec, &tm);
		strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &tm);
		sec = ts.tv_sec;
	}
	buf_puts(b, "{\"ts\":\"");
	buf_puts(b, text);
	buf_putc(b, '.');
	buf_put_uint(b, (unsigned long long)(ts.tv_nsec / 1000000), 3);
	buf_puts(b, "Z\"");
}

static void
write_all(const char *p, size_t n)
{
	ssize_t	 w;

	while (n > 0 && (w = write(STDERR_FILENO, p, n)) > 0) {
		p += w;
		n -= (size_t)w;
	}
}

void
log_flush(void)
{
	write_all(pending.data, pending.len);
	buf_reset(&pending);
}

/*
 * Whole lines only, at most LOG_BATCH bytes per write(2), so lines of many
 * threads and processes never interleave (a pipe writes up to PIPE_BUF at
 * once; a file opened O_APPEND takes each write whole).
 */
static void
emit(struct buf *b, int now)
{
	buf_putc(b, '\n');
	if (pending.len + b->len > LOG_BATCH)
		log_flush();
	if (b->len > LOG_BATCH)
		write_all(b->data, b->len);
	else
		buf_put(&pending, b->data, b->len);
	if (now)
		log_flush();
}

void
log_event(const char *level, const char *fmt, ...)
{
	struct buf	*b = &line;
	char		 msg[LOG_LINE_MAX];
	va_list		 ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	buf_reset(b);
	put_time(b);
	buf_printf(b, ",\"level\":\"%s\",\"worker\":", level);
	json_string(b, worker_id, strlen(worker_id));
	buf_puts(b, ",\"msg\":");
	json_string(b, msg, strlen(msg));
	buf_putc(b, '}');
	emit(b, 1);
}

void
log_request(const struct log_req *q)
{
	struct buf	*b = &line;
	size_t		 plen = strlen(q->path);

	if (plen > 512)		/* the path is from outside: cap it */
		plen = 512;
	buf_reset(b);
	put_time(b);
	buf_puts(b, ",\"method\":");
	json_string(b, q->method, strnlen(q->method, 16));
	buf_puts(b, ",\"path\":");
	json_string(b, q->path, plen);
	buf_puts(b, ",\"status\":");
	buf_put_uint(b, (unsigned)q->status, 1);
	buf_puts(b, ",\"us\":");
	buf_put_uint(b, q->usec > 0 ? (unsigned long long)q->usec : 0, 1);
	buf_puts(b, ",\"bytes\":");
	buf_put_uint(b, q->bytes, 1);
	/* Both were checked or made here: reqid.h, net.h (or "unknown"). */
	buf_puts(b, ",\"id\":");
	json_string(b, q->id, strnlen(q->id, 64));
	buf_puts(b, ",\"client\":");
	json_string(b, q->client, strnlen(q->client, 64));
	buf_puts(b, ",\"worker\":");
	json_string(b, worker_id, strlen(worker_id));
	buf_puts(b, ",\"thread\":");
	buf_put_uint(b, q->thread, 1);
	buf_puts(b, "}");
	emit(b, 0);
}

void
log_thread_done(void)
{
	log_flush();
	buf_free(&line);
	buf_free(&pending);
}
