/* fdlimit: as many open files as the hard limit allows.
 *
 * A Debian login starts with a soft limit of 1024 descriptors. lb needs two per user (the
 * client's connection and the node's), farmctl load one per user, a node one per
 * connection: 1,000 users would run out of descriptors long before the machine does. The
 * soft limit can be raised to the hard one without privileges, as servers commonly do at
 * start-up (nginx's worker_rlimit_nofile, HAProxy's automatic maxconn). */
#ifndef FARM_FDLIMIT_H
#define FARM_FDLIMIT_H

/* Raise the soft RLIMIT_NOFILE to the hard limit. Returns the soft limit in force afterwards
 * (the old one if raising failed), or 0 when it cannot be read. */
unsigned long fd_limit_raise(void);

#endif
