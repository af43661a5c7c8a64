/*
 * api_listen.c -- see api_listen.h.
 */
#include "api_listen.h"

#include <errno.h>
#include <fcgiapp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* 1 when a process accepts connections on the unix socket at path. */
static int socket_in_use(const char *path)
{
    struct sockaddr_un sa;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int in_use = 0;

    if (fd < 0 || strlen(path) >= sizeof(sa.sun_path)) {
        goto out;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    in_use = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
out:
    if (fd >= 0) {
        close(fd);
    }
    return in_use;
}

int lt_api_listen_open(const struct lt_cfg *cfg, struct lt_err *err)
{
    const char *path = cfg->api_socket;
    struct stat st;

    if (path[0] != '/') {
        return lt_err_set(err, "api.socket '%s': must be an absolute path", path);
    }
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            return lt_err_set(err, "api.socket '%s': exists and is not a socket", path);
        }
        if (socket_in_use(path)) {
            return lt_err_set(err, "api.socket '%s': another process is listening on it", path);
        }
        if (unlink(path) < 0) {
            return lt_err_set(err, "api.socket '%s': cannot remove the stale socket: %s", path,
                              strerror(errno));
        }
    }
    int fd = FCGX_OpenSocket(path, cfg->api_backlog);
    if (fd < 0) {
        return lt_err_set(err, "api.socket '%s': cannot listen: %s", path, strerror(errno));
    }
    if (chmod(path, (mode_t)cfg->api_socket_mode) < 0) {
        lt_err_set(err, "api.socket '%s': cannot chmod %o: %s", path,
                   (unsigned)cfg->api_socket_mode, strerror(errno));
        lt_api_listen_close(cfg, fd);
        return -1;
    }
    return fd;
}

void lt_api_listen_close(const struct lt_cfg *cfg, int fd)
{
    if (fd >= 0) {
        close(fd);
    }
    unlink(cfg->api_socket);
}
