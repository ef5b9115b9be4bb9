/* mime.h: file name extension -> Content-Type. */
#ifndef DROVER_MIME_H
#define DROVER_MIME_H

struct mime_table;

/* Load path (mime.types format); NULL path or unreadable file: built-in. */
struct mime_table	*mime_load(const char *);
void			 mime_free(struct mime_table *);
/* The type for a file name (by its last extension, case-insensitive);
 * "application/octet-stream" when unknown. Never NULL. */
const char		*mime_lookup(const struct mime_table *, const char *);

#endif
