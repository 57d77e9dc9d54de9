/*
 * scoreboard.c - per-process counter files, summed at scrape (see
 * scoreboard.h).
 */
#include <sys/mman.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "metrics.h"
#include "scoreboard.h"

#define SCOREBOARD_MAGIC	"shoalsb1"
#define SCOREBOARD_HEAD		64
#define SCOREBOARD_MAX_FILES	1024	/* summed at one scrape */

struct scoreboard_head {
	char		 magic[8];
	uint32_t	 nthreads;
	uint32_t	 nslots;
	uint32_t	 stride;
	uint32_t	 unused;
	uint64_t	 pid;
};

_Static_assert(sizeof(struct scoreboard_head) <= SCOREBOARD_HEAD,
    "the header fits before the first block");

/* "123.sb": the pid in *pid. Anything else is not a scoreboard file. */
static int
file_pid(const char *name, long *pid)
{
	char	*end;
	long	 v;

	if (name[0] < '1' || name[0] > '9')
		return -1;
	errno = 0;
	v = strtol(name, &end, 10);
	if (errno != 0 || strcmp(end, ".sb") != 0)
		return -1;
	*pid = v;
	return 0;
}

/* 1 when some process holds a lock on fd's file. */
static int
locked(int fd)
{
	struct flock	 fl;

	memset(&fl, 0, sizeof fl);
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	if (fcntl(fd, F_GETLK, &fl) != 0)
		return 1;	/* cannot tell: do not call it dead */
	return fl.l_type != F_UNLCK;
}

static void
sweep(const char *dir)
{
	DIR		*d;
	struct dirent	*e;
	char		 path[PATH_MAX];
	long		 pid;
	int		 fd;

	if ((d = opendir(dir)) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (file_pid(e->d_name, &pid) != 0 ||
		    snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >=
		    (int)sizeof path)
			continue;
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
			continue;
		if (!locked(fd))
			(void)unlink(path);
		close(fd);
	}
	closedir(d);
}

int
scoreboard_open(struct scoreboard *sb, const char *dir, size_t nthreads,
    size_t nslots, char *err, size_t errsz)
{
	struct scoreboard_head	*h;
	struct flock		 fl;
	char			 tmp[PATH_MAX], path[PATH_MAX];

	memset(sb, 0, sizeof *sb);
	sb->fd = -1;
	sb->pid = (long)getpid();
	sb->nthreads = nthreads;
	sb->nslots = nslots;
	sb->stride = metrics_block_size(nslots);
	sb->size = SCOREBOARD_HEAD + nthreads * sb->stride;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errsz, "SHOAL_METRICS_DIR: %s: %s", dir,
		    strerror(errno));
		return -1;
	}
	sweep(dir);
	if (snprintf(tmp, sizeof tmp, "%s/.%ld.tmp", dir, sb->pid) >=
	    (int)sizeof tmp || snprintf(path, sizeof path, "%s/%ld.sb", dir,
	    sb->pid) >= (int)sizeof path) {
		snprintf(err, errsz, "SHOAL_METRICS_DIR: path too long");
		return -1;
	}
	if ((sb->fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) < 0) {
		snprintf(err, errsz, "SHOAL_METRICS_DIR: %s: %s", tmp,
		    strerror(errno));
		return -1;
	}
	memset(&fl, 0, sizeof fl);
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	if (ftruncate(sb->fd, (off_t)sb->size) != 0 ||
	    fcntl(sb->fd, F_SETLK, &fl) != 0 ||
	    (sb->map = mmap(NULL, sb->size, PROT_READ | PROT_WRITE, MAP_SHARED,
	    sb->fd, 0)) == MAP_FAILED) {
		snprintf(err, errsz, "SHOAL_METRICS_DIR: %s: %s", tmp,
		    strerror(errno));
		sb->map = NULL;
		goto fail;
	}
	h = sb->map;
	h->nthreads = (uint32_t)nthreads;
	h->nslots = (uint32_t)nslots;
	h->stride = (uint32_t)sb->stride;
	h->pid = (uint64_t)sb->pid;
	memcpy(h->magic, SCOREBOARD_MAGIC, sizeof h->magic);
	if (rename(tmp, path) != 0) {
		snprintf(err, errsz, "SHOAL_METRICS_DIR: %s: %s", path,
		    strerror(errno));
		goto fail;
	}
	return 0;
fail:
	(void)unlink(tmp);
	scoreboard_close(sb);
	return -1;
}

struct metrics_block *
scoreboard_block(const struct scoreboard *sb, size_t i)
{
	return (struct metrics_block *)((char *)sb->map + SCOREBOARD_HEAD +
	    i * sb->stride);
}

/* Adds a mapped file's blocks when its layout is the one summed. */
static int
add_file(struct metrics_sum *sum, const void *map, size_t size)
{
	const struct scoreboard_head	*h = map;
	size_t				 i, stride;

	if (size < SCOREBOARD_HEAD ||
	    memcmp(h->magic, SCOREBOARD_MAGIC, sizeof h->magic) != 0 ||
	    h->nslots != sum->nslots ||
	    (stride = h->stride) != metrics_block_size(sum->nslots) ||
	    h->nthreads == 0 ||
	    (size - SCOREBOARD_HEAD) / stride < h->nthreads)
		return -1;
	for (i = 0; i < h->nthreads; i++)
		metrics_sum_add(sum, (const struct metrics_block *)
		    ((const char *)map + SCOREBOARD_HEAD + i * stride));
	sum->threads += h->nthreads;
	sum->processes++;
	return 0;
}

/* Another process's file: summed when its owner lives. */
static void
add_other(struct metrics_sum *sum, const char *path)
{
	struct stat	 st;
	void		*map;
	int		 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return;
	if (!locked(fd) || fstat(fd, &st) != 0 || st.st_size <= 0 ||
	    (map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd,
	    0)) == MAP_FAILED) {
		close(fd);
		return;
	}
	(void)add_file(sum, map, (size_t)st.st_size);
	munmap(map, (size_t)st.st_size);
	close(fd);
}

int
scoreboard_collect(const char *dir, const struct scoreboard *own,
    struct metrics_sum *sum)
{
	DIR		*d;
	struct dirent	*e;
	char		 path[PATH_MAX];
	long		 pid;
	int		 files = 0;

	if ((d = opendir(dir)) == NULL)
		return -1;
	if (own != NULL && own->map != NULL)
		(void)add_file(sum, own->map, own->size);
	while ((e = readdir(d)) != NULL && files < SCOREBOARD_MAX_FILES) {
		if (file_pid(e->d_name, &pid) != 0 ||
		    (own != NULL && pid == own->pid) ||
		    snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >=
		    (int)sizeof path)
			continue;
		add_other(sum, path);
		files++;
	}
	closedir(d);
	return (int)sum->processes;
}

void
scoreboard_close(struct scoreboard *sb)
{
	if (sb->map != NULL)
		munmap(sb->map, sb->size);
	if (sb->fd >= 0)
		close(sb->fd);
	sb->map = NULL;
	sb->fd = -1;
}
