/*
 * A stand-in for the tether, for testing the boot path without .NET: iso/build.sh puts it at
 * /tether/vic-tether when TETHER=placeholder. It prints what the real tether can rely on (one
 * "placeholder: key=value" line each), says hello over the vic.channel virtio-serial port, then
 * powers the VM off.
 *
 * Kernel command line knobs (for tests):
 *   vic.placeholder.wait=/dev/vda   wait up to 20 s for that path to appear (PCI hot-add tests)
 *   vic.placeholder.echo            after the hello, echo one line read from the channel back
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static char cmdline[4096];

static double uptime_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_BOOTTIME, &ts);
    return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

static int cmdline_get(const char *key, char *value, size_t size)
{
    size_t length = strlen(key);
    for (char *p = cmdline; *p;) {
        while (*p == ' ')
            p++;
        size_t word = strcspn(p, " ");
        if (word >= length && strncmp(p, key, length) == 0 && (word == length || p[length] == '=')) {
            size_t n = word > length ? word - length - 1 : 0;
            if (n >= size)
                n = size - 1;
            memcpy(value, p + length + 1, n);
            value[n] = 0;
            return 1;
        }
        p += word;
    }
    return 0;
}

static void print_file_lines(const char *key, const char *path, int field)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        printf("placeholder: %s=(%s: %s)\n", key, path, strerror(errno));
        return;
    }
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        if (field < 0) {
            printf("placeholder: %s=%s\n", key, line);
            continue;
        }
        /* keep the first field+1 space-separated words */
        int words = 0;
        for (char *p = line; *p; p++)
            if (*p == ' ' && ++words > field) {
                *p = 0;
                break;
            }
        printf("placeholder: %s=%s\n", key, line);
    }
    fclose(f);
}

int main(int argc, char **argv)
{
    (void)argc;
    printf("VIC-TETHER-PLACEHOLDER pid=%d uptime_ms=%.0f\n", getpid(), uptime_ms());
    fflush(stdout);

    int fd = open("/proc/cmdline", O_RDONLY);
    if (fd >= 0) {
        ssize_t n = read(fd, cmdline, sizeof cmdline - 1);
        if (n > 0)
            cmdline[n - (cmdline[n - 1] == '\n')] = 0;
        close(fd);
    }
    printf("placeholder: argv0=%s\n", argv[0]);
    printf("placeholder: cmdline=%s\n", cmdline);
    for (char **e = environ; *e; e++)
        printf("placeholder: env=%s\n", *e);
    print_file_lines("mount", "/proc/mounts", 3);
    print_file_lines("module", "/proc/modules", 0);

    DIR *ports = opendir("/dev/virtio-ports");
    struct dirent *entry;
    while (ports && (entry = readdir(ports))) {
        if (entry->d_name[0] == '.')
            continue;
        char link[300], target[300];
        snprintf(link, sizeof link, "/dev/virtio-ports/%s", entry->d_name);
        ssize_t n = readlink(link, target, sizeof target - 1);
        target[n > 0 ? n : 0] = 0;
        printf("placeholder: port=%s -> %s\n", link, target);
    }
    if (ports)
        closedir(ports);

    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct ifreq request;
    memset(&request, 0, sizeof request);
    strcpy(request.ifr_name, "lo");
    if (s >= 0 && ioctl(s, SIOCGIFFLAGS, &request) == 0)
        printf("placeholder: lo=%s\n", (request.ifr_flags & IFF_UP) ? "up" : "down");
    if (s >= 0)
        close(s);

    struct stat st;
    printf("placeholder: vic-exec=%s\n", stat("/sbin/vic-exec", &st) == 0 && (st.st_mode & 0111) ? "yes" : "no");
    printf("placeholder: ptmx=%s\n", access("/dev/ptmx", R_OK | W_OK) == 0 ? "yes" : "no");

    char wait_for[256];
    if (cmdline_get("vic.placeholder.wait", wait_for, sizeof wait_for) && wait_for[0]) {
        printf("placeholder: waiting for %s\n", wait_for);
        fflush(stdout);
        double start = uptime_ms();
        while (access(wait_for, F_OK) != 0 && uptime_ms() - start < 20000)
            usleep(20000);
        printf("placeholder: appeared %s=%s after %.0f ms\n", wait_for, access(wait_for, F_OK) == 0 ? "yes" : "no",
               uptime_ms() - start);
    }

    char channel[256] = "/dev/virtio-ports/vic.channel";
    cmdline_get("vic.channel", channel, sizeof channel);
    /* Writes to a virtio-serial port block until the host side is connected: wait at most 10 s. */
    int c = open(channel, O_RDWR | O_NOCTTY | O_NONBLOCK);
    if (c >= 0) {
        static const char hello[] = "VIC-TETHER-PLACEHOLDER hello\n";
        ssize_t w = -1;
        for (double start = uptime_ms(); uptime_ms() - start < 10000;) {
            struct pollfd ready = {.fd = c, .events = POLLOUT};
            /* POLLHUP (no host yet) returns at once: try again shortly. */
            if (poll(&ready, 1, 100) == 1 && (ready.revents & POLLOUT)) {
                w = write(c, hello, sizeof hello - 1);
                break;
            }
            usleep(10000);
        }
        printf("placeholder: channel=%s wrote=%zd\n", channel, w);
        char ignored[8];
        if (cmdline_get("vic.placeholder.echo", ignored, sizeof ignored)) {
            char line[256];
            size_t used = 0;
            struct pollfd input = {.fd = c, .events = POLLIN};
            while (used < sizeof line - 1 && poll(&input, 1, 10000) == 1) {
                ssize_t r = read(c, line + used, 1);
                if (r <= 0)
                    break;
                if (line[used++] == '\n')
                    break;
            }
            line[used] = 0;
            w = write(c, line, used);
            line[strcspn(line, "\n")] = 0;
            printf("placeholder: echoed=%s\n", line);
        }
        fsync(c);
        close(c);
    } else {
        printf("placeholder: channel=%s error=%s\n", channel, strerror(errno));
    }
    printf("placeholder: done uptime_ms=%.0f\n", uptime_ms());
    fflush(stdout);
    sync();
    reboot(RB_POWER_OFF);
    for (;;)
        pause();
}
