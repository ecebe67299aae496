/* Adopting a library's socket for the life of a connection, and giving
 * it back before the library closes it. */
#include <green.h>

/* After the library has connected: libgreen takes charge of the fd.  It
 * stays registered with the poller, so each green_wait on it costs no
 * epoll_ctl, and it is made non-blocking, which a library in
 * non-blocking mode has asked for anyway. */
int session_begin(int fd)
{
    return green_fd_adopt(fd);
}

/* Before the library closes the fd (its free or finish call): libgreen
 * forgets it, wakes any green thread still parked on it with EBADF, and
 * clears O_NONBLOCK if it set it.  The library still owns the fd and
 * closes it; libgreen never does. */
void session_end(int fd, void (*library_close)(void *conn), void *conn)
{
    green_fd_release(fd);
    library_close(conn);
}
