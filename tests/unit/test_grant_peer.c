// SPDX-License-Identifier: BSD-3-Clause
/*
 * Grant tables between two real processes. The test (the frontend, domain
 * 1) starts this same program again as the backend (domain 2) with
 * "--backend MODE GRANT_FD CHAN_FD": the backend gets the grant connection
 * and a control channel, and nothing else (it is exec'd; as root it also
 * drops to nobody, and the frontend is not dumpable, so /proc cannot reach
 * it either).
 *
 * - malicious: forged references, references of other domains, revoked
 *   ones, writes through a read-only grant, the raw protocol with its
 *   memfds, the table, its own descriptors and the frontend's /proc;
 * - liar: tells the frontend it unmapped a page but keeps it mapped; the
 *   frontend frees and reuses the memory; the backend must not see it;
 * - crash: maps and unmaps a shared buffer in a loop until the frontend
 *   kills it (SIGKILL, mid-map); the frontend then revokes and frees all;
 * - be_alloc: a backend-allocated page-directory buffer across processes.
 */
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "test_util.h"
#include "grant_test_util.h"

#define FE 1
#define BE 2
#define OTHER 3
#define PAGE 4096

/* Control messages between the two processes. */
struct ctl {
	uint32_t op;
	uint32_t a, b, c;
	uint32_t refs[8];
};

enum { CTL_GO = 1, CTL_DONE, CTL_FAIL };

static void ctl_send(int fd, const struct ctl *m)
{
	if (send(fd, m, sizeof(*m), MSG_NOSIGNAL) != (ssize_t)sizeof(*m))
		exit(3);
}

static struct ctl ctl_recv(int fd)
{
	struct ctl m = { 0 };

	if (recv(fd, &m, sizeof(m), 0) != (ssize_t)sizeof(m))
		m.op = 0;
	return m;
}

/* A control message with a descriptor. */
static void ctl_send_fd(int chan, const struct ctl *m, int fd)
{
	if (test_send_fd(chan, m, sizeof(*m), fd) != (ssize_t)sizeof(*m))
		exit(3);
}

static struct ctl ctl_recv_fd(int chan, int *fd)
{
	struct ctl m = { 0 };

	if (test_recv_fd(chan, &m, sizeof(m), fd) != (ssize_t)sizeof(m) || *fd < 0)
		return (struct ctl){ 0 };
	return m;
}

/* ======================= the backend process ======================= */

static int be_failures;

#define BE_CHECK(cond)                                                                     \
	do {                                                                               \
		if (!(cond)) {                                                             \
			fprintf(stderr, "backend: check failed at line %d: %s\n", __LINE__, #cond); \
			be_failures++;                                                     \
		}                                                                          \
	} while (0)

/* As root, become nobody: then only what was handed over is reachable. */
static bool drop_privileges(void)
{
	if (getuid() != 0)
		return true;
	return !setgroups(0, NULL) && !setgid(65534) && !setuid(65534);
}

static int16_t be_map1(struct uiommu_gnttab *gt, uint32_t ref, uint32_t flags, void **addr,
		       uint32_t *h)
{
	struct uiommu_gnttab_map_op op = { .flags = flags, .ref = ref, .dom = FE };

	if (uiommu_gnttab_map_refs(gt, &op, 1))
		return -100;
	*addr = op.host_addr;
	*h = op.handle;
	return op.status;
}

/* The raw protocol, as a hostile backend speaks it (see src/grant/grant.h). */
struct raw_map_rsp {
	uint32_t op, seq, count, version;
	int16_t status;
	uint16_t fd_index;
	uint32_t handle;
	uint64_t offset;
};

static int raw_map(int sock, uint32_t ref, uint32_t flags, struct raw_map_rsp *rsp)
{
	uint32_t req[6] = { 2, 77, 1, 1, ref, flags };
	int fd;

	if (send(sock, req, sizeof(req), 0) != (ssize_t)sizeof(req) ||
	    test_recv_fd(sock, rsp, sizeof(*rsp), &fd) != (ssize_t)sizeof(*rsp))
		return -2;
	return fd;
}

static void raw_unmap(int sock, uint32_t handle)
{
	uint32_t req[5] = { 3, 78, 1, 1, handle };
	char buf[64];

	BE_CHECK(send(sock, req, sizeof(req), 0) == (ssize_t)sizeof(req));
	BE_CHECK(recv(sock, buf, sizeof(buf), 0) == 20);
}

/* Receive the greeting by hand: the table's memfd. */
static int raw_hello(int sock)
{
	char buf[64];
	int fd;

	return test_recv_fd(sock, buf, sizeof(buf), &fd) > 0 ? fd : -1;
}

/*
 * None of the frontend's memfds, sockets, eventfds or epoll sets came
 * along: only our two sockets (the harness may pass pipes and such: not
 * ours to judge).
 */
static void check_own_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int sockets = 0;

	if (!d)
		return;
	while ((e = readdir(d))) {
		char path[300], target[256] = "";

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		if (readlink(path, target, sizeof(target) - 1) <= 0)
			continue;
		if (!strncmp(target, "socket:", 7))
			sockets++;
		BE_CHECK(!strstr(target, "memfd:") && !strstr(target, "anon_inode:"));
	}
	closedir(d);
	BE_CHECK(sockets == 2);
}

static int backend_malicious(struct uiommu_ctx *ctx, int grant_fd, int chan)
{
	struct uiommu_gnttab *gt;
	struct ctl m = ctl_recv(chan);
	uint32_t h, rw_ref = m.refs[0], ro_ref = m.refs[1], other_ref = m.refs[2];
	uint32_t revoked_ref = m.refs[3], nr_entries = m.a;
	char *addr, path[64];
	void *v;

	BE_CHECK(m.op == CTL_GO);
	/* The raw protocol first, on the connection we were started with. */
	{
		int raw = grant_fd, table = raw_hello(raw), fd;
		struct raw_map_rsp rsp;
		void *t;

		BE_CHECK(table >= 0);
		/* The table: read-only, and it stays so. */
		BE_CHECK(mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, table, 0) == MAP_FAILED);
		t = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, table, 0);
		BE_CHECK(t != MAP_FAILED);
		BE_CHECK(mprotect(t, PAGE, PROT_READ | PROT_WRITE) == -1);
		BE_CHECK(write(table, "x", 1) == -1);
		BE_CHECK(ftruncate(table, 0) == -1);
		BE_CHECK(fallocate(table, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, PAGE) == -1);
		munmap(t, PAGE);
		close(table);
		/* A read-only grant asked writable: refused, no memfd. */
		fd = raw_map(raw, ro_ref, 1u << 1, &rsp);
		BE_CHECK(fd == -1 && rsp.status == UIOMMU_GNTST_GENERAL_ERROR);
		/* Read-only: a memfd that cannot be written by any means, and holds one page. */
		fd = raw_map(raw, ro_ref, (1u << 1) | (1u << 2), &rsp);
		BE_CHECK(fd >= 0 && rsp.status == 0);
		if (fd >= 0) {
			struct stat st;

			BE_CHECK(mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
				      (off_t)rsp.offset) == MAP_FAILED);
			t = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, (off_t)rsp.offset);
			BE_CHECK(t != MAP_FAILED && !strcmp(t, "read only"));
			BE_CHECK(mprotect(t, PAGE, PROT_READ | PROT_WRITE) == -1);
			BE_CHECK(write(fd, "x", 1) == -1);
			BE_CHECK(pwrite(fd, "x", 1, 0) == -1);
			BE_CHECK(ftruncate(fd, 0) == -1 && ftruncate(fd, 1 << 20) == -1);
			BE_CHECK(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, PAGE) == -1);
			BE_CHECK(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE) == -1);
			BE_CHECK(!fstat(fd, &st) && st.st_size == PAGE);
			munmap(t, PAGE);
			close(fd);
			raw_unmap(raw, rsp.handle);
		}
		/* Read-write: its memfd is exactly the granted page; it cannot be resized. */
		fd = raw_map(raw, rw_ref, 1u << 1, &rsp);
		BE_CHECK(fd >= 0 && rsp.status == 0);
		if (fd >= 0) {
			struct stat st;

			BE_CHECK(!fstat(fd, &st) && st.st_size == PAGE);
			BE_CHECK(ftruncate(fd, 0) == -1 && ftruncate(fd, 1 << 20) == -1);
			BE_CHECK(mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, PAGE) == MAP_FAILED ||
				 true); /* past the end there is nothing to map: SIGBUS */
			close(fd);
			raw_unmap(raw, rsp.handle);
		}
		/* Other domains' and revoked references, raw. */
		BE_CHECK(raw_map(raw, other_ref, 1u << 1, &rsp) == -1 &&
			 rsp.status == UIOMMU_GNTST_GENERAL_ERROR);
		BE_CHECK(raw_map(raw, revoked_ref, 1u << 1, &rsp) == -1 &&
			 rsp.status == UIOMMU_GNTST_GENERAL_ERROR);
		close(raw);
	}
	/* The frontend connects us again, through the library this time. */
	m = (struct ctl){ .op = CTL_DONE };
	ctl_send(chan, &m);
	m = ctl_recv_fd(chan, &grant_fd);
	BE_CHECK(m.op == CTL_GO && grant_fd >= 0);
	BE_CHECK(!uiommu_gnttab_open(ctx, &gt));
	BE_CHECK(!uiommu_gnttab_attach(gt, grant_fd, NULL));
	/* Forged references: past the table, reserved, never granted. */
	BE_CHECK(be_map1(gt, nr_entries, 1u << 1, &v, &h) == UIOMMU_GNTST_BAD_GNTREF);
	BE_CHECK(be_map1(gt, UINT32_MAX, 1u << 1, &v, &h) == UIOMMU_GNTST_BAD_GNTREF);
	for (uint32_t r = 0; r < 8; r++)
		BE_CHECK(be_map1(gt, r, 1u << 1, &v, &h) == UIOMMU_GNTST_GENERAL_ERROR);
	for (uint32_t r = 8; r < nr_entries; r++)
		if (r != rw_ref && r != ro_ref)
			BE_CHECK(be_map1(gt, r, (1u << 1) | (1u << 2), &v, &h) ==
				 UIOMMU_GNTST_GENERAL_ERROR);
	/* Another domain's reference, and a revoked one. */
	BE_CHECK(be_map1(gt, other_ref, 1u << 1, &v, &h) == UIOMMU_GNTST_GENERAL_ERROR);
	BE_CHECK(be_map1(gt, revoked_ref, 1u << 1, &v, &h) == UIOMMU_GNTST_GENERAL_ERROR);
	/* A read-only grant: never writable. */
	BE_CHECK(be_map1(gt, ro_ref, 1u << 1, &v, &h) == UIOMMU_GNTST_GENERAL_ERROR);
	BE_CHECK(be_map1(gt, ro_ref, (1u << 1) | (1u << 2), &v, &h) == 0);
	addr = v;
	BE_CHECK(!strcmp(addr, "read only"));
	BE_CHECK(mprotect(addr, PAGE, PROT_READ | PROT_WRITE) == -1);
	{
		/* Writing faults: in a child, so that the fault is observed, not fatal. */
		pid_t pid = fork();
		int status;

		if (!pid) {
			signal(SIGSEGV, SIG_DFL); /* not a sanitizer's report: the plain fault */
			addr[0] = 'X';
			_exit(0);
		}
		BE_CHECK(waitpid(pid, &status, 0) == pid && WIFSIGNALED(status) &&
			 WTERMSIG(status) == SIGSEGV);
	}
	/* The read-write grant works, both ways. */
	BE_CHECK(be_map1(gt, rw_ref, 1u << 1, &v, &h) == 0);
	BE_CHECK(!strcmp(v, "read write"));
	strcpy(v, "written by the backend");

	/* Nothing else is reachable: no other descriptor, no /proc way in. */
	check_own_fds();
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)getppid());
	if (getuid() != 0)
		BE_CHECK(open(path, O_RDONLY) < 0);
	else
		fprintf(stderr, "backend: still root: the /proc check is not meaningful, skipped\n");
	snprintf(path, sizeof(path), "/proc/%d/fd/0", (int)getppid());
	if (getuid() != 0)
		BE_CHECK(open(path, O_RDONLY) < 0);

	m = (struct ctl){ .op = be_failures ? CTL_FAIL : CTL_DONE };
	ctl_send(chan, &m);
	/* Leave without unmapping or freeing anything, as a dying process does. */
	_exit(be_failures ? 1 : 0);
}

static int backend_liar(int grant_fd, int chan)
{
	struct ctl m = ctl_recv(chan);
	struct raw_map_rsp rsp;
	int fd, table = raw_hello(grant_fd);
	char *kept;

	BE_CHECK(table >= 0);
	close(table);
	fd = raw_map(grant_fd, m.refs[0], 1u << 1, &rsp);
	BE_CHECK(fd >= 0);
	kept = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)rsp.offset);
	if (kept == MAP_FAILED || !kept) {
		fprintf(stderr, "backend: cannot map the page\n");
		return 1;
	}
	BE_CHECK(!strcmp(kept, "granted"));
	close(fd);
	/* The lie: "unmapped", while the page stays mapped. */
	raw_unmap(grant_fd, rsp.handle);
	m = (struct ctl){ .op = CTL_DONE };
	ctl_send(chan, &m);
	/* The frontend has freed the page and reused memory for a secret. */
	m = ctl_recv(chan);
	BE_CHECK(m.op == CTL_GO);
	BE_CHECK(!strcmp(kept, "granted"));
	BE_CHECK(!memmem(kept, PAGE, "secret", 6));
	strcpy(kept, "written after the lie");
	m = (struct ctl){ .op = be_failures ? CTL_FAIL : CTL_DONE };
	ctl_send(chan, &m);
	m = ctl_recv(chan); /* the frontend checked that our write went nowhere */
	_exit(be_failures ? 1 : 0); /* keeping what it lied about, to the end */
}

static int backend_crash(struct uiommu_ctx *ctx, int grant_fd, int chan)
{
	struct uiommu_shbuf_be *be;
	struct uiommu_gnttab *gt;
	struct ctl m = ctl_recv(chan);
	bool told = false;

	if (uiommu_gnttab_open(ctx, &gt) || uiommu_gnttab_attach(gt, grant_fd, NULL))
		return 1;
	/* Until killed. */
	for (;;) {
		if (uiommu_shbuf_be_map(gt, FE, m.a, m.b, PROT_READ | PROT_WRITE, &be))
			return 1;
		((char *)uiommu_shbuf_be_hva(be))[0]++;
		if (!told) {
			struct ctl go = { .op = CTL_GO };

			ctl_send(chan, &go);
			told = true;
		}
		uiommu_shbuf_be_free(be);
	}
}

static int backend_be_alloc(struct uiommu_ctx *ctx, int grant_fd, int chan)
{
	struct ctl m = ctl_recv(chan);
	struct uiommu_gntshr *gs;
	struct uiommu_gnttab *gt;
	struct uiommu_shbuf_be *be;
	int back_fd;
	char *hva;

	BE_CHECK(!uiommu_gnttab_open(ctx, &gt));
	BE_CHECK(!uiommu_gnttab_attach(gt, grant_fd, NULL));
	/* Our own table, and a connection for the frontend, handed over the channel. */
	BE_CHECK(!uiommu_gntshr_new(ctx, BE, 4096, &gs));
	BE_CHECK(!uiommu_gntshr_connect(gs, FE, &back_fd));
	{
		struct ctl r = { .op = CTL_GO };

		ctl_send_fd(chan, &r, back_fd);
		close(back_fd);
	}
	/* Allocate the buffer and fill the frontend's directory with our references. */
	BE_CHECK(!uiommu_shbuf_be_alloc(gt, gs, FE, m.a, m.b, &be));
	hva = uiommu_shbuf_be_hva(be);
	for (uint32_t i = 0; i < m.b; i++)
		hva[(size_t)i * PAGE] = (char)(i * 7);
	m = (struct ctl){ .op = CTL_DONE };
	ctl_send(chan, &m);
	/* The frontend mapped it and wrote back. */
	m = ctl_recv(chan);
	BE_CHECK(m.op == CTL_GO);
	BE_CHECK(!strcmp(hva + PAGE + 1, "frontend was here"));
	/* Teardown: ours ends access; the frontend unmapped first, so nothing is pending. */
	BE_CHECK(uiommu_shbuf_be_free(be) == 0);
	BE_CHECK(!uiommu_gnttab_close(gt));
	BE_CHECK(!uiommu_gntshr_free(gs));
	m = (struct ctl){ .op = be_failures ? CTL_FAIL : CTL_DONE };
	ctl_send(chan, &m);
	return be_failures ? 1 : 0;
}

static int backend_main(const char *mode, int grant_fd, int chan)
{
	struct uiommu_ctx *ctx;
	int ret;

	signal(SIGPIPE, SIG_IGN);
	if (!drop_privileges()) {
		fprintf(stderr, "backend: cannot drop privileges\n");
		return 2;
	}
	if (uiommu_ctx_new(NULL, &ctx))
		return 2;
	if (!strcmp(mode, "malicious"))
		ret = backend_malicious(ctx, grant_fd, chan);
	else if (!strcmp(mode, "liar"))
		ret = backend_liar(grant_fd, chan);
	else if (!strcmp(mode, "crash"))
		ret = backend_crash(ctx, grant_fd, chan);
	else if (!strcmp(mode, "be_alloc"))
		ret = backend_be_alloc(ctx, grant_fd, chan);
	else
		ret = 2;
	if (uiommu_ctx_free(ctx))
		ret = ret ? ret : 4; /* something left behind */
	return ret;
}

/* ======================= the frontend (the tests) ======================= */

/* Start the backend with @grant_fd; returns its pid, and our end of the channel. */
static pid_t spawn_backend(const char *mode, int grant_fd, int *ret_chan)
{
	char gfd[16], cfd[16];
	int sv[2];
	pid_t pid;

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	snprintf(gfd, sizeof(gfd), "%d", grant_fd);
	snprintf(cfd, sizeof(cfd), "%d", sv[1]);
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		/* Only what it is handed: these two descriptors survive exec. */
		fcntl(grant_fd, F_SETFD, 0);
		fcntl(sv[1], F_SETFD, 0);
		execl("/proc/self/exe", "test_grant_peer", "--backend", mode, gfd, cfd, (char *)NULL);
		_exit(127);
	}
	close(sv[1]);
	close(grant_fd);
	*ret_chan = sv[0];
	return pid;
}

static int wait_exit(pid_t pid)
{
	int status;

	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static uint64_t pending_of(struct uiommu_gntshr *gs)
{
	uint64_t n;

	assert_int_equal(uiommu_gntshr_get_pending(gs, &n), 0);
	return n;
}

static void test_malicious_backend(void **state)
{
	struct uiommu_ctx *ctx = test_ctx_new();
	struct uiommu_gntshr *gs;
	uint32_t rw_ref, ro_ref, other_ref, revoked_ref;
	void *rw, *ro, *other, *revoked, *secret;
	struct ctl m = { .op = CTL_GO, .a = 64 };
	int fd, chan;
	pid_t pid;

	(void)state;
	assert_int_equal(uiommu_gntshr_new(ctx, FE, 64, &gs), 0);
	assert_int_equal(uiommu_gntshr_share_pages(gs, BE, 1, &rw_ref, 1, &rw), 0);
	assert_int_equal(uiommu_gntshr_share_pages(gs, BE, 1, &ro_ref, 0, &ro), 0);
	assert_int_equal(uiommu_gntshr_share_pages(gs, OTHER, 1, &other_ref, 1, &other), 0);
	assert_int_equal(uiommu_gntshr_share_pages(gs, BE, 1, &revoked_ref, 1, &revoked), 0);
	strcpy(rw, "read write");
	strcpy(ro, "read only");
	strcpy(other, "for domain 3 only");
	strcpy(revoked, "revoked before the backend came");
	assert_int_equal(uiommu_gntshr_unshare(gs, revoked, 1), 0);
	/* Memory of ours the backend must never see. */
	assert_int_equal(uiommu_hostmem_alloc(ctx, PAGE, 12, 0, &secret), 0);
	strcpy(secret, "secret");

	assert_int_equal(uiommu_gntshr_connect(gs, BE, &fd), 0);
	pid = spawn_backend("malicious", fd, &chan);
	m.refs[0] = rw_ref;
	m.refs[1] = ro_ref;
	m.refs[2] = other_ref;
	m.refs[3] = revoked_ref;
	ctl_send(chan, &m);
	/* The raw part is done and its connection closed: a fresh one. */
	m = ctl_recv(chan);
	assert_int_equal(m.op, CTL_DONE);
	assert_int_equal(uiommu_gntshr_connect(gs, BE, &fd), 0);
	m = (struct ctl){ .op = CTL_GO };
	ctl_send_fd(chan, &m, fd);
	close(fd);
	m = ctl_recv(chan);
	assert_int_equal(m.op, CTL_DONE);
	assert_int_equal(wait_exit(pid), 0);
	close(chan);

	/* What it could write, it wrote; what it could not, is as it was. */
	assert_string_equal(rw, "written by the backend");
	assert_string_equal(ro, "read only");
	assert_string_equal(other, "for domain 3 only");
	assert_string_equal(secret, "secret");
	/* It left without unmapping: its mappings went with its connection. */
	assert_int_equal(uiommu_gntshr_disconnect(gs, BE) <= 0, 1);
	assert_int_equal(uiommu_gntshr_query_foreign_access(gs, rw_ref), 0);
	assert_int_equal(ctx_usage(ctx, UIOMMU_RES_GRANT_MAPS), 0);
	assert_int_equal(uiommu_gntshr_unshare(gs, rw, 1), 0);
	assert_int_equal(uiommu_gntshr_unshare(gs, ro, 1), 0);
	assert_int_equal(uiommu_gntshr_unshare(gs, other, 1), 0);
	assert_int_equal(uiommu_hostmem_free(ctx, secret), 0);
	assert_int_equal(uiommu_gntshr_free(gs), 0);
	test_ctx_free(ctx);
}

/*
 * A backend that says it unmapped a page but keeps it: the frontend ends
 * access (it believes it may), frees the page and reuses the memory; the
 * backend's mapping still shows only what was granted, and its writes reach
 * nothing of the frontend's.
 */
static void test_lying_backend(void **state)
{
	struct uiommu_ctx *ctx = test_ctx_new();
	struct uiommu_gntshr *gs;
	struct ctl m = { .op = CTL_GO };
	void *page, *reused[16];
	int fd, chan;
	pid_t pid;

	(void)state;
	assert_int_equal(uiommu_gntshr_new(ctx, FE, 64, &gs), 0);
	assert_int_equal(uiommu_gntshr_share_pages(gs, BE, 1, &m.refs[0], 1, &page), 0);
	strcpy(page, "granted");
	assert_int_equal(uiommu_gntshr_connect(gs, BE, &fd), 0);
	pid = spawn_backend("liar", fd, &chan);
	ctl_send(chan, &m);
	m = ctl_recv(chan);
	assert_int_equal(m.op, CTL_DONE);
	/* As far as the table knows, nothing is mapped: ending access succeeds at once. */
	assert_int_equal(uiommu_gntshr_query_foreign_access(gs, m.refs[0]), 0);
	assert_int_equal(uiommu_gntshr_unshare(gs, page, 1), 0);
	assert_int_equal(pending_of(gs), 0);
	/* Reuse: the same frames, most likely. */
	for (int i = 0; i < 16; i++) {
		assert_int_equal(uiommu_gntshr_alloc_pages(gs, BE, 1, 1, &reused[i], NULL), 0);
		strcpy(reused[i], "secret");
	}
	m = (struct ctl){ .op = CTL_GO };
	ctl_send(chan, &m);
	m = ctl_recv(chan);
	assert_int_equal(m.op, CTL_DONE);
	for (int i = 0; i < 16; i++) {
		assert_string_equal(reused[i], "secret");
		assert_int_equal(uiommu_gntshr_free_pages(gs, reused[i]), 0);
	}
	ctl_send(chan, &m);
	assert_int_equal(wait_exit(pid), 0);
	close(chan);
	assert_int_equal(uiommu_gntshr_disconnect(gs, BE) <= 0, 1);
	assert_int_equal(uiommu_gntshr_free(gs), 0);
	test_ctx_free(ctx);
}

/*
 * kill -9 while the backend maps and unmaps a shared buffer in a loop: the
 * frontend ends access to everything (pending where the dead backend had
 * it mapped), drops the peer, and everything is revoked and freed.
 */
static void test_backend_crash(void **state)
{
	struct uiommu_ctx *ctx = test_ctx_new();
	struct uiommu_gntshr *gs;

	(void)state;
	assert_int_equal(uiommu_gntshr_new(ctx, FE, 4096, &gs), 0);
	for (int round = 0; round < 4; round++) {
		struct uiommu_shbuf *buf;
		struct ctl m = { .op = CTL_GO, .b = 1500 };
		int fd, chan, ret;
		pid_t pid;

		assert_int_equal(uiommu_shbuf_alloc(gs, BE, 1500, 0, &buf), 0);
		m.a = uiommu_shbuf_get_dir_start(buf);
		assert_int_equal(uiommu_gntshr_connect(gs, BE, &fd), 0);
		pid = spawn_backend("crash", fd, &chan);
		ctl_send(chan, &m);
		m = ctl_recv(chan);
		assert_int_equal(m.op, CTL_GO); /* it mapped the buffer once, and goes on */
		/* Land the kill at another point of its loop each round (a spin, not a sleep). */
		for (volatile int i = 0; i < round * 300000; i++)
			;
		kill(pid, SIGKILL);
		assert_int_equal(wait_exit(pid), 128 + SIGKILL);
		close(chan);
		/* The frontend tears down as if the backend were alive. */
		ret = uiommu_shbuf_free(buf);
		assert_true(ret >= 0);
		/* The dead peer: revoke everything it held. */
		assert_true(uiommu_gntshr_disconnect(gs, BE) <= 0);
		assert_int_equal(pending_of(gs), 0);
		assert_int_equal(ctx_usage(ctx, UIOMMU_RES_GRANTS), 0);
		assert_int_equal(ctx_usage(ctx, UIOMMU_RES_GRANT_MAPS), 0);
		assert_int_equal(ctx_counter(ctx, UIOMMU_COUNTER_GRANTS_PENDING), 0);
	}
	assert_int_equal(uiommu_gntshr_free(gs), 0);
	test_ctx_free(ctx);
}

/* A backend-allocated buffer (XENDISPL_DBUF_FLG_REQ_ALLOC) across processes. */
static void test_be_alloc_two_processes(void **state)
{
	struct uiommu_ctx *ctx = test_ctx_new();
	struct uiommu_gntshr *gs;
	struct uiommu_gnttab *gt;
	struct uiommu_shbuf *buf;
	struct ctl m = { .op = CTL_GO, .b = 2047 };
	int fd, chan, back_fd;
	char *hva;
	pid_t pid;

	(void)state;
	assert_int_equal(uiommu_gntshr_new(ctx, FE, 64, &gs), 0);
	assert_int_equal(uiommu_gnttab_open(ctx, &gt), 0);
	assert_int_equal(uiommu_shbuf_alloc(gs, BE, 2047, UIOMMU_SHBUF_BE_ALLOC, &buf), 0);
	/* Only the directory is ours: 3 pages, 3 references. */
	assert_int_equal(ctx_usage(ctx, UIOMMU_RES_GRANTS), 3);
	m.a = uiommu_shbuf_get_dir_start(buf);
	assert_int_equal(uiommu_gntshr_connect(gs, BE, &fd), 0);
	pid = spawn_backend("be_alloc", fd, &chan);
	ctl_send(chan, &m);
	m = ctl_recv_fd(chan, &back_fd);
	assert_int_equal(m.op, CTL_GO);
	assert_int_equal(uiommu_gnttab_attach(gt, back_fd, NULL), 0);
	m = ctl_recv(chan);
	assert_int_equal(m.op, CTL_DONE);
	assert_int_equal(uiommu_shbuf_map(buf, gt), 0);
	hva = uiommu_shbuf_hva(buf);
	for (uint32_t i = 0; i < 2047; i++)
		assert_int_equal(hva[(size_t)i * PAGE], (char)(i * 7));
	strcpy(hva + PAGE + 1, "frontend was here");
	/* Teardown in order: we unmap, then the backend ends access, then we end ours. */
	assert_int_equal(uiommu_shbuf_unmap(buf), 0);
	m = (struct ctl){ .op = CTL_GO };
	ctl_send(chan, &m);
	m = ctl_recv(chan);
	assert_int_equal(m.op, CTL_DONE);
	assert_int_equal(wait_exit(pid), 0);
	close(chan);
	assert_int_equal(uiommu_shbuf_free(buf), 0);
	assert_int_equal(uiommu_gnttab_close(gt), 0);
	assert_true(uiommu_gntshr_disconnect(gs, BE) <= 0);
	assert_int_equal(uiommu_gntshr_free(gs), 0);
	test_ctx_free(ctx);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_malicious_backend),
		cmocka_unit_test(test_lying_backend),
		cmocka_unit_test(test_backend_crash),
		cmocka_unit_test(test_be_alloc_two_processes),
	};

	if (argc == 5 && !strcmp(argv[1], "--backend"))
		return backend_main(argv[2], atoi(argv[3]), atoi(argv[4]));
	test_require_memfd();
	signal(SIGPIPE, SIG_IGN);
	/* Not dumpable: a same-user process cannot read our memory through /proc. */
	prctl(PR_SET_DUMPABLE, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
