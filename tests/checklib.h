/* checklib.h: what every Check test program shares. */
#ifndef DROVER_CHECKLIB_H
#define DROVER_CHECKLIB_H

#include <check.h>

/* Run a suite (CK_NORMAL); the exit status for main(). */
int	check_run_suite(Suite *);

#endif
