/* The context kept by the ucontext switch backend. */
#ifndef GREEN_SWITCH_UCONTEXT_H
#define GREEN_SWITCH_UCONTEXT_H

#include <ucontext.h>

struct green__ctx {
    ucontext_t uc;
};

#endif
