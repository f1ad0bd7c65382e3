/*
 * vic-exec: how the tether starts every container process (the main one and each exec session).
 * Something like tini + chroot + setpriv in one small static binary:
 *
 *   vic-exec [--root DIR] [--workdir DIR] [--uid N] [--gid N] [--groups G1,G2] [--tty /dev/pts/N]
 *            [--exec-fd N] [--cgroup DIR]... [--oom-score-adj N] [--cpus LIST] [--rlimit NAME=SOFT:HARD]...
 *            [--caps N1,N2] [--no-new-privs] -- PROGRAM ARGS...
 *
 * It becomes a child subreaper and forks. The child starts a new session (and with --tty makes
 * that terminal its controlling terminal and its stdio; without it keeps the inherited stdio),
 * chroots into --root, changes to --workdir (created if missing, as Docker does), drops to
 * --groups/--gid/--uid, arranges to die with vic-exec, and executes PROGRAM, looked up in the PATH
 * of its environment inside the new root. When that fails it prints Docker's message and exits
 * 127 (not found) or 126 (not executable). With --exec-fd the child keeps that descriptor (the write
 * end of the caller's pipe) open, close-on-exec, until its exec: the caller reads end-of-file the
 * moment the program runs (or the child fails), which is when dockerd calls a container started;
 * a child that cannot exec the program writes one byte there first.
 *
 * The confinement runc applies, in the child before the exec: it joins each --cgroup (the v2 one
 * where the tether set a pids limit, the v1 devices one), takes --oom-score-adj, runs on the --cpus list, sets each --rlimit
 * (-1 for unlimited), keeps in its capability bounding set only the numbers --caps lists (dropped
 * before the uid changes, while it may still drop them; a root program then has just those, any
 * other user none, as under runc) and, with --no-new-privs, can gain no privilege by an exec.
 *
 * The parent forwards every signal it can catch to the child, reaps every orphan reparented to
 * it, and when the child ends exits with its status: the exit code, or 128+N if signal N killed
 * it. It never reads or writes the container's stdio.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define MAX_GROUPS 256
#define MAX_RLIMITS 32
#define MAX_CGROUPS 4
#define CAP_COUNT 64

struct limit {
    int resource;
    struct rlimit value;
};

struct options {
    const char *root, *workdir, *tty, *cpus;
    const char *cgroups[MAX_CGROUPS];
    int cgroup_count;
    uid_t uid;
    gid_t gid;
    int has_uid, has_gid, has_groups;
    int exec_fd;
    gid_t groups[MAX_GROUPS];
    size_t group_count;
    int has_oom_score_adj, oom_score_adj;
    struct limit rlimits[MAX_RLIMITS];
    size_t rlimit_count;
    int has_caps, no_new_privs;
    unsigned char keep_cap[CAP_COUNT];
    char **argv;
};

static const struct {
    const char *name;
    int resource;
} rlimit_names[] = {
    {"as", RLIMIT_AS}, {"core", RLIMIT_CORE}, {"cpu", RLIMIT_CPU}, {"data", RLIMIT_DATA},
    {"fsize", RLIMIT_FSIZE}, {"locks", RLIMIT_LOCKS}, {"memlock", RLIMIT_MEMLOCK},
    {"msgqueue", RLIMIT_MSGQUEUE}, {"nice", RLIMIT_NICE}, {"nofile", RLIMIT_NOFILE},
    {"nproc", RLIMIT_NPROC}, {"rss", RLIMIT_RSS}, {"rtprio", RLIMIT_RTPRIO},
    {"rttime", RLIMIT_RTTIME}, {"sigpending", RLIMIT_SIGPENDING}, {"stack", RLIMIT_STACK},
};

static void usage(const char *why)
{
    fprintf(stderr, "vic-exec: %s\nusage: vic-exec [--root DIR] [--workdir DIR] [--uid N] [--gid N] "
                    "[--groups G1,G2] [--tty /dev/pts/N] [--exec-fd N] [--cgroup DIR]... [--oom-score-adj N] "
                    "[--cpus LIST] [--rlimit NAME=SOFT:HARD]... [--caps N1,N2] [--no-new-privs] -- PROGRAM ARGS...\n", why);
    exit(125);
}

static unsigned long parse_id(const char *text, const char *what)
{
    char *end;
    errno = 0;
    unsigned long value = strtoul(text, &end, 10);
    if (errno || end == text || *end || value > UINT_MAX - 1) {
        fprintf(stderr, "vic-exec: bad %s: %s\n", what, text);
        exit(125);
    }
    return value;
}

static rlim_t parse_rlim(const char *text, const char *spec)
{
    char *end;
    errno = 0;
    long long value = strtoll(text, &end, 10);
    if (errno || end == text || (*end && *end != ':') || value < -1) {
        fprintf(stderr, "vic-exec: bad rlimit: %s\n", spec);
        exit(125);
    }
    return value == -1 ? RLIM_INFINITY : (rlim_t)value;
}

/* NAME=SOFT:HARD, as Docker's --ulimit gives it. */
static void parse_rlimit(const char *spec, struct options *o)
{
    const char *eq = strchr(spec, '=');
    const char *colon = eq ? strchr(eq, ':') : NULL;
    if (!eq || !colon || o->rlimit_count == MAX_RLIMITS) {
        fprintf(stderr, "vic-exec: bad rlimit: %s\n", spec);
        exit(125);
    }
    for (size_t i = 0; i < sizeof rlimit_names / sizeof rlimit_names[0]; i++) {
        if (strlen(rlimit_names[i].name) == (size_t)(eq - spec) && strncmp(spec, rlimit_names[i].name, eq - spec) == 0) {
            struct limit *limit = &o->rlimits[o->rlimit_count++];
            limit->resource = rlimit_names[i].resource;
            limit->value.rlim_cur = parse_rlim(eq + 1, spec);
            limit->value.rlim_max = parse_rlim(colon + 1, spec);
            return;
        }
    }
    fprintf(stderr, "vic-exec: unknown rlimit: %s\n", spec);
    exit(125);
}

static void parse(int argc, char **argv, struct options *o)
{
    memset(o, 0, sizeof *o);
    o->exec_fd = -1;
    int i = 1;
    for (; i < argc; i++) {
        char *arg = argv[i];
        if (strcmp(arg, "--") == 0) {
            i++;
            break;
        }
        if (strcmp(arg, "--no-new-privs") == 0) {
            o->no_new_privs = 1;
            continue;
        }
        if (strncmp(arg, "--", 2) != 0)
            break;
        char *value = strchr(arg, '=');
        size_t name_length = value ? (size_t)(value - arg) : strlen(arg);
        if (value)
            value++;
        else if (i + 1 < argc)
            value = argv[++i];
        else
            usage("missing value");
#define IS(name) (name_length == strlen(name) && strncmp(arg, name, name_length) == 0)
        if (IS("--root")) {
            o->root = value;
        } else if (IS("--workdir")) {
            o->workdir = value;
        } else if (IS("--tty")) {
            o->tty = value;
        } else if (IS("--uid")) {
            o->uid = parse_id(value, "uid");
            o->has_uid = 1;
        } else if (IS("--gid")) {
            o->gid = parse_id(value, "gid");
            o->has_gid = 1;
        } else if (IS("--cgroup")) {
            if (o->cgroup_count == MAX_CGROUPS)
                usage("too many --cgroup");
            o->cgroups[o->cgroup_count++] = value;
        } else if (IS("--cpus")) {
            o->cpus = value;
        } else if (IS("--oom-score-adj")) {
            o->has_oom_score_adj = 1;
            o->oom_score_adj = atoi(value);
        } else if (IS("--rlimit")) {
            parse_rlimit(value, o);
        } else if (IS("--caps")) {
            o->has_caps = 1;
            char *copy = strdup(value);
            for (char *save = NULL, *c = strtok_r(copy, ",", &save); c; c = strtok_r(NULL, ",", &save)) {
                unsigned long cap = parse_id(c, "capability");
                if (cap >= CAP_COUNT)
                    usage("capability out of range");
                o->keep_cap[cap] = 1;
            }
            free(copy);
        } else if (IS("--exec-fd")) {
            o->exec_fd = (int)parse_id(value, "exec fd");
        } else if (IS("--groups")) {
            o->has_groups = 1;
            char *copy = strdup(value);
            for (char *save = NULL, *g = strtok_r(copy, ",", &save); g; g = strtok_r(NULL, ",", &save)) {
                if (o->group_count == MAX_GROUPS)
                    usage("too many groups");
                o->groups[o->group_count++] = parse_id(g, "group");
            }
            free(copy);
        } else {
            fprintf(stderr, "vic-exec: unknown option %.*s\n", (int)name_length, arg);
            exit(125);
        }
#undef IS
    }
    if (i >= argc)
        usage("no program");
    o->argv = argv + i;
}

/* The child's copy of --exec-fd: a byte written to it before the end says the exec failed. */
static int report_fd = -1;

/* Fails like Docker (runc) does; 127 for "not there", 126 for "there but cannot run". */
static void __attribute__((noreturn)) fail(const char *program, const char *detail, int code)
{
    fprintf(stderr, "exec: \"%s\": %s\n", program, detail);
    fflush(stderr);
    if (report_fd >= 0 && write(report_fd, "F", 1) < 0) {
        /* the caller went away: the exit status still tells */
    }
    _exit(code);
}

static void __attribute__((noreturn)) exec_failed(const char *program, int error)
{
    char detail[256];
    switch (error) {
    case EACCES:
    case EPERM:
        fail(program, "permission denied", 126);
    case ENOENT:
        fail(program, "no such file or directory", 127);
    default:
        snprintf(detail, sizeof detail, "%s", strerror(error));
        detail[0] = (char)(detail[0] >= 'A' && detail[0] <= 'Z' ? detail[0] - 'A' + 'a' : detail[0]);
        fail(program, detail, 126);
    }
}

/* 0 if path is a file with an execute bit (Go's exec.LookPath test), else an errno. */
static int executable(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return errno;
    if (S_ISDIR(st.st_mode))
        return EISDIR;
    if (!(st.st_mode & 0111))
        return EACCES;
    return 0;
}

static void __attribute__((noreturn)) run(char **argv)
{
    const char *program = argv[0];
    char detail[PATH_MAX + 64];
    if (strchr(program, '/')) {
        int error = executable(program);
        if (error == ENOENT || error == ENOTDIR) {
            snprintf(detail, sizeof detail, "stat %s: no such file or directory", program);
            fail(program, detail, 127);
        }
        if (error == EISDIR)
            fail(program, "is a directory", 126);
        if (error)
            exec_failed(program, error);
        execve(program, argv, environ);
        exec_failed(program, errno);
    }

    const char *path = getenv("PATH");
    if (!path)
        path = DEFAULT_PATH;
    char candidate[PATH_MAX];
    for (const char *p = path;; p++) {
        const char *end = strchrnul(p, ':');
        size_t length = end - p;
        if (length == 0)
            snprintf(candidate, sizeof candidate, "%s", program); /* empty entry: the working directory */
        else
            snprintf(candidate, sizeof candidate, "%.*s/%s", (int)length, p, program);
        if (executable(candidate) == 0) {
            execve(candidate, argv, environ);
            exec_failed(program, errno);
        }
        if (!*end)
            break;
        p = end;
    }
    fail(program, "executable file not found in $PATH", 127);
}

static int mkdir_p(const char *path)
{
    char buffer[PATH_MAX];
    if (snprintf(buffer, sizeof buffer, "%s", path) >= (int)sizeof buffer)
        return ENAMETOOLONG;
    for (char *p = buffer + 1; *p; p++) {
        if (*p == '/') {
            *p = 0;
            if (mkdir(buffer, 0755) != 0 && errno != EEXIST)
                return errno;
            *p = '/';
        }
    }
    if (mkdir(buffer, 0755) != 0 && errno != EEXIST)
        return errno;
    return 0;
}

static void __attribute__((noreturn)) die(const char *what, const char *detail)
{
    fprintf(stderr, "vic-exec: %s: %s\n", what, detail);
    _exit(125);
}

/* What applies to the process in the VM's view: before the chroot, which hides /sys and maybe /proc. */
static void confine_outside(const struct options *o)
{
    for (int i = 0; i < o->cgroup_count; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/cgroup.procs", o->cgroups[i]);
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, "0\n", 2) != 2)
            die(path, strerror(errno));
        close(fd);
    }
    if (o->has_oom_score_adj) {
        char value[32];
        int length = snprintf(value, sizeof value, "%d\n", o->oom_score_adj);
        int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, value, length) != length)
            die("oom_score_adj", strerror(errno));
        close(fd);
    }
    if (o->cpus) {
        /* "0-1,3": the container's CPUs, checked by the endpoint against the VM's. */
        cpu_set_t set;
        CPU_ZERO(&set);
        for (const char *p = o->cpus; *p;) {
            char *end;
            unsigned long first = strtoul(p, &end, 10), last = first;
            if (end == p)
                die("cpus", o->cpus);
            if (*end == '-') {
                p = end + 1;
                last = strtoul(p, &end, 10);
                if (end == p)
                    die("cpus", o->cpus);
            }
            for (unsigned long cpu = first; cpu <= last && cpu < CPU_SETSIZE; cpu++)
                CPU_SET(cpu, &set);
            p = *end == ',' ? end + 1 : end;
            if (*end && *end != ',')
                die("cpus", o->cpus);
        }
        if (sched_setaffinity(0, sizeof set, &set) != 0)
            die("cpus", strerror(errno));
    }
    for (size_t i = 0; i < o->rlimit_count; i++)
        if (setrlimit(o->rlimits[i].resource, &o->rlimits[i].value) != 0)
            die("setrlimit", strerror(errno));
}

/* Drops every capability not kept from the bounding set: needs CAP_SETPCAP, so before the uid changes. */
static void drop_capabilities(const struct options *o)
{
    if (!o->has_caps)
        return;
    for (int cap = 0; cap < CAP_COUNT; cap++) {
        if (o->keep_cap[cap])
            continue;
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) /* EINVAL: beyond the kernel's last */
            die("drop capabilities", strerror(errno));
    }
}

static void __attribute__((noreturn)) child(const struct options *o, pid_t parent, const sigset_t *original)
{
    if (setsid() < 0) {
        fprintf(stderr, "vic-exec: setsid: %s\n", strerror(errno));
        _exit(125);
    }
    if (o->tty) {
        /* Before the chroot: the terminal lives in the VM's /dev, which the container may not see. */
        int fd = open(o->tty, O_RDWR | O_NOCTTY);
        if (fd < 0 || ioctl(fd, TIOCSCTTY, 0) != 0) {
            fprintf(stderr, "vic-exec: tty %s: %s\n", o->tty, strerror(errno));
            _exit(125);
        }
        for (int i = 0; i < 3; i++)
            dup2(fd, i);
        if (fd > 2)
            close(fd);
    }
    confine_outside(o);
    if (o->root) {
        if (chroot(o->root) != 0 || chdir("/") != 0) {
            fprintf(stderr, "vic-exec: chroot %s: %s\n", o->root, strerror(errno));
            _exit(125);
        }
    }
    if (o->workdir && o->workdir[0]) {
        int error = mkdir_p(o->workdir);
        if (error || chdir(o->workdir) != 0) {
            fprintf(stderr, "vic-exec: workdir %s: %s\n", o->workdir, strerror(error ? error : errno));
            _exit(125);
        }
    }
    drop_capabilities(o);
    if (o->has_groups) {
        if (setgroups(o->group_count, o->groups) != 0) {
            fprintf(stderr, "vic-exec: setgroups: %s\n", strerror(errno));
            _exit(125);
        }
    } else if ((o->has_uid || o->has_gid) && setgroups(0, NULL) != 0 && errno != EPERM) {
        fprintf(stderr, "vic-exec: setgroups: %s\n", strerror(errno));
        _exit(125);
    }
    if (o->has_gid && setgid(o->gid) != 0) {
        fprintf(stderr, "vic-exec: setgid %u: %s\n", (unsigned)o->gid, strerror(errno));
        _exit(125);
    }
    if (o->has_uid && setuid(o->uid) != 0) {
        fprintf(stderr, "vic-exec: setuid %u: %s\n", (unsigned)o->uid, strerror(errno));
        _exit(125);
    }
    /* After the credential change, which clears it: die when vic-exec dies, even by SIGKILL. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (o->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        die("no-new-privileges", strerror(errno));
    if (getppid() != parent)
        _exit(137);
    /* A container process starts with stdin, stdout and stderr only, whatever the tether left open. */
    int keep = o->exec_fd;
    if (keep < 3) {
        if (close_range(3, ~0U, 0) != 0)
            for (int fd = 3; fd < 1024; fd++)
                close(fd);
    } else if ((keep > 3 && close_range(3, keep - 1, 0) != 0) || close_range(keep + 1, ~0U, 0) != 0) {
        for (int fd = 3; fd < 1024; fd++)
            if (fd != keep)
                close(fd);
    }
    if (keep >= 0)
        fcntl(keep, F_SETFD, FD_CLOEXEC);
    report_fd = keep;
    sigprocmask(SIG_SETMASK, original, NULL);
    run(o->argv);
}

static int forwarded(int sig)
{
    switch (sig) {
    case SIGKILL:
    case SIGSTOP:
    case SIGCHLD:
    /* Raised by faults: blocking them would hide our own crash. */
    case SIGSEGV:
    case SIGBUS:
    case SIGILL:
    case SIGFPE:
    case SIGTRAP:
    case SIGSYS:
        return 0;
    default:
        return 1;
    }
}

int main(int argc, char **argv)
{
    struct options options;
    parse(argc, argv, &options);

    /* The tether (.NET) ignores SIGPIPE and blocks some signals; the container must start clean. */
    sigset_t all, original;
    sigemptyset(&original);
    for (int sig = 1; sig < NSIG; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP)
            continue;
        signal(sig, SIG_DFL); /* fails harmlessly for glibc's reserved real-time signals */
    }
    sigfillset(&all);
    for (int sig = 1; sig < NSIG; sig++)
        if (!forwarded(sig) && sig != SIGCHLD)
            sigdelset(&all, sig);
    sigprocmask(SIG_SETMASK, &all, NULL);

    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0)
        fprintf(stderr, "vic-exec: subreaper: %s\n", strerror(errno));

    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "vic-exec: fork: %s\n", strerror(errno));
        return 125;
    }
    if (pid == 0)
        child(&options, parent, &original);

    /* Only the child's copy may keep the caller waiting for the exec. */
    if (options.exec_fd >= 0)
        close(options.exec_fd);

    /* The container's stdio belongs to the child; keep stderr for our own (rare) messages. */
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
        dup2(null, 0);
        dup2(null, 1);
        if (null > 2)
            close(null);
    }

    for (;;) {
        siginfo_t info;
        int sig = sigwaitinfo(&all, &info);
        if (sig < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "vic-exec: sigwaitinfo: %s\n", strerror(errno));
            kill(pid, SIGKILL);
            return 125;
        }
        if (sig != SIGCHLD) {
            kill(pid, sig);
            continue;
        }
        for (;;) {
            int status;
            pid_t reaped = waitpid(-1, &status, WNOHANG);
            if (reaped <= 0)
                break;
            if (reaped == pid) {
                /* Reap whatever else has already ended; live orphans go on to PID 1. */
                while (waitpid(-1, NULL, WNOHANG) > 0) {
                }
                if (WIFEXITED(status))
                    return WEXITSTATUS(status);
                if (WIFSIGNALED(status))
                    return 128 + WTERMSIG(status);
                return 125;
            }
        }
    }
}
