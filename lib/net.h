/*
 * Connecting by name, shared by lib/net.c and the race of TCP connects
 * (lib/race.c).
 */
#ifndef GREEN_NET_H
#define GREEN_NET_H

struct addrinfo;

/* A new socket connected to ai's address: the fd or -errno. */
int green__connect_to(const struct addrinfo *ai);

/* Happy Eyeballs (RFC 8305): connects to the first of res's addresses
 * that answers, starting the next one RACE_DELAY_MS after the last began,
 * or as soon as it failed.  Inside green_run only.  The fd or -errno. */
int green__connect_race(const struct addrinfo *res);

#endif
