/*
 * LD_PRELOAD shim for the loopback provider (see ../README.md).
 *
 * libibverbs insists on a character device /dev/infiniband/uverbsN before it hands a
 * device to a provider, and creates completion channels with a kernel command written
 * to that device. Without kernel RDMA support neither exists, so this shim:
 *   - answers stat()/open() of /dev/infiniband/uverbs* with /dev/null (a real character
 *     device, 1:3, which the fake sysfs tree names as the device's "dev");
 *   - answers the one kernel command the tests need on that fd, CREATE_COMP_CHANNEL,
 *     with a fresh pipe (the provider writes completion events into it);
 *   - refuses RDMA netlink sockets, so libibverbs lists devices from sysfs (SYSFS_PATH)
 *     even on a kernel that does have RDMA netlink.
 * Every other call goes straight to libc.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/netlink.h>
#include <rdma/ib_user_verbs.h>

#define FAKE_PREFIX "/dev/infiniband/uverbs"
#define MAX_FAKE_FDS 64

static int fake_fds[MAX_FAKE_FDS];
static int fake_count;

static int is_fake_path(const char *path) {
  return path && strncmp(path, FAKE_PREFIX, sizeof(FAKE_PREFIX) - 1) == 0;
}

static int is_fake_fd(int fd) {
  for (int i = 0; i < fake_count; i++)
    if (fake_fds[i] == fd) return 1;
  return 0;
}

static void forget_fd(int fd) {
  for (int i = 0; i < fake_count; i++)
    if (fake_fds[i] == fd) {
      fake_fds[i] = fake_fds[--fake_count];
      return;
    }
}

int stat(const char *path, struct stat *buf) {
  static int (*real)(const char *, struct stat *);
  if (!real) real = dlsym(RTLD_NEXT, "stat");
  return real(is_fake_path(path) ? "/dev/null" : path, buf);
}

int open(const char *path, int flags, ...) {
  static int (*real)(const char *, int, ...);
  if (!real) real = dlsym(RTLD_NEXT, "open");
  mode_t mode = 0;
  if (flags & (O_CREAT | O_TMPFILE)) {
    va_list ap;
    va_start(ap, flags);
    mode = va_arg(ap, mode_t);
    va_end(ap);
  }
  if (!is_fake_path(path)) return real(path, flags, mode);
  int fd = real("/dev/null", flags, mode);
  if (fd >= 0 && fake_count < MAX_FAKE_FDS) fake_fds[fake_count++] = fd;
  return fd;
}

int close(int fd) {
  static int (*real)(int);
  if (!real) real = dlsym(RTLD_NEXT, "close");
  if (is_fake_fd(fd)) forget_fd(fd);
  return real(fd);
}

ssize_t write(int fd, const void *buf, size_t count) {
  static ssize_t (*real)(int, const void *, size_t);
  if (!real) real = dlsym(RTLD_NEXT, "write");
  if (!is_fake_fd(fd) || count < sizeof(struct ib_uverbs_cmd_hdr)) return real(fd, buf, count);
  const struct ib_uverbs_cmd_hdr *hdr = buf;
  if (hdr->command != IB_USER_VERBS_CMD_CREATE_COMP_CHANNEL) {
    errno = EOPNOTSUPP;
    return -1;
  }
  const struct ib_uverbs_create_comp_channel *cmd = (const void *)(hdr + 1);
  struct ib_uverbs_create_comp_channel_resp *resp = (void *)(uintptr_t)cmd->response;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC)) return -1;
  /* The write end stays open for the process's life, so a reader never sees EOF; the
     provider opens its own writer through /proc/self/fd/<read end>. */
  resp->fd = (uint32_t)fds[0];
  return (ssize_t)count;
}

int socket(int domain, int type, int protocol) {
  static int (*real)(int, int, int);
  if (!real) real = dlsym(RTLD_NEXT, "socket");
  if (domain == AF_NETLINK && protocol == NETLINK_RDMA) {
    errno = EPROTONOSUPPORT;
    return -1;
  }
  return real(domain, type, protocol);
}
