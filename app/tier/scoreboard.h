/*
 * scoreboard.h - a worker server's counters in shared memory: one file per
 * process under SHOAL_METRICS_DIR, holding a header and one counter block
 * (metrics.h) per serving thread, mapped shared so that whichever process
 * of the server takes a scrape can read every other's.
 *
 * Live or dead. The owner holds a write lock (fcntl F_SETLK) on its file
 * for its whole life; the kernel drops it when the process ends, however
 * it ends. A scraper asks F_GETLK: a file nobody locks is a dead process's,
 * and is skipped (its counts leave the sums: a counter reset). Files of
 * dead processes are removed when a process starts (it cannot later: the
 * sandbox allows no unlink). A new file is made under a temporary name,
 * locked, and only then renamed into place, so that no starting sibling
 * ever sees it unlocked and removes it.
 */
#ifndef SCOREBOARD_H
#define SCOREBOARD_H

#include <stddef.h>

struct metrics_block;
struct metrics_sum;

struct scoreboard {
	int		 fd;		/* locked for the process's life */
	void		*map;
	size_t		 size;
	size_t		 nthreads;
	size_t		 nslots;
	size_t		 stride;	/* bytes of one thread's block */
	long		 pid;
};

/*
 * Removes dead processes' files from dir (creating dir if missing), then
 * makes this process's file for nthreads blocks of nslots route slots.
 * 0, or -1 with one line in err.
 */
int	scoreboard_open(struct scoreboard *, const char *dir, size_t nthreads,
	    size_t nslots, char *err, size_t errsz)
	    __attribute__((warn_unused_result));
/* Thread i's block, zeroed at open. */
struct metrics_block *scoreboard_block(const struct scoreboard *, size_t i);
/*
 * Sums into sum (zeroed by the caller, its requests array sized for
 * sum->nslots) the blocks of every live process's file in dir: own (may be
 * NULL) through its own mapping, the others' read-only. A file of another
 * layout (another build's route table) is skipped. Returns the number of
 * processes summed, or -1 when dir cannot be read.
 */
int	scoreboard_collect(const char *dir, const struct scoreboard *own,
	    struct metrics_sum *sum);
/* Unmaps and closes: the lock goes, and the file counts as dead. */
void	scoreboard_close(struct scoreboard *);

#endif
