/* curl's multi interface in a green thread.  curl may use several
 * sockets at once (it races IPv6 against IPv4, it resolves on a thread of
 * its own), and green_wait waits on one fd: so the socket callback keeps
 * curl's sockets in an epoll set, and the green thread waits on the set's
 * fd, which is readable when any of them is ready.  The timer callback
 * gives the longest the wait may last. */
#include <errno.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <unistd.h>
#include <curl/curl.h>
#include <green.h>

struct fetch {
    int epfd;
    long timeout_ms;    /* curl's timer: -1 none, 0 at once */
    size_t bytes;
};

/* curl says which socket it wants watched, and for what. */
static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    struct fetch *f = userp;
    (void)easy, (void)socketp;
    if (what == CURL_POLL_REMOVE)
        return epoll_ctl(f->epfd, EPOLL_CTL_DEL, s, NULL) < 0 && errno != ENOENT ? -1 : 0;
    struct epoll_event ev = {0};
    ev.data.fd = s;
    ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0) | (what & CURL_POLL_OUT ? EPOLLOUT : 0);
    if (epoll_ctl(f->epfd, EPOLL_CTL_MOD, s, &ev) == 0)
        return 0;
    return errno == ENOENT && epoll_ctl(f->epfd, EPOLL_CTL_ADD, s, &ev) == 0 ? 0 : -1;
}

static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    ((struct fetch *)userp)->timeout_ms = timeout_ms;
    return 0;
}

static size_t on_data(char *data, size_t size, size_t n, void *userp)
{
    (void)data;
    ((struct fetch *)userp)->bytes += size * n;
    return size * n;
}

/* Parks until a socket is ready or curl's timer is due, within the
 * caller's deadline, then tells curl which.  Returns 0, or -1 with errno
 * ETIMEDOUT (the caller's deadline, not curl's timer) or ECANCELED. */
static int step(CURLM *multi, struct fetch *f, int *running)
{
    /* The wait ends at curl's timer or the caller's deadline, whichever
     * comes first; the caller's is put back after. */
    int64_t outer = green_deadline(GREEN_NEVER);
    int64_t at = f->timeout_ms < 0 ? outer : green_now() + f->timeout_ms;
    if (outer >= 0 && (at < 0 || outer < at))
        at = outer;
    green_deadline(at);
    int r = green_wait(f->epfd, GREEN_IN);
    int err = errno;
    green_deadline(outer);
    if (r < 0) {
        if (err != ETIMEDOUT || (outer >= 0 && green_now() >= outer)) {
            errno = err;
            return -1;
        }
        f->timeout_ms = -1;   /* curl sets it again if it needs it */
        curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, running);
        return 0;
    }
    struct epoll_event evs[8];
    int n = epoll_wait(f->epfd, evs, 8, 0);
    for (int i = 0; i < n; i++) {
        int mask = (evs[i].events & (EPOLLIN | EPOLLHUP) ? CURL_CSELECT_IN : 0) |
                   (evs[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                   (evs[i].events & EPOLLERR ? CURL_CSELECT_ERR : 0);
        curl_multi_socket_action(multi, evs[i].data.fd, mask, running);
    }
    return 0;
}

/* Fetches url within the caller's deadline and counts the body's bytes.
 * Returns the HTTP status, or -1 with errno: EIO when curl failed,
 * ETIMEDOUT or ECANCELED when the wait was cut short (the transfer is
 * then dropped and its connection closed: nothing else to clean up).
 * curl_global_init must have been called. */
long fetch(const char *url, size_t *bytes)
{
    struct fetch f = {epoll_create1(EPOLL_CLOEXEC), -1, 0};
    if (f.epfd < 0)
        return -1;
    CURLM *multi = curl_multi_init();
    CURL *easy = curl_easy_init();
    long status = -1;
    int err = EIO;
    if (multi == NULL || easy == NULL)
        goto out;
    curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, &f);
    curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(multi, CURLMOPT_TIMERDATA, &f);
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &f);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    if (curl_multi_add_handle(multi, easy) != CURLM_OK)
        goto out;
    int running = 1;
    while (running) {
        if (step(multi, &f, &running) < 0) {
            err = errno;
            break;
        }
    }
    int left;
    CURLMsg *msg = curl_multi_info_read(multi, &left);
    if (!running && msg != NULL && msg->msg == CURLMSG_DONE && msg->data.result == CURLE_OK) {
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
        *bytes = f.bytes;
    }
    curl_multi_remove_handle(multi, easy);
out:
    curl_easy_cleanup(easy);
    curl_multi_cleanup(multi);
    close(f.epfd);
    if (status < 0)
        errno = err;
    return status;
}
