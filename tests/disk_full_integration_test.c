/* disk_full_integration_test: a worker whose data directory is a small
 * tmpfs (issue 15, item 7).
 *
 * Fills the file system under a running worker and checks that: the write
 * that hit the full disk is answered NO_SPACE and nothing of it is stored;
 * ingest, submit and a lease that would be granted are refused with
 * NO_SPACE while status, item reads and a lease with nothing to give still
 * answer, and the counts are exactly what was acknowledged; after space is
 * freed, writes work again without a restart (the same lease submits); the
 * state survives a restart; a start on a read-only file system and a start
 * on a full one end with exit code 1 and a readable message.
 *
 * Needs root (mount -t tmpfs); where mounting is not permitted the test
 * exits 77, which ctest reports as skipped. Every exit path (normal end,
 * failure, deadline, SIGTERM) kills the daemons, then unmounts.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "harness.h"
#include "tally.h"
#include "tally_error.h"

#define SKIP 77
#define TMPFS_SIZE "64m"
#define CONTENT_BYTES (64 * 1024)
#define FILLERS 24

static cluster_t cluster;
static char mount_point[600]; /* non-empty while mounted */

static void unmount_now(void) {
  if (mount_point[0] == '\0') return;
  if (umount2(mount_point, 0) != 0) umount2(mount_point, MNT_DETACH);
  mount_point[0] = '\0';
}

/* Async-signal-safe enough for the deadline: kill, unmount, leave. */
static void on_fatal_signal(int sig) {
  static const char msg[] = "disk_full: stopping (deadline or signal); killing daemons, unmounting\n";
  if (write(2, msg, sizeof msg - 1) < 0) { /* nothing more to do */ }
  harness_kill_all();
  unmount_now();
  _exit(sig == SIGALRM ? 124 : 128 + sig);
}

static void at_exit(void) {
  harness_kill_all();
  unmount_now();
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static tally_t *client(void) {
  tally_t *t = NULL;
  if (tally_open(&t, cluster.coordinator_endpoint, 5000) != 0) {
    fprintf(stderr, "cannot open client\n");
    exit(1);
  }
  return t;
}

static uint64_t free_bytes(const char *path) {
  struct statvfs vfs;
  if (statvfs(path, &vfs) != 0) return 0;
  return (uint64_t)vfs.f_bavail * vfs.f_frsize;
}

/* Makes `path` take all but `leave` bytes of the file system's free space. */
static int fill(const char *path, uint64_t leave) {
  uint64_t avail = free_bytes(mount_point);
  uint64_t size = avail > leave ? avail - leave : 0;
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return -1;
  int rc = size > 0 ? posix_fallocate(fd, 0, (off_t)size) : 0;
  close(fd);
  return rc == 0 ? 0 : -1;
}

/* Ingests `count` items named prefix-N (content `content`). Returns the
 * call's code; *accepted and *no_space count the items. */
static int ingest(tally_t *t, const char *prefix, int from, int count, const char *content,
                  uint32_t *accepted, uint32_t *no_space) {
  tally_item_t items[16];
  char ids[16][64];
  for (int i = 0; i < count; i++) {
    snprintf(ids[i], sizeof ids[i], "%s-%d", prefix, from + i);
    items[i] = (tally_item_t){ids[i], "es", 1, content, NULL, NULL};
  }
  tally_ingest_result_t *res = NULL;
  int rc = tally_ingest(t, "full", items, (size_t)count, &res);
  *accepted = res ? res->accepted : 0;
  *no_space = 0;
  for (size_t i = 0; res && i < res->count; i++)
    if (res->items[i].code == TALLY_E_NO_SPACE) (*no_space)++;
  if (rc == TALLY_E_NO_SPACE && *no_space == 0) *no_space = (uint32_t)count;
  tally_free(res);
  return rc;
}

static uint64_t status_items(tally_t *t) {
  tally_status_t *st = NULL;
  int rc = tally_status(t, "full", &st);
  uint64_t items = rc == 0 && st && st->workers_failed == 0 ? st->total.items : UINT64_MAX;
  tally_free(st);
  return items;
}

/* One of the clients that fill the disk: ingests one big item at a time
 * until one is refused with NO_SPACE. */
typedef struct {
  int index;
  const char *content;
  uint64_t acknowledged;
  int refused_at; /* the number of its first refused item, -1 if none */
} filler_t;

static void *fill_by_ingest(void *arg) {
  filler_t *f = arg;
  tally_t *t = client();
  char prefix[32];
  snprintf(prefix, sizeof prefix, "big%d", f->index);
  for (int n = 0; n < 2000 && f->refused_at < 0; n++) {
    uint32_t accepted = 0, no_space = 0;
    int rc = ingest(t, prefix, n, 1, f->content, &accepted, &no_space);
    f->acknowledged += accepted;
    if (no_space > 0) f->refused_at = n;
    else if (rc != 0) break;
  }
  tally_close(&t);
  return NULL;
}

/* Runs tally-worker on worker 0's directory, expecting it to refuse to
 * start: returns its exit status (or -1) and its stderr in err[]. */
static int start_expecting_failure(char *err, size_t err_len) {
  char dir[600], log[700];
  snprintf(dir, sizeof dir, "%s/worker-0", cluster.dir);
  snprintf(log, sizeof log, "%s/worker-0.refused.log", cluster.dir);
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd >= 0) dup2(fd, 2);
    /* --insecure: the store is opened (and refused) before any key is used. */
    execl(harness_bin("tally-worker"), "tally-worker", "--dir", dir, "--coordinator",
          cluster.coordinator_endpoint, "--insecure", (char *)NULL);
    _exit(127);
  }
  int status = 0;
  for (int i = 0; i < 300; i++) { /* 30 s */
    if (waitpid(pid, &status, WNOHANG) == pid) break;
    if (i == 299) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1;
    }
    sleep_ms(100);
  }
  FILE *f = fopen(log, "r");
  size_t n = f ? fread(err, 1, err_len - 1, f) : 0;
  err[n] = '\0';
  if (f) fclose(f);
  if (WIFSIGNALED(status)) {
    fprintf(stderr, "worker died of signal %d:\n%s\n", WTERMSIG(status), err);
    return -1;
  }
  return WEXITSTATUS(status);
}

/* Moves worker 0's data onto a fresh tmpfs at the same path. 0, SKIP or -1. */
static int put_worker_on_tmpfs(void) {
  char dir[600], saved[700], command[2000];
  snprintf(dir, sizeof dir, "%s/worker-0", cluster.dir);
  snprintf(saved, sizeof saved, "%s/worker-0.saved", cluster.dir);
  cluster_kill_worker(&cluster, 0, SIGTERM);
  if (rename(dir, saved) != 0 || mkdir(dir, 0755) != 0) return -1;
  if (mount("tmpfs", dir, "tmpfs", 0, "size=" TMPFS_SIZE) != 0) {
    fprintf(stderr, "disk_full: cannot mount a tmpfs (%s); skipping\n", strerror(errno));
    return SKIP;
  }
  snprintf(mount_point, sizeof mount_point, "%s", dir);
  snprintf(command, sizeof command, "cp -a '%s'/. '%s'/", saved, dir);
  if (system(command) != 0) return -1;
  return cluster_start_worker(&cluster, 0);
}

int main(void) {
  harness_init(240);
  signal(SIGALRM, on_fatal_signal);
  signal(SIGTERM, on_fatal_signal);
  signal(SIGINT, on_fatal_signal);
  atexit(at_exit);
  if (geteuid() != 0) {
    fprintf(stderr, "disk_full: needs root to mount a tmpfs; skipping\n");
    return SKIP;
  }
  if (cluster_start(&cluster, 1) != 0) {
    fprintf(stderr, "cluster did not start\n");
    return 1;
  }
  int rc = put_worker_on_tmpfs();
  if (rc == SKIP) {
    cluster_stop(&cluster);
    return SKIP;
  }
  CHECK(rc == 0);
  if (rc != 0) {
    fprintf(stderr, "worker did not start on the tmpfs (see %s/worker-0.log)\n", cluster.dir);
    return check_summary();
  }

  tally_t *t = client();
  const char *labels[] = {"ok", "spam"};
  const char *markets[] = {"es"};
  tally_project_t spec = {0};
  spec.name = "full";
  spec.labels = labels;
  spec.label_count = 2;
  spec.markets = markets;
  spec.market_count = 1;
  spec.lease_seconds = 3600;
  tally_project_t *p = NULL;
  CHECK(tally_project_create(t, &spec, &p) == 0);
  tally_free(p);
  spec.name = "empty";
  CHECK(tally_project_create(t, &spec, &p) == 0);
  tally_free(p);
  tally_labeler_t lab = {"lab1", TALLY_ROLE_LABELER, markets, 1, NULL};
  tally_labeler_t *out = NULL;
  CHECK(tally_labeler_add(t, &lab, &out) == 0);
  tally_free(out);
  lab.id = "lab2";
  CHECK(tally_labeler_add(t, &lab, &out) == 0);
  tally_free(out);

  /* A few items, and a live lease to finish after the disk was full. */
  uint32_t accepted = 0, no_space = 0;
  uint64_t acknowledged = 0;
  CHECK(ingest(t, "small", 0, 10, "hola", &accepted, &no_space) == 0 && accepted == 10);
  acknowledged += accepted;
  tally_task_t *task = NULL;
  CHECK(tally_lease(t, "lab1", "full", TALLY_STAGE_LABEL, 0, &task) == 0 && task != NULL);
  uint32_t lease_slot = task ? task->slot : 0;
  uint64_t lease_id = task ? task->lease_id : 0;
  tally_free(task);

  /* Fill the file system, leave 2 MiB, then ingest big items until full. */
  char filler[700];
  snprintf(filler, sizeof filler, "%s/filler", mount_point);
  CHECK(fill(filler, 2u << 20) == 0);
  char *content = malloc(CONTENT_BYTES + 1);
  memset(content, 'x', CONTENT_BYTES);
  content[CONTENT_BYTES] = '\0';
  /* FILLERS clients at once, so that groups are large enough to be written
   * on the thread pool (the pipelined group commit) when the disk fills. */
  pthread_t threads[FILLERS];
  filler_t fillers[FILLERS];
  for (int i = 0; i < FILLERS; i++) {
    fillers[i] = (filler_t){i, content, 0, -1};
    pthread_create(&threads[i], NULL, fill_by_ingest, &fillers[i]);
  }
  int all_refused = 1;
  for (int i = 0; i < FILLERS; i++) {
    pthread_join(threads[i], NULL);
    acknowledged += fillers[i].acknowledged;
    if (fillers[i].refused_at < 0) all_refused = 0;
  }
  CHECK(all_refused);
  fprintf(stderr, "disk full: %llu items acknowledged\n", (unsigned long long)acknowledged);

  /* While full: writes refused with NO_SPACE, reads and empty leases answer. */
  CHECK(ingest(t, "late", 0, 1, "x", &accepted, &no_space) == TALLY_E_NO_SPACE || no_space == 1);
  CHECK(tally_submit(t, "lab1", lease_slot, lease_id, "ok", 100) == TALLY_E_NO_SPACE);
  task = NULL;
  CHECK(tally_lease(t, "lab2", "full", TALLY_STAGE_LABEL, 0, &task) == TALLY_E_NO_SPACE);
  tally_free(task);
  task = NULL;
  CHECK(tally_lease(t, "lab2", "empty", TALLY_STAGE_LABEL, 0, &task) == 0 && task == NULL);
  tally_free(task);
  CHECK_EQ_U64(status_items(t), acknowledged);
  tally_item_state_t *item = NULL;
  CHECK(tally_item_get(t, "full", "small-3", &item) == 0);
  tally_free(item);
  /* Nothing refused was stored: each client's first refused item. */
  for (int i = 0; i < FILLERS; i++) {
    char refused[64];
    snprintf(refused, sizeof refused, "big%d-%d", i, fillers[i].refused_at);
    item = NULL;
    CHECK(tally_item_get(t, "full", refused, &item) == TALLY_E_NOT_FOUND);
    tally_free(item);
  }

  /* Free the space: writes work again, without a restart. */
  unlink(filler);
  int recovered = 0;
  for (int i = 0; i < 100 && !recovered; i++) { /* 20 s */
    rc = ingest(t, "late", 0, 1, "x", &accepted, &no_space);
    if (rc == 0 && accepted == 1) recovered = 1;
    else sleep_ms(200);
  }
  CHECK(recovered);
  acknowledged += 1;
  CHECK(tally_submit(t, "lab1", lease_slot, lease_id, "ok", 100) == 0);
  CHECK_EQ_U64(status_items(t), acknowledged);
  task = NULL;
  CHECK(tally_lease(t, "lab2", "full", TALLY_STAGE_LABEL, 0, &task) == 0 && task != NULL);
  tally_free(task);

  /* Everything acknowledged survives a restart. */
  cluster_kill_worker(&cluster, 0, SIGTERM);
  CHECK(cluster_start_worker(&cluster, 0) == 0);
  CHECK_EQ_U64(status_items(t), acknowledged);
  tally_close(&t);

  /* A start on a read-only file system: exit 1 and a readable message. */
  char err[8192];
  cluster_kill_worker(&cluster, 0, SIGTERM);
  CHECK(mount(NULL, mount_point, NULL, MS_REMOUNT | MS_RDONLY, NULL) == 0);
  rc = start_expecting_failure(err, sizeof err);
  CHECK(rc == 1);
  CHECK(strstr(err, "cannot open storage") != NULL && strstr(err, "Read-only file system") != NULL);
  if (rc != 1) fprintf(stderr, "read-only start: exit %d\n%s\n", rc, err);

  /* A start on a full file system: the same. */
  CHECK(mount(NULL, mount_point, NULL, MS_REMOUNT, NULL) == 0);
  CHECK(fill(filler, 0) == 0);
  rc = start_expecting_failure(err, sizeof err);
  CHECK(rc == 1);
  CHECK(strstr(err, "cannot open storage") != NULL && strstr(err, "free") != NULL);
  if (rc != 1) fprintf(stderr, "full start: exit %d\n%s\n", rc, err);

  free(content);
  harness_kill_all();
  unmount_now(); /* before cluster_stop removes the directory */
  cluster_stop(&cluster);
  return check_summary();
}
