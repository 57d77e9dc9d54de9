/*
 * test_metrics.c - metrics.h, scoreboard.h and the /metrics request parser:
 * the Prometheus text of known counts, counts of two processes' files
 * summed, a dead process's file skipped and removed, and the parser's
 * limits.
 */
#include <sys/stat.h>
#include <dirent.h>
#include <sys/wait.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "metrics.h"
#include "metrics_server.h"
#include "scoreboard.h"

#define NSLOTS	(METRICS_ROUTE_APP + 2)

static const struct shoal_route routes[] = {
	{ SHOAL_GET, "/cart", NULL },
	{ SHOAL_POST, "/orders/{id:int}", NULL },
	{ 0, NULL, NULL },
};

/* Removes a test's folder and the files in it. */
static void
remove_dir(const char *dir)
{
	DIR		*d = opendir(dir);
	struct dirent	*e;
	char		 path[512];

	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		assert_int_equal(unlink(path), 0);
	}
	closedir(d);
	assert_int_equal(rmdir(dir), 0);
}

static int
contains(const char *text, const char *line)
{
	return strstr(text, line) != NULL;
}

/* A block of our own, counted through metrics_self as a thread would. */
static struct metrics_block *
own_block(void)
{
	struct metrics_block	*b = calloc(1, metrics_block_size(NSLOTS));

	assert_non_null(b);
	metrics_self = b;
	return b;
}

static void
sum_init(struct metrics_sum *s)
{
	memset(s, 0, sizeof *s);
	s->nslots = NSLOTS;
	s->requests = calloc(NSLOTS * METRICS_NMETHODS * METRICS_NSTATUS,
	    sizeof *s->requests);
	assert_non_null(s->requests);
}

static void
render_names_every_series(void **state)
{
	struct metrics_block	*b = own_block();
	struct metrics_sum	 s;
	struct buf		 out;
	const char		**names;
	size_t			 n;
	int64_t			 now = metrics_clock();

	(void)state;
	names = metrics_route_names(routes, &n);
	assert_int_equal(n, NSLOTS);
	metrics_request(METRICS_ROUTE_APP + 1, "POST", 303, now);
	metrics_request(METRICS_ROUTE_APP + 1, "POST", 303, now);
	metrics_request(METRICS_ROUTE_APP, "HEAD", 599, now);
	metrics_request(METRICS_ROUTE_UNMATCHED, "PUT", 405, now);
	/* 3 s ago: lands in the 5 s bucket. */
	metrics_request(METRICS_ROUTE_HEALTHZ, "GET", 200,
	    now - 3000000000LL);
	metrics_count(METRIC_REDIS_ERRORS);
	metrics_add(METRIC_SESSIONS_ENDED, 3);
	metrics_sign_in(SHOAL_THROTTLED);
	metrics_sign_in(SHOAL_UNAVAILABLE);	/* not a sign-in outcome */
	metrics_set(METRIC_THREAD_BUSY, 1);
	sum_init(&s);
	metrics_sum_add(&s, b);
	s.threads = 4;
	s.processes = 2;
	buf_init(&out);
	metrics_render(&out, &s, names, "1.2\"3");
	buf_cstr(&out);
	assert_true(contains(out.data, "shoal_requests_total{route=\""
	    "/orders/{id:int}\",method=\"POST\",code=\"303\"} 2\n"));
	assert_true(contains(out.data, "shoal_requests_total{route=\"/cart\","
	    "method=\"HEAD\",code=\"other\"} 1\n"));
	assert_true(contains(out.data, "shoal_requests_total{route="
	    "\"unmatched\",method=\"other\",code=\"405\"} 1\n"));
	assert_true(contains(out.data, "{route=\"/healthz\",method=\"GET\","
	    "code=\"200\"} 1\n"));
	/* Only what was seen: no zero series of requests. */
	assert_false(contains(out.data, "} 0\nshoal_requests_total"));
	assert_true(contains(out.data,
	    "shoal_request_duration_seconds_bucket{le=\"2.5\"} 4\n"));
	assert_true(contains(out.data,
	    "shoal_request_duration_seconds_bucket{le=\"5\"} 5\n"));
	assert_true(contains(out.data,
	    "shoal_request_duration_seconds_bucket{le=\"+Inf\"} 5\n"));
	assert_true(contains(out.data, "shoal_request_duration_seconds_count "
	    "5\n"));
	assert_true(contains(out.data, "shoal_thread_busy_seconds_total 3."));
	assert_true(contains(out.data, "shoal_threads 4\n"));
	assert_true(contains(out.data, "shoal_threads_busy 1\n"));
	assert_true(contains(out.data, "shoal_processes 2\n"));
	assert_true(contains(out.data, "shoal_redis_errors_total 1\n"));
	assert_true(contains(out.data, "shoal_sessions_ended_total 3\n"));
	assert_true(contains(out.data,
	    "shoal_sign_ins_total{result=\"throttled\"} 1\n"));
	assert_true(contains(out.data,
	    "shoal_sign_ins_total{result=\"failed\"} 0\n"));
	assert_true(contains(out.data,
	    "shoal_db_queries_total{target=\"replica\"} 0\n"));
	assert_true(contains(out.data, "# TYPE shoal_request_duration_seconds "
	    "histogram\n"));
	/* Label values are escaped. */
	assert_true(contains(out.data,
	    "shoal_build_info{version=\"1.2\\\"3\"} 1\n"));
	buf_free(&out);
	free(s.requests);
	free(names);
	metrics_self = NULL;
	free(b);
}

static void
hooks_without_a_block_do_nothing(void **state)
{
	(void)state;
	metrics_self = NULL;
	metrics_count(METRIC_CACHE_HITS);
	metrics_request(0, "GET", 200, metrics_clock());
	metrics_redis(-1, metrics_clock());
	metrics_db(1, 0, metrics_clock());
}

/*
 * A child process with a scoreboard of two threads in dir, bumping
 * counters by k; it holds its file until a byte comes on release (or, with
 * die, exits at once, leaving a dead file).
 */
static pid_t
child(const char *dir, int k, int die, int *release)
{
	int	 ready[2], go[2];
	pid_t	 pid;
	char	 c;

	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(go), 0);
	if ((pid = fork()) == 0) {
		struct scoreboard	 sb;
		char			 err[256];

		close(ready[0]);
		close(go[1]);
		if (scoreboard_open(&sb, dir, 2, NSLOTS, err, sizeof err) != 0)
			_exit(1);
		metrics_self = scoreboard_block(&sb, 0);
		metrics_add(METRIC_CACHE_HITS, (uint64_t)k);
		metrics_request(METRICS_ROUTE_APP, "GET", 200, metrics_clock());
		metrics_self = scoreboard_block(&sb, 1);
		metrics_add(METRIC_CACHE_HITS, (uint64_t)(10 * k));
		if (write(ready[1], "r", 1) != 1)
			_exit(1);
		if (!die && read(go[0], &c, 1) != 1)
			_exit(1);
		_exit(0);
	}
	close(ready[1]);
	close(go[0]);
	assert_int_equal(read(ready[0], &c, 1), 1);
	close(ready[0]);
	*release = go[1];
	return pid;
}

static void
reap(pid_t pid, int release)
{
	int	 status;

	if (release >= 0) {
		assert_int_equal(write(release, "x", 1), 1);
		close(release);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void
files_of_live_processes_are_summed(void **state)
{
	char			 dir[] = "/tmp/shoal-test-metrics-XXXXXX";
	struct metrics_sum	 s;
	int			 r1, r2;
	pid_t			 p1, p2;
	size_t			 get200;

	(void)state;
	assert_non_null(mkdtemp(dir));
	p1 = child(dir, 1, 0, &r1);
	p2 = child(dir, 2, 0, &r2);
	sum_init(&s);
	assert_int_equal(scoreboard_collect(dir, NULL, &s), 2);
	assert_int_equal(s.processes, 2);
	assert_int_equal(s.threads, 4);
	assert_int_equal(s.c[METRIC_CACHE_HITS], 1 + 10 + 2 + 20);
	get200 = (METRICS_ROUTE_APP * METRICS_NMETHODS + 0) * METRICS_NSTATUS;
	assert_int_equal(s.requests[get200], 2);
	reap(p1, r1);
	reap(p2, r2);
	/* Both gone: nothing is summed, whatever their files say. */
	free(s.requests);
	sum_init(&s);
	assert_int_equal(scoreboard_collect(dir, NULL, &s), 0);
	assert_int_equal(s.c[METRIC_CACHE_HITS], 0);
	free(s.requests);
	remove_dir(dir);
}

static void
dead_process_file_is_skipped_then_removed(void **state)
{
	char			 dir[] = "/tmp/shoal-test-metrics-XXXXXX";
	char			 path[128];
	struct metrics_sum	 s;
	struct stat		 st;
	int			 r1, r2;
	pid_t			 dead, live;

	(void)state;
	assert_non_null(mkdtemp(dir));
	dead = child(dir, 5, 1, &r1);
	reap(dead, -1);
	close(r1);
	snprintf(path, sizeof path, "%s/%ld.sb", dir, (long)dead);
	assert_int_equal(stat(path, &st), 0);	/* left behind */
	live = child(dir, 1, 0, &r2);
	/* The new process removed the dead one's file at its start. */
	assert_int_equal(stat(path, &st), -1);
	sum_init(&s);
	assert_int_equal(scoreboard_collect(dir, NULL, &s), 1);
	assert_int_equal(s.c[METRIC_CACHE_HITS], 11);
	reap(live, r2);
	free(s.requests);
	remove_dir(dir);
}

static void
own_file_is_read_through_its_mapping(void **state)
{
	char			 dir[] = "/tmp/shoal-test-metrics-XXXXXX";
	char			 err[256];
	struct scoreboard	 sb;
	struct metrics_sum	 s;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(scoreboard_open(&sb, dir, 3, NSLOTS, err,
	    sizeof err), 0);
	metrics_self = scoreboard_block(&sb, 2);
	metrics_count(METRIC_DB_REPLICA);
	metrics_self = NULL;
	sum_init(&s);
	/* Our own lock does not show to F_GETLK: the file is summed once,
	 * through the mapping. */
	assert_int_equal(scoreboard_collect(dir, &sb, &s), 1);
	assert_int_equal(s.threads, 3);
	assert_int_equal(s.c[METRIC_DB_REPLICA], 1);
	/* A scoreboard of another route table is not summed. */
	free(s.requests);
	memset(&s, 0, sizeof s);
	s.nslots = NSLOTS + 1;
	s.requests = calloc(s.nslots * METRICS_NMETHODS * METRICS_NSTATUS,
	    sizeof *s.requests);
	assert_int_equal(scoreboard_collect(dir, &sb, &s), 0);
	free(s.requests);
	scoreboard_close(&sb);
	remove_dir(dir);
}

static void
unusable_folder_is_one_line(void **state)
{
	struct scoreboard	 sb;
	char			 err[256];

	(void)state;
	assert_int_equal(scoreboard_open(&sb, "/proc/no/such/place", 1, NSLOTS,
	    err, sizeof err), -1);
	assert_non_null(strstr(err, "SHOAL_METRICS_DIR: "));
	assert_null(strchr(err, '\n'));
}

static enum metrics_http
parse(const char *s)
{
	return metrics_http_parse(s, strlen(s));
}

static void
parser_answers_and_limits(void **state)
{
	char	*big;

	(void)state;
	assert_int_equal(parse("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
	    METRICS_HTTP_OK);
	assert_int_equal(parse("GET /metrics HTTP/1.0\r\n\r\n"),
	    METRICS_HTTP_OK);
	assert_int_equal(parse("GET /metrics?x=1 HTTP/1.1\n\n"),
	    METRICS_HTTP_OK);
	/* Not yet a whole head: read on. */
	assert_int_equal(parse("GET /metrics HTTP/1.1\r\nHost: x\r\n"),
	    METRICS_HTTP_INCOMPLETE);
	assert_int_equal(parse("GE"), METRICS_HTTP_INCOMPLETE);
	assert_int_equal(parse("GET / HTTP/1.1\r\n\r\n"),
	    METRICS_HTTP_NOT_FOUND);
	assert_int_equal(parse("GET /metricsx HTTP/1.1\r\n\r\n"),
	    METRICS_HTTP_NOT_FOUND);
	assert_int_equal(parse("POST /metrics HTTP/1.1\r\n\r\n"),
	    METRICS_HTTP_BAD_METHOD);
	assert_int_equal(parse("HEAD /metrics HTTP/1.1\r\n\r\n"),
	    METRICS_HTTP_BAD_METHOD);
	assert_int_equal(parse("GET /metrics HTTP/2.0\r\n\r\n"),
	    METRICS_HTTP_BAD_REQUEST);
	assert_int_equal(parse("GET /metrics\r\n\r\n"),
	    METRICS_HTTP_BAD_REQUEST);
	assert_int_equal(parse("GET  /metrics HTTP/1.1\r\n\r\n"),
	    METRICS_HTTP_BAD_REQUEST);
	assert_int_equal(parse("GET metrics HTTP/1.1\r\n\r\n"),
	    METRICS_HTTP_BAD_REQUEST);
	assert_int_equal(parse("GET /metrics HTTP/1.1\r\nno colon\r\n\r\n"),
	    METRICS_HTTP_BAD_REQUEST);
	/* Garbage is refused at once, before a head could end. */
	assert_int_equal(parse("\x16\x03\x01\x02"), METRICS_HTTP_BAD_REQUEST);
	assert_int_equal(parse("G(T"), METRICS_HTTP_BAD_REQUEST);
	assert_int_equal(metrics_http_parse("GET /\0metrics", 13),
	    METRICS_HTTP_BAD_REQUEST);
	/* The head limit: a full buffer without an end is too large. */
	big = malloc(METRICS_HEAD_MAX + 1);
	assert_non_null(big);
	memset(big, 'a', METRICS_HEAD_MAX);
	memcpy(big, "GET /metrics HTTP/1.1\r\nX: ", 26);
	assert_int_equal(metrics_http_parse(big, METRICS_HEAD_MAX),
	    METRICS_HTTP_TOO_LARGE);
	assert_int_equal(metrics_http_parse(big, METRICS_HEAD_MAX - 1),
	    METRICS_HTTP_INCOMPLETE);
	memcpy(big + METRICS_HEAD_MAX - 4, "\r\n\r\n", 4);
	assert_int_equal(metrics_http_parse(big, METRICS_HEAD_MAX),
	    METRICS_HTTP_OK);
	free(big);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(render_names_every_series),
		cmocka_unit_test(hooks_without_a_block_do_nothing),
		cmocka_unit_test(files_of_live_processes_are_summed),
		cmocka_unit_test(dead_process_file_is_skipped_then_removed),
		cmocka_unit_test(own_file_is_read_through_its_mapping),
		cmocka_unit_test(unusable_folder_is_one_line),
		cmocka_unit_test(parser_answers_and_limits),
	};

	return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
