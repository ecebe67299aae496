/* The context kept by the fast switch backend: the saved stack pointer.
 * Everything else a switch must keep is pushed on the stack it leaves. */
#ifndef GREEN_SWITCH_FAST_H
#define GREEN_SWITCH_FAST_H

struct green__ctx {
    void *sp;
};

#endif
