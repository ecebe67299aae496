/*
 * An intrusive doubly linked list with first and last pointers.
 *
 * The head holds only pointers to nodes, never a node, so a head may live
 * in memory that is moved by realloc (the fd table) without breaking the
 * list.
 */
#ifndef GREEN_LIST_H
#define GREEN_LIST_H

#include <stddef.h>

/* struct green__list is declared in green.h, because the public mutex,
 * condition and semaphore types embed one. */
#include "green.h"

struct green__node {
    struct green__node *prev, *next;
};

#define green__container_of(ptr, type, member) \
    ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

static inline int green__list_empty(const struct green__list *l)
{
    return l->first == NULL;
}

static inline void green__list_push(struct green__list *l, struct green__node *n)
{
    n->next = NULL;
    n->prev = l->last;
    if (l->last)
        l->last->next = n;
    else
        l->first = n;
    l->last = n;
}

static inline void green__list_remove(struct green__list *l, struct green__node *n)
{
    if (n->prev)
        n->prev->next = n->next;
    else
        l->first = n->next;
    if (n->next)
        n->next->prev = n->prev;
    else
        l->last = n->prev;
    n->prev = n->next = NULL;
}

#endif
