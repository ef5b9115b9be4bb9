/* http_path.h: decode and normalise a request path before touching files. */
#ifndef DROVER_HTTP_PATH_H
#define DROVER_HTTP_PATH_H

#include <stddef.h>

/*
 * Percent-decode src (len bytes, the path part of the request-target) and
 * normalise it into out (outlen bytes): collapse "//", resolve "." and
 * "..", never climbing above "/". The result starts with '/'. A trailing
 * slash is kept. Returns the length, or -1 if the path is invalid: not
 * starting with '/', a bad %XX escape, an encoded or raw NUL, an encoded
 * slash (%2F) or backslash, ".." above the root, or too long for out.
 */
int	http_path_normalize(const char *, size_t, char *, size_t);

#endif
