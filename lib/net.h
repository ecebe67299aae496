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
 * that answers, starting the next one green__race_delay_ms after the last
 * began, or as soon as it failed.  Inside green_run only.  The fd or
 * -errno. */
int green__connect_race(const struct addrinfo *res);

/* The delay between two attempts: 250 ms, RFC 8305's recommendation.  A
 * variable, so that a test can make it long enough that no slowness of
 * the machine passes for it. */
extern int green__race_delay_ms;

#endif
