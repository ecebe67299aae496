/*
 * Green-local values: keys, and each green thread's values under them.
 *
 * A key is a slot of the process's table and the generation the slot had
 * when the key was made, so that a deleted key's handle is refused instead
 * of reading the values of the next key made in the slot.  A generation
 * is odd while its key lives, even once deleted; a handle is the
 * generation times GREEN_KEYS_MAX plus the slot, so a zeroed handle is no
 * key.  The table changes under a lock (creating, deleting, reading a
 * destructor at a thread's end); get and set read one atomic generation.
 *
 * A thread's values sit in an array indexed like the table, made at its
 * first set, or at its spawn when it inherits.  Each value remembers the
 * generation it was set under: a value left behind by a deleted key is
 * never seen under a later key of the same slot, and never destroyed.
 * Only the thread's own scheduler touches the array, and a spawner on
 * another scheduler is parked while its values are copied.
 */
#include "sched.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "local.h"
#include "fault.h"  /* last: in a test build it turns calls into fault points */

static struct key {
    atomic_uint gen;                /* odd: alive */
    void (*destructor)(void *);
    int flags;
} keys[GREEN_KEYS_MAX];

/* Generations stay below this even number, so that gen * GREEN_KEYS_MAX
 * plus the slot fits a green_key_t. */
#define GEN_LIMIT (1u << 24)
_Static_assert((unsigned long long)GEN_LIMIT * GREEN_KEYS_MAX <= 1ull << 32, "handles fit");

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_uint inherited_keys;  /* alive with GREEN_KEY_INHERIT */

static unsigned slot_of(green_key_t key)
{
    return key % GREEN_KEYS_MAX;
}

static unsigned gen_of(green_key_t key)
{
    return key / GREEN_KEYS_MAX;
}

static bool alive(green_key_t key)
{
    unsigned gen = gen_of(key);
    return gen % 2 == 1 &&
           atomic_load_explicit(&keys[slot_of(key)].gen, memory_order_acquire) == gen;
}

int green_key_create(green_key_t *key, void (*destructor)(void *), int flags)
{
    if (!key || (flags & ~GREEN_KEY_INHERIT))
        return green__fail(EINVAL);
    pthread_mutex_lock(&lock);
    unsigned i = 0;
    while (i < GREEN_KEYS_MAX && atomic_load(&keys[i].gen) % 2 == 1)
        i++;
    if (i == GREEN_KEYS_MAX) {
        pthread_mutex_unlock(&lock);
        return green__fail(EAGAIN);
    }
    struct key *k = &keys[i];
    /* Odd, and small enough for the handle: a slot's generations wrap
     * after 2^23 keys made in it. */
    unsigned gen = (atomic_load(&k->gen) + 1) % GEN_LIMIT;
    k->destructor = destructor;
    k->flags = flags;
    atomic_store_explicit(&k->gen, gen, memory_order_release);
    if (flags & GREEN_KEY_INHERIT)
        atomic_fetch_add(&inherited_keys, 1);
    pthread_mutex_unlock(&lock);
    *key = gen * GREEN_KEYS_MAX + i;
    return 0;
}

int green_key_delete(green_key_t key)
{
    pthread_mutex_lock(&lock);
    if (!alive(key)) {
        pthread_mutex_unlock(&lock);
        return green__fail(EINVAL);
    }
    struct key *k = &keys[slot_of(key)];
    if (k->flags & GREEN_KEY_INHERIT)
        atomic_fetch_sub(&inherited_keys, 1);
    atomic_store(&k->gen, gen_of(key) + 1);
    pthread_mutex_unlock(&lock);
    return 0;
}

/* The running thread's value record for key, or NULL when it has none:
 * errno EPERM outside green_run, EINVAL for no key. */
static struct green__local *find(green_key_t key, green_t **self, int *err)
{
    struct green__sched *s = green__cur;
    *err = !s ? EPERM : !alive(key) ? EINVAL : 0;
    if (*err)
        return NULL;
    *self = s->current;
    struct green__locals *l = (*self)->locals;
    unsigned i = slot_of(key);
    return l && i < l->n && l->slot[i].gen == gen_of(key) ? &l->slot[i] : NULL;
}

void *green_key_get(green_key_t key)
{
    green_t *self;
    int err;
    struct green__local *v = find(key, &self, &err);
    if (err)
        errno = err;
    return v ? v->value : NULL;
}

/* Room in t's array for slot i: 0 or -ENOMEM. */
static int make_room(green_t *t, unsigned i)
{
    struct green__locals *l = t->locals;
    unsigned had = l ? l->n : 0;
    if (i < had)
        return 0;
    unsigned n = 4;
    while (n <= i)  /* a power of two, so at most GREEN_KEYS_MAX */
        n *= 2;
    l = realloc(l, sizeof *l + n * sizeof l->slot[0]);
    if (!l)
        return -ENOMEM;
    memset(&l->slot[had], 0, (n - had) * sizeof l->slot[0]);
    l->n = n;
    t->locals = l;
    return 0;
}

int green_key_set(green_key_t key, const void *value)
{
    green_t *self;
    int err;
    if (!find(key, &self, &err) && err)
        return green__fail(err);
    unsigned i = slot_of(key);
    if (make_room(self, i) < 0)
        return green__fail(ENOMEM);
    self->locals->slot[i] = (struct green__local){(void *)value, gen_of(key), false};
    return 0;
}

int green__locals_inherit(green_t *t, const green_t *parent)
{
    const struct green__locals *from = parent->locals;
    if (atomic_load_explicit(&inherited_keys, memory_order_relaxed) == 0)
        return 0;
    for (unsigned i = 0; i < from->n; i++) {
        const struct green__local *v = &from->slot[i];
        const struct key *k = &keys[i];
        if (!v->value || atomic_load(&k->gen) != v->gen || !(k->flags & GREEN_KEY_INHERIT))
            continue;
        if (make_room(t, i) < 0) {
            green__locals_free(t);
            return -ENOMEM;
        }
        t->locals->slot[i] = (struct green__local){v->value, v->gen, true};
    }
    return 0;
}

/* The destructor for t's value in slot i, taking the value out; NULL when
 * it has none to run. */
static void (*take(green_t *t, unsigned i, void **value))(void *)
{
    struct green__local *v = &t->locals->slot[i];
    if (!v->value || v->inherited)
        return NULL;
    pthread_mutex_lock(&lock);
    void (*destructor)(void *) = atomic_load(&keys[i].gen) == v->gen ? keys[i].destructor : NULL;
    pthread_mutex_unlock(&lock);
    *value = v->value;
    v->value = NULL;
    return destructor;
}

void green__locals_end(green_t *t)
{
    /* A destructor may set values again, even grow the array: rounds, as
     * pthreads runs them, then what is left is dropped. */
    for (int round = 0; round < GREEN_KEY_ROUNDS; round++) {
        bool ran = false;
        for (unsigned i = 0; i < t->locals->n; i++) {
            void *value;
            void (*destructor)(void *) = take(t, i, &value);
            if (destructor) {
                destructor(value);
                ran = true;
            }
        }
        if (!ran)
            break;
    }
    green__locals_free(t);
}

void green__locals_free(green_t *t)
{
    free(t->locals);
    t->locals = NULL;
}
