/* check_backoff.c: respawn delays for workers that keep dying. */
#include "autoconf.h"

#include <check.h>
#include <stdlib.h>

#include "core/backoff.h"
#include "checklib.h"

START_TEST(test_first_death_is_immediate)
{
	struct backoff	 b = { 0 };

	ck_assert_int_eq(backoff_next(&b, 5), 0);
	ck_assert_int_eq(b.failures, 1);
}
END_TEST

START_TEST(test_doubles_up_to_the_cap)
{
	struct backoff	 b = { 0 };
	long		 want = BACKOFF_FIRST_MS, got;
	int		 i;

	ck_assert_int_eq(backoff_next(&b, 10), 0);
	for (i = 0; i < 20; i++) {
		got = backoff_next(&b, 10);
		ck_assert_int_eq(got, want);
		want = want * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : want * 2;
	}
	ck_assert_int_eq(backoff_next(&b, 10), BACKOFF_MAX_MS);
}
END_TEST

START_TEST(test_known_sequence)
{
	static const long	 seq[] = { 0, 100, 200, 400, 800, 1600, 3200,
				     6400, 12800, 25600, 30000, 30000 };
	struct backoff		 b = { 0 };
	size_t			 i;

	for (i = 0; i < sizeof(seq) / sizeof(seq[0]); i++)
		ck_assert_int_eq(backoff_next(&b, 0), seq[i]);
}
END_TEST

START_TEST(test_stable_worker_resets)
{
	struct backoff	 b = { 0 };

	(void)backoff_next(&b, 1);
	(void)backoff_next(&b, 1);
	ck_assert_int_eq(backoff_next(&b, 1), 200);
	/* Up long enough: the next death counts as the first again. */
	ck_assert_int_eq(backoff_next(&b, BACKOFF_STABLE_MS), 0);
	ck_assert_int_eq(backoff_next(&b, BACKOFF_STABLE_MS - 1), 100);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("backoff");
	TCase	*tc = tcase_create("delays");

	tcase_add_test(tc, test_first_death_is_immediate);
	tcase_add_test(tc, test_doubles_up_to_the_cap);
	tcase_add_test(tc, test_known_sequence);
	tcase_add_test(tc, test_stable_worker_resets);
	suite_add_tcase(s, tc);
	return (check_run_suite(s));
}
