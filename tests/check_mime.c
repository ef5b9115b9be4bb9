/* check_mime.c: Content-Type by extension, built in and from a file. */
#include "autoconf.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http/mime.h"
#include "checklib.h"

START_TEST(test_builtin)
{
	struct mime_table	*mt = mime_load(NULL);

	ck_assert_ptr_nonnull(mt);
	ck_assert_str_eq(mime_lookup(mt, "index.html"),
	    "text/html; charset=utf-8");
	ck_assert_str_eq(mime_lookup(mt, "INDEX.HTM"),
	    "text/html; charset=utf-8");
	ck_assert_str_eq(mime_lookup(mt, "a.css"), "text/css; charset=utf-8");
	ck_assert_str_eq(mime_lookup(mt, "x.png"), "image/png");
	ck_assert_str_eq(mime_lookup(mt, "a.tar.gz"), "application/gzip");
	ck_assert_str_eq(mime_lookup(mt, "app.wasm"), "application/wasm");
	ck_assert_str_eq(mime_lookup(mt, "noext"), "application/octet-stream");
	ck_assert_str_eq(mime_lookup(mt, ".bashrc"),
	    "application/octet-stream");
	ck_assert_str_eq(mime_lookup(mt, "trailing."),
	    "application/octet-stream");
	ck_assert_str_eq(mime_lookup(mt, "x.unknownext"),
	    "application/octet-stream");
	mime_free(mt);
}
END_TEST

START_TEST(test_file)
{
	char			 path[] = "/tmp/check_mime.XXXXXX";
	struct mime_table	*mt;
	FILE			*f;
	int			 fd;

	fd = mkstemp(path);
	ck_assert_int_ne(fd, -1);
	f = fdopen(fd, "w");
	fputs("# comment line\n\napplication/x-drover\tdrv DRX\n"
	    "text/x-override css\n"
	    "text/html html\nimage/x-thing   thg # trailing comment\n"
	    "nonsense-without-slash foo\n", f);
	fclose(f);
	mt = mime_load(path);
	unlink(path);
	ck_assert_ptr_nonnull(mt);
	ck_assert_str_eq(mime_lookup(mt, "a.drv"), "application/x-drover");
	ck_assert_str_eq(mime_lookup(mt, "a.drx"), "application/x-drover");
	ck_assert_str_eq(mime_lookup(mt, "a.thg"), "image/x-thing");
	ck_assert_str_eq(mime_lookup(mt, "a.foo"), "application/octet-stream");
	ck_assert_str_eq(mime_lookup(mt, "a.html"), "text/html; charset=utf-8");
	/* The file wins over the built-in table, which fills the gaps. */
	ck_assert_str_eq(mime_lookup(mt, "a.css"), "text/x-override");
	ck_assert_str_eq(mime_lookup(mt, "a.png"), "image/png");
	mime_free(mt);
}
END_TEST

START_TEST(test_missing_file_falls_back)
{
	struct mime_table	*mt = mime_load("/nonexistent/mime.types");

	ck_assert_ptr_nonnull(mt);
	ck_assert_str_eq(mime_lookup(mt, "a.json"),
	    "application/json; charset=utf-8");
	mime_free(mt);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("mime");
	TCase	*tc = tcase_create("lookup");

	tcase_add_test(tc, test_builtin);
	tcase_add_test(tc, test_file);
	tcase_add_test(tc, test_missing_file_falls_back);
	suite_add_tcase(s, tc);
	return (check_run_suite(s));
}
