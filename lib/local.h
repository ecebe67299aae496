/*
 * Green-local values (lib/local.c): what the scheduler asks of them as
 * threads are spawned, end and are freed.
 */
#ifndef GREEN_LOCAL_H
#define GREEN_LOCAL_H

#include <stdbool.h>

#include "green.h"

/* One value of a thread's: under the key of its index in the array, set
 * while that key had generation gen. */
struct green__local {
    void *value;
    unsigned gen;
    bool inherited;     /* the spawner's: its destructor is not run here */
};

struct green__locals {
    unsigned n;
    struct green__local slot[];
};

/* t, being spawned by parent, starts with parent's values of the keys
 * that are inherited: 0, or -ENOMEM. */
int green__locals_inherit(green_t *t, const green_t *parent);

/* t's fn has returned: the destructors of its values run, in rounds, on
 * its own stack, and its values are freed. */
void green__locals_end(green_t *t);

/* Frees t's values without their destructors: t never ran. */
void green__locals_free(green_t *t);

#endif
