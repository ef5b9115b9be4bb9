/*
 * http_date.c: HTTP dates (RFC 9110 5.6.7), formatted without the locale
 * and parsed in all three forms a client may send.
 */
#include "autoconf.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "http/http_date.h"

static const char *const date_days[7] = {
	"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"
};
static const char *const date_long_days[7] = {
	"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday",
	"Saturday"
};
static const char *const date_months[12] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
	"Nov", "Dec"
};

/* "Sun, 06 Nov 1994 08:49:37 GMT" into buf (HTTP_DATE_LEN + 1 bytes). */
void
http_date_format(time_t t, char *buf)
{
	struct tm	 tm;
	char		 tmp[64];

	gmtime_r(&t, &tm);
	/* Years past 9999 do not fit the format: clamp them. */
	if (tm.tm_year > 9999 - 1900)
		tm.tm_year = 9999 - 1900;
	snprintf(tmp, sizeof(tmp), "%s, %02d %s %04d %02d:%02d:%02d GMT",
	    date_days[tm.tm_wday], tm.tm_mday, date_months[tm.tm_mon],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
	memcpy(buf, tmp, HTTP_DATE_LEN);
	buf[HTTP_DATE_LEN] = '\0';
}

static int
date_month(const char *s)
{
	int	 i;

	for (i = 0; i < 12; i++)
		if (strncmp(s, date_months[i], 3) == 0)
			return (i);
	return (-1);
}

/* Exactly n digits at s; -1 otherwise. */
static int
date_digits(const char *s, int n)
{
	int	 v = 0, i;

	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return (-1);
		v = v * 10 + (s[i] - '0');
	}
	return (v);
}

static int
date_time(const char *s, struct tm *tm)
{
	if (s[2] != ':' || s[5] != ':')
		return (-1);
	tm->tm_hour = date_digits(s, 2);
	tm->tm_min = date_digits(s + 3, 2);
	tm->tm_sec = date_digits(s + 6, 2);
	if (tm->tm_hour < 0 || tm->tm_hour > 23 || tm->tm_min < 0 ||
	    tm->tm_min > 59 || tm->tm_sec < 0 || tm->tm_sec > 60)
		return (-1);
	return (0);
}

static time_t
date_finish(struct tm *tm)
{
	static const int mdays[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30,
				     31, 30, 31 };

	int		 y = tm->tm_year + 1900;

	if (tm->tm_mon < 0 || tm->tm_mday < 1 ||
	    tm->tm_mday > mdays[tm->tm_mon] || tm->tm_year < 70)
		return (-1);
	/* timegm would quietly turn 29 Feb of a common year into 1 Mar. */
	if (tm->tm_mon == 1 && tm->tm_mday == 29 &&
	    !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return (-1);
	return (timegm(tm));
}

/* Parse an HTTP date; -1 if it is not one. */
time_t
http_date_parse(const char *s, size_t len)
{
	char		 buf[64];
	struct tm	 tm;
	const char	*p;
	int		 i, y;

	if (len == 0 || len >= sizeof(buf))
		return (-1);
	memcpy(buf, s, len);
	buf[len] = '\0';
	memset(&tm, 0, sizeof(tm));

	/* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
	if (len == 29 && buf[3] == ',') {
		for (i = 0; i < 7 && strncmp(buf, date_days[i], 3) != 0; i++)
			;
		if (i == 7 || buf[4] != ' ' || buf[7] != ' ' ||
		    buf[11] != ' ' || buf[16] != ' ' ||
		    strcmp(buf + 25, " GMT") != 0)
			return (-1);
		tm.tm_mday = date_digits(buf + 5, 2);
		tm.tm_mon = date_month(buf + 8);
		tm.tm_year = date_digits(buf + 12, 4) - 1900;
		if (tm.tm_year < 0 || date_time(buf + 17, &tm) == -1)
			return (-1);
		return (date_finish(&tm));
	}
	/* asctime: "Sun Nov  6 08:49:37 1994" */
	if (len == 24 && buf[3] == ' ') {
		for (i = 0; i < 7 && strncmp(buf, date_days[i], 3) != 0; i++)
			;
		if (i == 7 || buf[7] != ' ' || buf[10] != ' ' ||
		    buf[19] != ' ')
			return (-1);
		tm.tm_mon = date_month(buf + 4);
		tm.tm_mday = buf[8] == ' ' ? date_digits(buf + 9, 1) :
		    date_digits(buf + 8, 2);
		tm.tm_year = date_digits(buf + 20, 4) - 1900;
		if (tm.tm_year < 0 || date_time(buf + 11, &tm) == -1)
			return (-1);
		return (date_finish(&tm));
	}
	/* RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT" */
	if ((p = strchr(buf, ',')) == NULL)
		return (-1);
	for (i = 0; i < 7; i++)
		if ((size_t)(p - buf) == strlen(date_long_days[i]) &&
		    strncmp(buf, date_long_days[i], (size_t)(p - buf)) == 0)
			break;
	if (i == 7 || strlen(p) != 24 || p[1] != ' ' || p[4] != '-' ||
	    p[8] != '-' || p[11] != ' ' || strcmp(p + 20, " GMT") != 0)
		return (-1);
	tm.tm_mday = date_digits(p + 2, 2);
	tm.tm_mon = date_month(p + 5);
	if ((y = date_digits(p + 9, 2)) < 0)
		return (-1);
	/* Two-digit years: the nearest century (RFC 9110 says 50 years). */
	tm.tm_year = y < 70 ? y + 100 : y;
	if (date_time(p + 12, &tm) == -1)
		return (-1);
	return (date_finish(&tm));
}

/* Now, formatted once per second. */
const char *
http_date_now(void)
{
	static char	 buf[HTTP_DATE_LEN + 1];
	static time_t	 last = -1;
	time_t		 now = time(NULL);

	if (now != last) {
		http_date_format(now, buf);
		last = now;
	}
	return (buf);
}
