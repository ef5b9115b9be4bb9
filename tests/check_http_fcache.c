/* check_http_fcache.c: the open-file cache: lookups, revalidation test,
 * replacement and eviction, and entries outliving the table while a
 * response holds them. Files are real, in a temporary directory. */
#include "autoconf.h"

#include <sys/stat.h>

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "http/http_fcache.h"
#include "checklib.h"

static char	 dir[] = "/tmp/check_fcache.XXXXXX";

static void
setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void
teardown(void)
{
	char	 cmd[64];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
	strcpy(dir, "/tmp/check_fcache.XXXXXX");
}

/* Write name with len bytes of c, last modified an hour ago (or now, if
 * fresh); open it and stat it. */
static int
make_file_at(const char *name, size_t len, char c, struct stat *st,
    int fresh)
{
	struct timespec	 ts[2];
	char	 path[256], *buf;
	int	 fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
	ck_assert_int_ne(fd, -1);
	buf = malloc(len + 1);
	memset(buf, c, len);
	ck_assert_int_eq(write(fd, buf, len), (ssize_t)len);
	free(buf);
	close(fd);
	fd = open(path, O_RDONLY);
	ck_assert_int_ne(fd, -1);
	if (!fresh) {
		clock_gettime(CLOCK_REALTIME, &ts[0]);
		ts[0].tv_sec -= 3600;
		ts[1] = ts[0];
		ck_assert_int_eq(futimens(fd, ts), 0);
	}
	ck_assert_int_eq(fstat(fd, st), 0);
	return (fd);
}

static int
make_file(const char *name, size_t len, char c, struct stat *st)
{
	return (make_file_at(name, len, c, st, 0));
}

static int
fd_is_open(int fd)
{
	return (fcntl(fd, F_GETFD) != -1);
}

START_TEST(test_small_file_in_memory)
{
	struct http_fcache	*fc = fcache_new();
	struct http_file	*f;
	struct stat		 st;
	int			 fd = make_file("a.txt", 100, 'a', &st);

	f = fcache_put(fc, 0, "/a.txt", 6, fd, &st, "text/plain");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(f->fd, -1);		/* read whole, closed */
	ck_assert(!fd_is_open(fd));
	ck_assert_ptr_nonnull(f->data);
	ck_assert_int_eq(f->data[0], 'a');
	ck_assert_int_eq(f->data[99], 'a');
	ck_assert_int_eq(f->size, 100);
	ck_assert_str_eq(f->ctype, "text/plain");
	ck_assert_int_eq(strlen(f->lastmod), HTTP_DATE_LEN);
	ck_assert_int_eq(f->etag[0], '"');
	ck_assert_ptr_eq(fcache_find(fc, 0, "/a.txt", 6), f);
	ck_assert_ptr_null(fcache_find(fc, 1, "/a.txt", 6));	/* location */
	ck_assert_ptr_null(fcache_find(fc, 0, "/a.tx", 5));
	ck_assert(fcache_same(f, &st));
	ck_assert(fcache_keep(f, &st));
	fcache_release(fc, f);
	ck_assert_uint_eq(fcache_count(fc), 1);
	fcache_free(fc);
}
END_TEST

START_TEST(test_just_modified_file_not_in_memory)
{
	struct http_fcache	*fc = fcache_new();
	struct http_file	*f;
	struct stat		 st;
	int			 fd = make_file_at("r.txt", 100, 'r', &st, 1);

	/* Its bytes could still change within the same mtime tick. */
	f = fcache_put(fc, 0, "/r.txt", 6, fd, &st, "text/plain");
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_null(f->data);
	ck_assert_int_eq(f->fd, fd);
	ck_assert(fcache_keep(f, &st));		/* while it is that new */
	fcache_release(fc, f);
	fcache_free(fc);
	ck_assert(!fd_is_open(fd));
}
END_TEST

START_TEST(test_large_file_keeps_descriptor)
{
	struct http_fcache	*fc = fcache_new();
	struct http_file	*f;
	struct stat		 st;
	int			 fd = make_file("big", FCACHE_DATA_MAX + 1, 'b', &st);

	f = fcache_put(fc, 0, "/big", 4, fd, &st, "x/y");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(f->fd, fd);
	ck_assert_ptr_null(f->data);
	fcache_release(fc, f);
	ck_assert(fd_is_open(fd));		/* cached: kept open */
	fcache_free(fc);
	ck_assert(!fd_is_open(fd));
}
END_TEST

START_TEST(test_same_notices_changes)
{
	struct http_fcache	*fc = fcache_new();
	struct http_file	*f;
	struct stat		 st, st2;
	int			 fd = make_file("c", 10, 'c', &st), fd2;

	f = fcache_put(fc, 0, "/c", 2, fd, &st, "x/y");
	fcache_release(fc, f);
	st2 = st;
	ck_assert(fcache_same(f, &st2));
	st2.st_size++;
	ck_assert(!fcache_same(f, &st2));
	st2 = st;
	st2.st_mtim.tv_nsec++;
	ck_assert(!fcache_same(f, &st2));
	st2 = st;
	st2.st_ino++;
	ck_assert(!fcache_same(f, &st2));
	/* Rewritten with another size: a real stat differs. */
	fd2 = make_file("c", 11, 'C', &st2);
	ck_assert(!fcache_same(f, &st2));
	close(fd2);
	fcache_free(fc);
}
END_TEST

START_TEST(test_replaced_entry_outlives_table_while_held)
{
	struct http_fcache	*fc = fcache_new();
	struct http_file	*old, *new;
	struct stat		 st;
	int			 fd, fd2;

	fd = make_file("d", FCACHE_DATA_MAX + 10, 'd', &st);
	old = fcache_put(fc, 0, "/d", 2, fd, &st, "x/y");	/* held */
	fd2 = make_file("d", FCACHE_DATA_MAX + 20, 'D', &st);
	new = fcache_put(fc, 0, "/d", 2, fd2, &st, "x/y");
	ck_assert_ptr_ne(old, new);
	ck_assert_ptr_eq(fcache_find(fc, 0, "/d", 2), new);
	ck_assert_uint_eq(fcache_count(fc), 1);
	ck_assert(!old->cached);
	ck_assert(fd_is_open(fd));		/* the held one still works */
	fcache_release(fc, old);		/* freed now (ASan checks) */
	ck_assert(!fd_is_open(fd));
	fcache_release(fc, new);
	fcache_free(fc);
}
END_TEST

START_TEST(test_drop_and_hold)
{
	struct http_fcache	*fc = fcache_new();
	struct http_file	*f;
	struct stat		 st;
	int			 fd = make_file("e", FCACHE_DATA_MAX + 1, 'e', &st);

	f = fcache_put(fc, 0, "/e", 2, fd, &st, "x/y");
	fcache_hold(fc, f);			/* two responses */
	fcache_drop(fc, f);
	ck_assert_ptr_null(fcache_find(fc, 0, "/e", 2));
	ck_assert_uint_eq(fcache_count(fc), 0);
	fcache_release(fc, f);
	ck_assert(fd_is_open(fd));
	fcache_release(fc, f);
	ck_assert(!fd_is_open(fd));
	fcache_free(fc);
}
END_TEST

START_TEST(test_eviction_least_recently_used)
{
	struct http_fcache	*fc = fcache_new();
	struct http_file	*f, *first = NULL;
	struct stat		 st;
	char			 key[32];
	int			 i, fd;

	for (i = 0; i < FCACHE_ENTRIES_MAX; i++) {
		fd = make_file("f", 3, 'f', &st);
		snprintf(key, sizeof(key), "/f%d", i);
		f = fcache_put(fc, 0, key, strlen(key), fd, &st, "x/y");
		ck_assert_ptr_nonnull(f);
		fcache_release(fc, f);
		if (i == 0)
			first = f;
	}
	ck_assert_uint_eq(fcache_count(fc), FCACHE_ENTRIES_MAX);
	/* Use /f0 again: /f1 is now the least recently used. */
	fcache_hold(fc, first);
	fcache_release(fc, first);
	fd = make_file("f", 3, 'f', &st);
	f = fcache_put(fc, 0, "/new", 4, fd, &st, "x/y");
	fcache_release(fc, f);
	ck_assert_uint_eq(fcache_count(fc), FCACHE_ENTRIES_MAX);
	ck_assert_ptr_nonnull(fcache_find(fc, 0, "/f0", 3));
	ck_assert_ptr_null(fcache_find(fc, 0, "/f1", 3));
	ck_assert_ptr_nonnull(fcache_find(fc, 0, "/f2", 3));
	ck_assert_ptr_nonnull(fcache_find(fc, 0, "/new", 4));
	fcache_free(fc);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("http_fcache");
	TCase	*tc = tcase_create("cache");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_small_file_in_memory);
	tcase_add_test(tc, test_just_modified_file_not_in_memory);
	tcase_add_test(tc, test_large_file_keeps_descriptor);
	tcase_add_test(tc, test_same_notices_changes);
	tcase_add_test(tc, test_replaced_entry_outlives_table_while_held);
	tcase_add_test(tc, test_drop_and_hold);
	tcase_add_test(tc, test_eviction_least_recently_used);
	suite_add_tcase(s, tc);
	return (check_run_suite(s));
}
