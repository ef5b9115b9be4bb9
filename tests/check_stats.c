/* check_stats.c: the shared counters: series by server, generation and
 * slot, their fold into a server's retired series, the region passed on
 * across exec, and worker records. */
#include "autoconf.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/stats.h"
#include "checklib.h"

START_TEST(test_series_is_one_per_key)
{
	struct stats_shm	*shm = stats_open(0);
	int			 a, b;

	ck_assert_ptr_nonnull(shm);
	a = stats_series_get(shm, "web", 1, 0);
	b = stats_series_get(shm, "web", 1, 1);
	ck_assert_int_ge(a, 0);
	ck_assert_int_ne(a, b);
	ck_assert_int_eq(stats_series_get(shm, "web", 1, 0), a);
	ck_assert_ptr_eq(stats_series_find(shm, "web", 1, 0),
	    &shm->series[a].c);
	ck_assert_ptr_null(stats_series_find(shm, "web", 2, 0));
	ck_assert_ptr_null(stats_series_find(shm, "other", 1, 0));
	stats_destroy(shm);
}
END_TEST

START_TEST(test_generation_end_folds_into_retired)
{
	struct stats_shm	*shm = stats_open(0);
	struct stats_counters	*st;
	struct stats_series	*v;
	int			 n, i;

	for (i = 0; i < 2; i++) {
		stats_series_get(shm, "web", 1, i);
		st = stats_series_find(shm, "web", 1, i);
		STATS_ADD(st, requests, 5);
		STATS_ADD(st, active, 1);
		STATS_ADD(st, handoff_out, 2);
	}
	stats_series_get(shm, "web", 2, 0);
	STATS_ADD(stats_series_find(shm, "web", 2, 0), requests, 1);
	stats_series_end(shm, 1);
	ck_assert_ptr_null(stats_series_find(shm, "web", 1, 0));
	n = stats_snapshot(shm, &v);
	ck_assert_int_eq(n, 2);
	/* Sorted: the live generation first, the retired series last. */
	ck_assert_int_eq(v[0].generation, 2);
	ck_assert_uint_eq(v[0].c.requests, 1);
	ck_assert_int_eq(v[1].slot, -1);
	ck_assert_str_eq(v[1].server, "web");
	ck_assert_uint_eq(v[1].c.requests, 10);
	ck_assert_uint_eq(v[1].c.handoff_out, 4);
	ck_assert_uint_eq(v[1].c.active, 0);	/* nothing open any more */
	free(v);
	stats_destroy(shm);
}
END_TEST

START_TEST(test_retired_twins_are_added_up)
{
	struct stats_shm	*shm = stats_open(0);
	struct stats_series	*v;
	int			 a, b, n;

	/* What two masters folding at once can leave: two retired series. */
	a = stats_series_get(shm, "web", 0, -1);
	shm->series[a].c.requests = 3;
	shm->series[a].in_use = STATS_SERIES_CLAIMED;	/* unseen */
	b = stats_series_get(shm, "web", 0, -1);
	shm->series[a].in_use = STATS_SERIES_LIVE;
	ck_assert_int_ne(a, b);
	shm->series[b].c.requests = 4;
	n = stats_snapshot(shm, &v);
	ck_assert_int_eq(n, 1);
	ck_assert_uint_eq(v[0].c.requests, 7);
	free(v);
	stats_destroy(shm);
}
END_TEST

START_TEST(test_worker_exit_idles_its_slot)
{
	struct stats_shm	*shm = stats_open(0);
	int			 w;

	w = stats_alloc(shm, 3, 1);
	ck_assert_int_ge(w, 0);
	ck_assert_int_eq(shm->workers[w].in_use, 1);
	stats_series_get(shm, "web", 3, 1);
	STATS_ADD(stats_series_find(shm, "web", 3, 1), active, 4);
	STATS_ADD(stats_series_find(shm, "web", 3, 1), accepted, 4);
	stats_retire(shm, w);
	ck_assert_int_eq(shm->workers[w].in_use, 0);
	ck_assert_uint_eq(shm->retired_workers, 1);
	ck_assert_uint_eq(stats_series_find(shm, "web", 3, 1)->active, 0);
	ck_assert_uint_eq(stats_series_find(shm, "web", 3, 1)->accepted, 4);
	stats_destroy(shm);
}
END_TEST

START_TEST(test_passed_on_and_generations_carry_on)
{
	struct stats_shm	*shm = stats_open(0), *again;
	int			 a;

	ck_assert_uint_eq(stats_generation_next(shm, 0), 1);
	ck_assert_uint_eq(stats_generation_next(shm, 0), 2);
	a = stats_series_get(shm, "web", 2, 0);
	shm->series[a].c.requests = 42;
	ck_assert_int_eq(stats_pass_on(), 0);
	ck_assert_ptr_nonnull(getenv(STATS_ENV));
	/* As the new master after exec: the same memory, mapped again. */
	again = stats_open(1);
	ck_assert_ptr_nonnull(again);
	ck_assert_ptr_ne(again, shm);
	ck_assert_ptr_null(getenv(STATS_ENV));
	ck_assert_uint_eq(stats_series_find(again, "web", 2, 0)->requests, 42);
	ck_assert_uint_eq(stats_generation_next(again, 0), 3);
	stats_destroy(again);	/* closes the one descriptor */
	stats_destroy(shm);
}
END_TEST

START_TEST(test_foreign_descriptor_is_refused)
{
	struct stats_shm	*shm;
	int			 p[2];
	char			 buf[16];

	ck_assert_int_eq(pipe(p), 0);
	snprintf(buf, sizeof(buf), "%d", p[0]);
	setenv(STATS_ENV, buf, 1);
	shm = stats_open(1);
	ck_assert_ptr_nonnull(shm);	/* a fresh region instead */
	ck_assert_uint_eq(shm->last_generation, 0);
	stats_destroy(shm);
	close(p[0]);	/* not ours: left open */
	close(p[1]);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("stats");
	TCase	*tc = tcase_create("series");

	tcase_add_test(tc, test_series_is_one_per_key);
	tcase_add_test(tc, test_generation_end_folds_into_retired);
	tcase_add_test(tc, test_retired_twins_are_added_up);
	tcase_add_test(tc, test_worker_exit_idles_its_slot);
	tcase_add_test(tc, test_passed_on_and_generations_carry_on);
	tcase_add_test(tc, test_foreign_descriptor_is_refused);
	suite_add_tcase(s, tc);
	return (check_run_suite(s));
}
