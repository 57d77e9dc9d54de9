/*
 * driver.c - runs a fuzz target over files, without libFuzzer: each
 * argument is a file or a directory of files (not recursive), each file one
 * input. Used to replay the seed corpora and kept crashes as regression
 * tests where clang's libFuzzer is missing; build it with ASan and UBSan.
 * Exit status: 0 when every input ran (a broken property aborts).
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static int
run_file(const char *path)
{
	FILE		*f;
	unsigned char	*data = NULL;
	size_t		 len = 0, cap = 0, n;

	if ((f = fopen(path, "rb")) == NULL) {
		fprintf(stderr, "driver: %s: %s\n", path, strerror(errno));
		return -1;
	}
	for (;;) {
		if (len == cap) {
			cap = cap ? 2 * cap : 4096;
			if ((data = realloc(data, cap)) == NULL) {
				fprintf(stderr, "driver: out of memory\n");
				exit(2);
			}
		}
		n = fread(data + len, 1, cap - len, f);
		if (n == 0)
			break;
		len += n;
	}
	if (ferror(f)) {
		fprintf(stderr, "driver: %s: read error\n", path);
		fclose(f);
		free(data);
		return -1;
	}
	fclose(f);
	/* An exact-size copy, so ASan sees a read one past the end. */
	{
		unsigned char	*exact = malloc(len ? len : 1);

		if (exact == NULL)
			exit(2);
		memcpy(exact, data, len);
		free(data);
		fprintf(stderr, "driver: %s (%zu bytes)\n", path, len);
		LLVMFuzzerTestOneInput(exact, len);
		free(exact);
	}
	return 0;
}

static int
by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

int
main(int argc, char **argv)
{
	struct stat	 st;
	struct dirent	**ents;
	char		 path[4096];
	int		 i, j, n, ran = 0, failed = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
		return 2;
	}
	for (i = 1; i < argc; i++) {
		if (stat(argv[i], &st) == -1) {
			fprintf(stderr, "driver: %s: %s\n", argv[i],
			    strerror(errno));
			failed++;
			continue;
		}
		if (!S_ISDIR(st.st_mode)) {
			if (run_file(argv[i]) == 0)
				ran++;
			else
				failed++;
			continue;
		}
		if ((n = scandir(argv[i], &ents, NULL, by_name)) < 0) {
			fprintf(stderr, "driver: %s: %s\n", argv[i],
			    strerror(errno));
			failed++;
			continue;
		}
		for (j = 0; j < n; j++) {
			snprintf(path, sizeof path, "%s/%s", argv[i],
			    ents[j]->d_name);
			if (ents[j]->d_name[0] != '.' &&
			    stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
				if (run_file(path) == 0)
					ran++;
				else
					failed++;
			}
			free(ents[j]);
		}
		free(ents);
	}
	fprintf(stderr, "driver: %d inputs ran, %d could not be read\n", ran,
	    failed);
	return failed ? 1 : 0;
}
