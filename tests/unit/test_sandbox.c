/*
 * test_sandbox.c - sandbox.h: the worker's seccomp filter. Each case loads
 * the filter in a child process, so that this program itself stays free,
 * and reads how the child ended: a call outside the list must end it with
 * SIGSYS, the calls the worker makes must still work. Only this test
 * program makes the forbidden calls; the worker never does.
 */
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <linux/netlink.h>
#include <linux/seccomp.h>
#include <cmocka.h>
#include <sodium.h>

#include "sandbox.h"
#include "unit.h"

#ifndef AF_PACKET
#define AF_PACKET	17
#endif
#define X32_SYSCALL_BIT	0x40000000

/* Made before the filter, as the worker's keyring file and listening
 * socket are: a file, and a socket listening on a loopback port. */
static char		 scratch[64];
static int		 listener = -1;
static struct sockaddr_in listen_addr;

/* The exit status of a child whose filter did not load. */
#define CHILD_NO_FILTER	100

static int
listen_on_loopback(void)
{
	socklen_t	 len = sizeof listen_addr;

	memset(&listen_addr, 0, sizeof listen_addr);
	listen_addr.sin_family = AF_INET;
	listen_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    bind(listener, (struct sockaddr *)&listen_addr,
	    sizeof listen_addr) != 0 || listen(listener, 8) != 0 ||
	    getsockname(listener, (struct sockaddr *)&listen_addr, &len) != 0)
		return -1;
	return 0;
}

static int
setup(void **state)
{
	int	 fd;

	(void)state;
	snprintf(scratch, sizeof scratch, "/tmp/test_sandbox.XXXXXX");
	if ((fd = mkstemp(scratch)) == -1)
		return -1;
	if (write(fd, "127.0.0.1 x\n", 12) != 12) {
		close(fd);
		return -1;
	}
	if (close(fd) != 0)
		return -1;
	return listen_on_loopback();
}

static int
teardown(void **state)
{
	(void)state;
	if (listener != -1)
		close(listener);
	return unlink(scratch);
}

/*
 * Skips a test where no filter can be loaded: under valgrind, which does
 * not know the seccomp call (make check runs these tests under memcheck),
 * or on a kernel without seccomp.
 */
static void
need_seccomp(void)
{
	uint32_t	 action = SECCOMP_RET_KILL_PROCESS;

	if (syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action) != 0) {
		print_message("seccomp is not available here (%s): skipped\n",
		    strerror(errno));
		skip();
	}
}

/*
 * Ends a child straight away: not through _exit, which the sanitizers
 * intercept with calls of their own that the filter does not allow.
 */
static void __attribute__((noreturn))
child_exit(int status)
{
	for (;;)
		syscall(SYS_exit_group, status);
}

/*
 * Runs fn in a child that first loads the filter, and returns the child's
 * wait status. fn's return value becomes the child's exit status.
 */
static int
in_sandbox(int (*fn)(void))
{
	char	 err[256];
	pid_t	 pid;
	int	 status;

	fflush(NULL);
	if ((pid = fork()) == -1)
		fail_msg("fork: %s", strerror(errno));
	if (pid == 0) {
		if (sandbox_install(err, sizeof err) != 0) {
			fprintf(stderr, "sandbox_install: %s\n", err);
			child_exit(CHILD_NO_FILTER);
		}
		child_exit(fn());
	}
	if (waitpid(pid, &status, 0) != pid)
		fail_msg("waitpid: %s", strerror(errno));
	return status;
}

static void
assert_killed(const char *what, int status)
{
	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS)
		return;
	if (WIFEXITED(status))
		fail_msg("%s: the child exited with %d instead of being "
		    "killed by SIGSYS", what, WEXITSTATUS(status));
	fail_msg("%s: the child was killed by signal %d, not SIGSYS", what,
	    WIFSIGNALED(status) ? WTERMSIG(status) : -1);
}

/* The calls the worker must never make. Each returns 1 if it got through. */
static int
call_execve(void)
{
	char *const	 argv[] = { (char *)"true", NULL };

	execve("/bin/true", argv, environ);
	return 1;
}

static int
call_fork(void)
{
	pid_t	 pid = fork();

	if (pid == 0)
		_exit(0);
	return 1;
}

static void *
idle(void *arg)
{
	return arg;
}

static int
call_thread(void)
{
	pthread_t	 t;

	if (pthread_create(&t, NULL, idle, NULL) == 0)
		pthread_join(t, NULL);
	return 1;
}

static int
call_ptrace(void)
{
	ptrace(PTRACE_TRACEME, 0, NULL, NULL);
	return 1;
}

static int
call_packet_socket(void)
{
	socket(AF_PACKET, SOCK_RAW, 0);
	return 1;
}

static int
call_netlink_other(void)
{
	socket(AF_NETLINK, SOCK_RAW, NETLINK_SOCK_DIAG);
	return 1;
}

static int
call_open_for_writing(void)
{
	open(scratch, O_WRONLY | O_APPEND);
	return 1;
}

static int
call_create(void)
{
	char	 path[80];

	snprintf(path, sizeof path, "%s.new", scratch);
	open(path, O_RDONLY | O_CREAT | O_EXCL, 0600);
	return 1;
}

static int
call_truncate_on_open(void)
{
	open(scratch, O_RDONLY | O_TRUNC);
	return 1;
}

static int
call_signal_other_process(void)
{
	pid_t	 parent = getppid();

	syscall(SYS_tgkill, parent, parent, 0);
	return 1;
}

static int
call_kill(void)
{
	kill(getppid(), 0);
	return 1;
}

static int
call_ioctl_other(void)
{
	int	 on = 1;

	ioctl(STDERR_FILENO, FIONBIO, &on);
	return 1;
}

static int
call_x32_abi(void)
{
	syscall(X32_SYSCALL_BIT | SYS_getpid);
	return 1;
}

static int
call_setuid(void)
{
	if (setuid(getuid()) != 0)
		return 2;
	return 1;
}

static const struct {
	const char	*what;
	int		(*fn)(void);
} forbidden[] = {
	{ "execve", call_execve },
	{ "fork", call_fork },
	{ "pthread_create", call_thread },
	{ "ptrace", call_ptrace },
	{ "socket(AF_PACKET)", call_packet_socket },
	{ "socket(AF_NETLINK, NETLINK_SOCK_DIAG)", call_netlink_other },
	{ "open for writing", call_open_for_writing },
	{ "open with O_CREAT", call_create },
	{ "open with O_TRUNC", call_truncate_on_open },
	{ "tgkill to another process", call_signal_other_process },
	{ "kill", call_kill },
	{ "ioctl(FIONBIO)", call_ioctl_other },
	{ "a call through the x32 ABI", call_x32_abi },
	{ "setuid", call_setuid },
};

static void
calls_outside_the_list_end_the_process(void **state)
{
	size_t	 i;

	(void)state;
	need_seccomp();
	for (i = 0; i < sizeof forbidden / sizeof forbidden[0]; i++)
		assert_killed(forbidden[i].what, in_sandbox(forbidden[i].fn));
	/* Nothing was created on the way. */
	{
		char		 path[80];
		struct stat	 st;

		snprintf(path, sizeof path, "%s.new", scratch);
		assert_int_equal(stat(path, &st), -1);
		assert_int_equal(stat(scratch, &st), 0);
		assert_int_equal(st.st_size, 12);
	}
}

/*
 * What the worker does once it serves, step by step; returns 0, or the
 * number of the step that failed (the child's exit status).
 */
static int
worker_calls(void)
{
	struct addrinfo		 hints, *ai = NULL;
	struct pollfd		 pfd;
	struct timespec		 ts;
	struct timeval		 tv = { 1, 0 };
	socklen_t		 elen = sizeof(int);
	unsigned char		 rnd[32];
	char			 b[64], *p, *q;
	void			*guarded, *m;
	int			 cfd, afd, fd, ufd, e = -1, one = 1;

	/* 1: a connection to the listening socket made before the filter,
	 * the way the worker connects to Redis: non-blocking, then poll,
	 * SO_ERROR, TCP_NODELAY and timeouts. */
	if ((cfd = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP)) == -1 ||
	    fcntl(cfd, F_SETFL, fcntl(cfd, F_GETFL) | O_NONBLOCK) == -1)
		return 1;
	if (connect(cfd, (struct sockaddr *)&listen_addr,
	    sizeof listen_addr) == -1 && errno != EINPROGRESS)
		return 2;
	pfd.fd = cfd;
	pfd.events = POLLOUT;
	if (poll(&pfd, 1, 5000) != 1 ||
	    getsockopt(cfd, SOL_SOCKET, SO_ERROR, &e, &elen) != 0 || e != 0)
		return 3;
	if (fcntl(cfd, F_SETFL, fcntl(cfd, F_GETFL) & ~O_NONBLOCK) == -1 ||
	    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0 ||
	    setsockopt(cfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0)
		return 4;
	/* 5: the other end, as the worker takes a FastCGI connection, and a
	 * round trip: write, peek (an idle Redis connection), read,
	 * shutdown. */
	pfd.fd = listener;
	pfd.events = POLLIN;
	if (poll(&pfd, 1, 5000) != 1 ||
	    (afd = accept4(listener, NULL, NULL, SOCK_CLOEXEC)) == -1)
		return 5;
	if (write(cfd, "ping", 4) != 4 ||
	    recv(afd, b, 1, MSG_PEEK) != 1 || read(afd, b, 4) != 4 ||
	    send(afd, "pong", 4, MSG_NOSIGNAL) != 4 ||
	    recv(cfd, b, 4, 0) != 4 || memcmp(b, "pong", 4) != 0)
		return 6;
	if (shutdown(afd, SHUT_WR) != 0 || read(cfd, b, 1) != 0 ||
	    close(afd) != 0 || close(cfd) != 0)
		return 7;
	/* 8: a name, through /etc/hosts (glibc's files module). */
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_INET;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo("localhost", "6379", &hints, &ai) != 0)
		return 8;
	freeaddrinfo(ai);
	/* 9: a file read only (the keyring on SIGHUP), and /dev/null over a
	 * descriptor (the drain). */
	if ((fd = open(scratch, O_RDONLY | O_CLOEXEC)) == -1)
		return 9;
	if (read(fd, b, sizeof b) != 12 || lseek(fd, 0, SEEK_SET) != 0)
		return 10;
	{
		struct stat	 st;

		if (fstat(fd, &st) != 0)
			return 11;
	}
	if ((afd = open("/dev/null", O_RDONLY | O_CLOEXEC)) == -1 ||
	    dup2(afd, fd) == -1 || close(afd) != 0 || close(fd) != 0)
		return 12;
	/* 13: memory: small, large (mmap), grown (mremap), and libsodium's
	 * guarded allocation with its mlock and mprotect. */
	if ((p = malloc(100)) == NULL)
		return 13;
	if ((q = malloc(1 << 22)) == NULL)
		return 14;
	memset(q, 1, 1 << 22);
	if ((m = realloc(q, 1 << 23)) == NULL)
		return 15;
	free(m);
	free(p);
	if ((guarded = sodium_malloc(4096)) == NULL)
		return 16;
	sodium_free(guarded);
	/* 17: randomness and clocks, the kernel's own too. */
	randombytes_buf(rnd, sizeof rnd);
	if (syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts) != 0 ||
	    clock_gettime(CLOCK_REALTIME, &ts) != 0)
		return 17;
	if (usleep(1000) != 0)
		return 18;
	/* 19: a signal to a thread of ours (pthread_kill at drain). */
	if (pthread_kill(pthread_self(), 0) != 0)
		return 19;
	/* 20: executable memory is refused, and the process lives on. */
	if ((m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE |
	    MAP_ANONYMOUS, -1, 0)) == MAP_FAILED)
		return 20;
	if (mprotect(m, 4096, PROT_READ | PROT_EXEC) != -1 || errno != EPERM)
		return 21;
	if (munmap(m, 4096) != 0)
		return 22;
	if (mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE |
	    MAP_ANONYMOUS, -1, 0) != MAP_FAILED || errno != EPERM)
		return 23;
	/* 24: the process says it is confined. */
	if ((fd = open("/proc/self/status", O_RDONLY)) != -1) {
		char	 status[4096];
		ssize_t	 n = read(fd, status, sizeof status - 1);

		close(fd);
		if (n <= 0)
			return 24;
		status[n] = '\0';
		if (strstr(status, "NoNewPrivs:\t1") == NULL ||
		    strstr(status, "Seccomp:\t2") == NULL)
			return 25;
	}
	/* 26: the log goes out on stderr. */
	if (write(STDERR_FILENO, "", 0) != 0)
		return 26;
	/* 27: a unix socket, as for Redis on a socket path. */
	if ((ufd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1 || close(ufd) != 0)
		return 27;
	/* 28: a scrape (metrics_server.c): the counter files' folder listed,
	 * a file's lock asked for and the file mapped read-only. */
	{
		DIR		*d;
		struct flock	 fl;
		struct stat	 st;

		if ((d = opendir("/tmp")) == NULL || readdir(d) == NULL ||
		    closedir(d) != 0)
			return 28;
		memset(&fl, 0, sizeof fl);
		fl.l_type = F_WRLCK;
		if ((fd = open(scratch, O_RDONLY | O_CLOEXEC)) == -1 ||
		    fcntl(fd, F_GETLK, &fl) != 0 || fstat(fd, &st) != 0 ||
		    (m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED,
		    fd, 0)) == MAP_FAILED || munmap(m, (size_t)st.st_size) != 0 ||
		    close(fd) != 0)
			return 29;
	}
	return 0;
}

static void
the_calls_the_worker_makes_still_work(void **state)
{
	int	 status;

	(void)state;
	need_seccomp();
	status = in_sandbox(worker_calls);
	if (WIFSIGNALED(status))
		fail_msg("the child was killed by signal %d", WTERMSIG(status));
	if (WEXITSTATUS(status) != 0)
		fail_msg("step %d failed under the filter",
		    WEXITSTATUS(status));
}

static int	 go[2];

static void *
forbidden_after_go(void *arg)
{
	char	 c;

	(void)arg;
	if (read(go[0], &c, 1) != 1)
		return NULL;
	call_ptrace();
	return NULL;
}

/* A thread started before the filter is confined too, and a forbidden call
 * on it ends the whole process, not just the thread. */
static int
thread_started_before(void)
{
	pthread_t	 t;
	char		 err[256];

	if (pthread_create(&t, NULL, forbidden_after_go, NULL) != 0)
		return 2;
	if (sandbox_install(err, sizeof err) != 0)
		return CHILD_NO_FILTER;
	if (write(go[1], "x", 1) != 1)
		return 3;
	pthread_join(t, NULL);
	return 1;	/* the thread got through */
}

static void
threads_already_running_are_confined(void **state)
{
	pid_t	 pid;
	int	 status;

	(void)state;
	need_seccomp();
	assert_int_equal(pipe(go), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid != -1);
	if (pid == 0)
		child_exit(thread_started_before());
	assert_int_equal(waitpid(pid, &status, 0), pid);
	close(go[0]);
	close(go[1]);
	assert_killed("ptrace on a thread started before the filter", status);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(calls_outside_the_list_end_the_process),
		cmocka_unit_test(the_calls_the_worker_makes_still_work),
		cmocka_unit_test(threads_already_running_are_confined),
	};

	if (sodium_init() < 0 || unit_clear_env() != 0)
		return 1;
	return cmocka_run_group_tests(tests, setup, teardown);
}
