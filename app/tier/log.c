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
/* Each thread builds its lines in its own buffer, kept between lines. */
static _Thread_local struct buf line;

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

static void
put_time(struct buf *b)
{
	struct timespec	 ts;
	struct tm	 tm;
	char		 s[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(s, sizeof s, "%Y-%m-%dT%H:%M:%S", &tm);
	buf_printf(b, "{\"ts\":\"%s.%03ldZ\"", s, ts.tv_nsec / 1000000);
}

/* One write(2) per line; a short write to a pipe of this size cannot happen
 * (PIPE_BUF is 4096), and a file opened O_APPEND takes it whole. */
static void
emit(struct buf *b)
{
	buf_putc(b, '\n');
	(void)write(STDERR_FILENO, b->data, b->len);
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
	emit(b);
}

void
log_request(const char *method, const char *path, int status, int64_t usec,
    unsigned thread)
{
	struct buf	*b = &line;
	size_t		 plen = strlen(path);

	if (plen > 512)		/* the path is from outside: cap it */
		plen = 512;
	buf_reset(b);
	put_time(b);
	buf_puts(b, ",\"method\":");
	json_string(b, method, strnlen(method, 16));
	buf_puts(b, ",\"path\":");
	json_string(b, path, plen);
	buf_printf(b, ",\"status\":%d,\"us\":%lld,\"worker\":", status,
	    (long long)usec);
	json_string(b, worker_id, strlen(worker_id));
	buf_printf(b, ",\"thread\":%u}", thread);
	emit(b);
}

void
log_thread_done(void)
{
	buf_free(&line);
}
