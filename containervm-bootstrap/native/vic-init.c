/*
 * vic-init: PID 1 of a ContainerVM until the tether takes over.
 *
 * It prepares the little the tether (a .NET program) needs and then replaces itself with it:
 *   - mounts /proc, /sys, devtmpfs on /dev (+ /dev/pts, /dev/shm), tmpfs on /run and /tmp,
 *     cgroup2 on /sys/fs/cgroup;
 *   - loads the kernel modules listed in /lib/modules/modules.order (dependency order);
 *   - links /dev/virtio-ports/<name> to each named virtio-serial port, as udev would;
 *   - brings up lo;
 *   - execs /tether/vic-tether (or the path in vic.tether=... on the kernel command line).
 *
 * It prints nothing unless something fails or the command line has vic.debug (then it prints
 * per-step timings). If the tether cannot be executed it says why on the console and powers the
 * VM off: a ContainerVM must never hang or panic-loop.
 *
 * Built static (no loader, no libc in the initramfs needed for it).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define DEFAULT_TETHER "/tether/vic-tether"
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define MODULES_DIR "/lib/modules"

static int debug;
static char cmdline[4096];

static double now_ms(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

static void say(const char *format, ...)
{
    char line[1024];
    va_list args;
    va_start(args, format);
    int n = vsnprintf(line, sizeof line - 1, format, args);
    va_end(args);
    if (n < 0)
        return;
    if (n > (int)sizeof line - 2)
        n = sizeof line - 2;
    line[n++] = '\n';
    /* fd 2 is the console (opened by the kernel or by ensure_console). */
    ssize_t ignored = write(2, line, n);
    (void)ignored;
}

/* Prints a step's time (debug only) and returns the new start. */
static double step(const char *name, double since, const char *detail)
{
    double t = now_ms(CLOCK_MONOTONIC);
    if (debug)
        say("vic-init: %-10s %7.1f ms%s%s", name, t - since, detail ? "  " : "", detail ? detail : "");
    return t;
}

static void power_off(void)
{
    sync();
    reboot(RB_POWER_OFF);
    /* Power off failed (no ACPI?): halt; never return, since PID 1 exiting panics the kernel. */
    reboot(RB_HALT_SYSTEM);
    for (;;)
        pause();
}

static void mkdirs(const char *path, mode_t mode)
{
    char buffer[4096];
    snprintf(buffer, sizeof buffer, "%s", path);
    for (char *p = buffer + 1; *p; p++) {
        if (*p == '/') {
            *p = 0;
            mkdir(buffer, 0755);
            *p = '/';
        }
    }
    mkdir(buffer, mode);
}

static void mount_one(const char *source, const char *target, const char *type, unsigned long flags, const char *data)
{
    mkdirs(target, 0755);
    if (mount(source, target, type, flags, data) != 0 && errno != EBUSY)
        say("vic-init: mount %s on %s: %s", type, target, strerror(errno));
}

/* With no /dev/console in the initramfs the kernel starts us without fds 0-2: open them now. */
static void ensure_console(void)
{
    if (fcntl(2, F_GETFD) != -1)
        return;
    int fd = open("/dev/console", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return;
    for (int i = 0; i < 3; i++)
        if (fcntl(i, F_GETFD) == -1)
            dup2(fd, i);
    if (fd > 2)
        close(fd);
}

static void read_cmdline(void)
{
    int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t n = read(fd, cmdline, sizeof cmdline - 1);
    close(fd);
    if (n > 0) {
        cmdline[n] = 0;
        if (cmdline[n - 1] == '\n')
            cmdline[n - 1] = 0;
    }
}

/* The value of key=value on the command line (copied into value), or 1 for a bare key. 0 if absent. */
static int cmdline_get(const char *key, char *value, size_t size)
{
    size_t length = strlen(key);
    for (char *p = cmdline; *p;) {
        while (*p == ' ')
            p++;
        char *end = strchr(p, ' ');
        size_t word = end ? (size_t)(end - p) : strlen(p);
        if (word >= length && strncmp(p, key, length) == 0) {
            if (word == length) {
                if (value && size)
                    value[0] = 0;
                return 1;
            }
            if (p[length] == '=') {
                size_t n = word - length - 1;
                if (value && size) {
                    if (n >= size)
                        n = size - 1;
                    memcpy(value, p + length + 1, n);
                    value[n] = 0;
                }
                return 1;
            }
        }
        p += word;
    }
    return 0;
}

static int load_modules(char *detail, size_t size)
{
    FILE *order = fopen(MODULES_DIR "/modules.order", "re");
    if (!order) {
        snprintf(detail, size, "(no modules.order)");
        return 0;
    }
    char line[512], path[640];
    int loaded = 0, present = 0, failed = 0;
    while (fgets(line, sizeof line, order)) {
        line[strcspn(line, "\r\n")] = 0;
        if (!line[0] || line[0] == '#')
            continue;
        if (line[0] == '/')
            snprintf(path, sizeof path, "%s", line);
        else
            snprintf(path, sizeof path, MODULES_DIR "/%s", line);
        double start = now_ms(CLOCK_MONOTONIC);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            say("vic-init: module %s: %s", path, strerror(errno));
            failed++;
            continue;
        }
        if (syscall(SYS_finit_module, fd, "", 0) == 0) {
            loaded++;
        } else if (errno == EEXIST) {
            present++;
        } else {
            say("vic-init: module %s: %s", path, strerror(errno));
            failed++;
        }
        close(fd);
        if (debug > 1)
            say("vic-init:   %s %.1f ms", line, now_ms(CLOCK_MONOTONIC) - start);
    }
    fclose(order);
    snprintf(detail, size, "(%d loaded, %d already there, %d failed)", loaded, present, failed);
    return failed;
}

/* Links /dev/virtio-ports/<name> -> ../vportXpY for every named port; returns how many are linked. */
static int link_virtio_ports(const char *wanted, int *found_wanted)
{
    DIR *ports = opendir("/sys/class/virtio-ports");
    int linked = 0;
    if (!ports)
        return 0;
    struct dirent *entry;
    while ((entry = readdir(ports))) {
        if (entry->d_name[0] == '.')
            continue;
        char path[512], name[256], link[512], target[300];
        snprintf(path, sizeof path, "/sys/class/virtio-ports/%s/name", entry->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        ssize_t n = read(fd, name, sizeof name - 1);
        close(fd);
        if (n <= 0)
            continue;
        name[n] = 0;
        name[strcspn(name, "\n")] = 0;
        if (!name[0] || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
            continue;
        snprintf(link, sizeof link, "/dev/virtio-ports/%s", name);
        snprintf(target, sizeof target, "../%s", entry->d_name);
        mkdir("/dev/virtio-ports", 0755);
        char existing[300];
        ssize_t e = readlink(link, existing, sizeof existing - 1);
        if (e < 0 || (existing[e] = 0, strcmp(existing, target) != 0)) {
            unlink(link);
            if (symlink(target, link) != 0) {
                say("vic-init: symlink %s: %s", link, strerror(errno));
                continue;
            }
        }
        linked++;
        if (wanted && strcmp(link, wanted) == 0)
            *found_wanted = 1;
    }
    closedir(ports);
    return linked;
}

/*
 * virtio-serial ports and their names arrive from the host through the control queue after the
 * driver probes, a little later than the module load returns. If the command line names the
 * channel (vic.channel=/dev/virtio-ports/NAME), wait for it (bounded); otherwise take one look.
 */
static void setup_virtio_ports(char *detail, size_t size)
{
    char wanted[256];
    int want = cmdline_get("vic.channel", wanted, sizeof wanted) && strncmp(wanted, "/dev/virtio-ports/", 18) == 0;
    int found = 0, linked = 0;
    double start = now_ms(CLOCK_MONOTONIC);
    /* Only wait if a virtio-serial controller exists at all. */
    int has_controller = access("/sys/bus/virtio/drivers/virtio_console", F_OK) == 0;
    for (;;) {
        linked = link_virtio_ports(want ? wanted : NULL, &found);
        if (!want || found || !has_controller)
            break;
        DIR *bound = opendir("/sys/bus/virtio/drivers/virtio_console");
        int devices = 0;
        if (bound) {
            struct dirent *entry;
            while ((entry = readdir(bound)))
                if (strncmp(entry->d_name, "virtio", 6) == 0)
                    devices++;
            closedir(bound);
        }
        if (devices == 0 || now_ms(CLOCK_MONOTONIC) - start > 5000)
            break;
        usleep(2000);
    }
    if (want && !found)
        say("vic-init: %s did not appear (%d named virtio ports)", wanted, linked);
    snprintf(detail, size, "(%d linked)", linked);
}

/*
 * On vSphere the channel is a serial port (vic.channel=/dev/ttyS0, backed by the network): the
 * frames are binary, so the line discipline must neither echo, nor translate, nor buffer lines.
 */
static void setup_serial_channel(void)
{
    char channel[256];
    if (!cmdline_get("vic.channel", channel, sizeof channel) || strncmp(channel, "/dev/tty", 8) != 0)
        return;
    int fd = open(channel, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        say("vic-init: %s: %s", channel, strerror(errno));
        return;
    }
    struct termios settings;
    if (tcgetattr(fd, &settings) == 0) {
        cfmakeraw(&settings);
        /* A break or a framing error would read as a NUL in raw mode: the host side of the
         * line reconnecting must not put bytes that are not frames into the channel. */
        settings.c_iflag |= IGNBRK | IGNPAR;
        settings.c_cflag |= CLOCAL | CREAD;
        cfsetspeed(&settings, B115200);
        if (tcsetattr(fd, TCSANOW, &settings) != 0)
            say("vic-init: raw mode on %s: %s", channel, strerror(errno));
    }
    close(fd);
}

static void loopback_up(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        say("vic-init: socket: %s", strerror(errno));
        return;
    }
    struct ifreq request;
    memset(&request, 0, sizeof request);
    strcpy(request.ifr_name, "lo");
    if (ioctl(fd, SIOCGIFFLAGS, &request) == 0) {
        request.ifr_flags |= IFF_UP | IFF_RUNNING;
        if (ioctl(fd, SIOCSIFFLAGS, &request) != 0)
            say("vic-init: lo up: %s", strerror(errno));
    } else {
        say("vic-init: lo: %s", strerror(errno));
    }
    close(fd);
}

static void dev_links(void)
{
    static const char *links[][2] = {
        {"/proc/self/fd", "/dev/fd"},
        {"/proc/self/fd/0", "/dev/stdin"},
        {"/proc/self/fd/1", "/dev/stdout"},
        {"/proc/self/fd/2", "/dev/stderr"},
        {"/proc/kcore", "/dev/core"},
    };
    for (size_t i = 0; i < sizeof links / sizeof links[0]; i++)
        if (symlink(links[i][0], links[i][1]) != 0 && errno != EEXIST)
            say("vic-init: symlink %s: %s", links[i][1], strerror(errno));
}

int main(int argc, char **argv)
{
    (void)argc;
    double boot = now_ms(CLOCK_BOOTTIME);
    double t0 = now_ms(CLOCK_MONOTONIC), t = t0;
    char detail[128];

    umask(022);
    mount_one("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    mount_one("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
    ensure_console();
    read_cmdline();
    char level[8];
    if (cmdline_get("vic.debug", level, sizeof level))
        debug = level[0] >= '2' && level[0] <= '9' ? level[0] - '0' : 1;
    mount_one("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    mount_one("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5");
    mount_one("shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
    mount_one("mqueue", "/dev/mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    mount_one("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
    mount_one("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
    mount_one("cgroup2", "/sys/fs/cgroup", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    dev_links();
    if (debug) {
        snprintf(detail, sizeof detail, "(kernel booted to init in %.0f ms)", boot);
        say("vic-init: start      %7.1f ms  %s", boot, detail);
    }
    t = step("mounts", t, NULL);

    load_modules(detail, sizeof detail);
    t = step("modules", t, detail);

    setup_virtio_ports(detail, sizeof detail);
    setup_serial_channel();
    t = step("ports", t, detail);

    loopback_up();
    t = step("lo", t, NULL);

    char tether[256] = DEFAULT_TETHER;
    if (!cmdline_get("vic.tether", tether, sizeof tether) || !tether[0])
        snprintf(tether, sizeof tether, "%s", DEFAULT_TETHER);
    if (!getenv("PATH"))
        setenv("PATH", DEFAULT_PATH, 1);
    char boot_ms[32];
    snprintf(boot_ms, sizeof boot_ms, "%.0f", now_ms(CLOCK_BOOTTIME));
    setenv("VIC_INIT_DONE_MS", boot_ms, 1);
    if (debug)
        say("vic-init: exec %s  (init took %.1f ms; %s ms since boot)", tether, t - t0, boot_ms);

    char *tether_argv[] = {tether, NULL};
    (void)argv;
    execve(tether, tether_argv, environ);
    say("vic-init: cannot exec %s: %s; powering off", tether, strerror(errno));
    power_off();
    return 1;
}
