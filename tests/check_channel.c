/* check_channel.c: fixed-size master<->worker messages, with a passed fd. */
#include "autoconf.h"

#include <sys/socket.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "process/channel.h"
#include "checklib.h"

static int	 fds[2];

static void
setup(void)
{
	ck_assert_int_eq(channel_pair(fds), 0);
}

static void
teardown(void)
{
	if (fds[0] != -1)
		close(fds[0]);
	if (fds[1] != -1)
		close(fds[1]);
}

START_TEST(test_roundtrip_each_type)
{
	struct chan_msg	 out, in;
	uint32_t	 t;
	int		 passfd;

	for (t = CHAN_READY; t < CHAN_TYPE_MAX; t++) {
		channel_msg_init(&out, (enum chan_type)t);
		out.generation = 7 + t;
		out.pid = 1234;
		out.slot = (int32_t)t;
		snprintf(out.text, sizeof(out.text), "message %u", t);
		ck_assert_int_eq(channel_send(fds[0], &out, -1), 0);
		ck_assert_int_eq(channel_recv(fds[1], &in, &passfd), 1);
		ck_assert_int_eq(passfd, -1);
		ck_assert_uint_eq(in.type, t);
		ck_assert_uint_eq(in.generation, 7 + t);
		ck_assert_int_eq(in.pid, 1234);
		ck_assert_int_eq(in.slot, (int32_t)t);
		ck_assert_str_eq(in.text, out.text);
		ck_assert_str_ne(channel_type_name(t), "unknown");
	}
	ck_assert_str_eq(channel_type_name(CHAN_TYPE_MAX), "unknown");
}
END_TEST

START_TEST(test_passes_a_descriptor)
{
	struct chan_msg	 m;
	char		 path[] = "/tmp/check_channel.XXXXXX", buf[8];
	int		 fd, got;

	fd = mkstemp(path);
	ck_assert_int_ne(fd, -1);
	unlink(path);
	channel_msg_init(&m, CHAN_LOG_FD);
	ck_assert_int_eq(channel_send(fds[0], &m, fd), 0);
	ck_assert_int_eq(channel_recv(fds[1], &m, &got), 1);
	ck_assert_int_ne(got, -1);
	ck_assert_int_ne(got, fd);
	/* The same open file: what one writes, the other reads back. */
	ck_assert_int_eq(write(got, "drover", 6), 6);
	ck_assert_int_eq(pread(fd, buf, 6, 0), 6);
	ck_assert(memcmp(buf, "drover", 6) == 0);
	ck_assert(fcntl(got, F_GETFD) & FD_CLOEXEC);
	close(got);
	close(fd);
}
END_TEST

START_TEST(test_eof_and_empty)
{
	struct chan_msg	 m;

	fcntl(fds[1], F_SETFL, O_NONBLOCK);
	ck_assert_int_eq(channel_recv(fds[1], &m, NULL), -1);
	ck_assert(errno == EAGAIN || errno == EWOULDBLOCK);
	close(fds[0]);
	fds[0] = -1;
	ck_assert_int_eq(channel_recv(fds[1], &m, NULL), 0);
}
END_TEST

START_TEST(test_rejects_malformed)
{
	struct chan_msg	 m;
	char		 junk[10] = "junk";

	/* Too short. */
	ck_assert_int_eq(send(fds[0], junk, sizeof(junk), 0),
	    (ssize_t)sizeof(junk));
	ck_assert_int_eq(channel_recv(fds[1], &m, NULL), -1);
	ck_assert_int_eq(errno, EBADMSG);
	/* Right size, unknown type. */
	memset(&m, 0, sizeof(m));
	m.type = CHAN_TYPE_MAX + 5;
	ck_assert_int_eq(send(fds[0], &m, sizeof(m), 0), (ssize_t)sizeof(m));
	ck_assert_int_eq(channel_recv(fds[1], &m, NULL), -1);
	ck_assert_int_eq(errno, EBADMSG);
	/* Type zero is never valid. */
	memset(&m, 0, sizeof(m));
	ck_assert_int_eq(send(fds[0], &m, sizeof(m), 0), (ssize_t)sizeof(m));
	ck_assert_int_eq(channel_recv(fds[1], &m, NULL), -1);
	ck_assert_int_eq(errno, EBADMSG);
	/* A good message after the bad ones still comes through. */
	channel_msg_init(&m, CHAN_DRAIN);
	ck_assert_int_eq(channel_send(fds[0], &m, -1), 0);
	ck_assert_int_eq(channel_recv(fds[1], &m, NULL), 1);
	ck_assert_uint_eq(m.type, CHAN_DRAIN);
}
END_TEST

START_TEST(test_text_is_terminated)
{
	struct chan_msg	 m;

	channel_msg_init(&m, CHAN_FATAL);
	memset(m.text, 'x', sizeof(m.text));	/* no NUL at all */
	ck_assert_int_eq(channel_send(fds[0], &m, -1), 0);
	ck_assert_int_eq(channel_recv(fds[1], &m, NULL), 1);
	ck_assert_uint_eq(strlen(m.text), CHAN_TEXT_MAX - 1);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("channel");
	TCase	*tc = tcase_create("messages");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_roundtrip_each_type);
	tcase_add_test(tc, test_passes_a_descriptor);
	tcase_add_test(tc, test_eof_and_empty);
	tcase_add_test(tc, test_rejects_malformed);
	tcase_add_test(tc, test_text_is_terminated);
	suite_add_tcase(s, tc);
	return (check_run_suite(s));
}
