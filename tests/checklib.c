/* checklib.c: the common main() body of the Check test programs. */
#include "autoconf.h"

#include <stdlib.h>

#include "checklib.h"

int
check_run_suite(Suite *s)
{
	SRunner	*sr = srunner_create(s);
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
