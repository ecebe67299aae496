/*
 * The library's version, as it was built: a program compares it with the
 * GREEN_VERSION it was compiled against to find a header and a library
 * that do not match.
 */
#include "green.h"

const char *green_version(void)
{
    return GREEN_VERSION;
}
