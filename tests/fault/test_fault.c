// SPDX-License-Identifier: BSD-3-Clause
/*
 * Fault injection: every scenario of fault_*.c (fault.h) through its
 * fail-at-N loops, then the coverage of the library's fault points: each
 * call site of a fallible step (core/fault.h) must have been failed by some
 * scenario, or by the fail-at-N loop of a unit test (the unit tests that
 * inject faults are named on the command line and run again here, to
 * count theirs). This binary links the whole library, so every fault point
 * of src/ is present, a new module's included.
 *   test_fault [UNIT_TEST...]
 */
#include <dirent.h>
#include <fcntl.h>
#include <sys/wait.h>

#include "fault.h"

#include "internal.h"

/* Unit tests to run for their own fault loops (argv). */
static int test_argc;
static char **test_argv;

struct counting_alloc {
	long live;
};

static void *count_alloc(void *opaque, size_t size, size_t align)
{
	struct counting_alloc *a = opaque;
	void *p;

	if (posix_memalign(&p, align < sizeof(void *) ? sizeof(void *) : align, size))
		return NULL;
	__atomic_add_fetch(&a->live, 1, __ATOMIC_RELAXED);
	return p;
}

static void count_free(void *opaque, void *ptr, size_t size)
{
	struct counting_alloc *a = opaque;

	(void)size;
	__atomic_sub_fetch(&a->live, 1, __ATOMIC_RELAXED);
	free(ptr);
}

static void run_loop(const struct fault_scenario *s, unsigned int flags)
{
	long locked0 = test_vmlck_kib();
	bool real_mlock = test_can_mlock();
	uint64_t n;

	for (n = 1;; n++) {
		/*
		 * On the heap: if a check fails, the context is left behind, and
		 * its deferred frees may still call the hook in a later test.
		 */
		struct counting_alloc *a = calloc(1, sizeof(*a));
		struct uiommu_allocator hook = { count_alloc, count_free, a };
		struct uiommu_ctx_config cfg = {
			.size = sizeof(cfg),
			.allocator = &hook,
			.host_page_shift = s->host_page_shift,
			/* Real mlock where the machine allows it (CI runs as root). */
			.flags = real_mlock && !s->simulate_pins ? 0 : UIOMMU_CTX_PIN_SIMULATE,
		};
		void *state = calloc(1, s->state_size ? s->state_size : 1);
		struct uiommu_ctx *ctx;
		uint64_t injected;
		int ret;

		assert_non_null(a);
		assert_non_null(state);
		assert_int_equal(uiommu_ctx_new(&cfg, &ctx), 0);
		assert_int_equal(uiommu_ctx_set_limit(ctx, UIOMMU_RES_LOCKED_BYTES, 64 << 20), 0);
		if (s->setup)
			s->setup(ctx, state);
		assert_int_equal(uiommu_ctx_inject_fault(ctx, n, flags), 0);
		ret = s->run(ctx, state);
		injected = ctx_counter(ctx, UIOMMU_COUNTER_FAULTS_INJECTED);
		if (ret && (!injected || ret != -ENOMEM)) {
			/* Only an injected fault may fail the scenario, and only with -ENOMEM. */
			print_error("%s: with fault point %llu failing: %s (%d), %llu faults injected\n",
				    s->name, (unsigned long long)n, uiommu_strerror(ret), ret,
				    (unsigned long long)injected);
			fail();
		}
		s->undo(ctx, state);
		assert_int_equal(uiommu_ctx_inject_fault(ctx, 0, 0), 0);
		rcu_wait_callbacks(); /* what waits for a grace period uncharges then */
		assert_ctx_clean(ctx);
		assert_int_equal(uiommu_ctx_free(ctx), 0);
		assert_int_equal(a->live, 0);
		assert_int_equal(test_vmlck_kib(), locked0);
		free(a);
		free(state);
		if (!ret && !injected)
			break;
	}
	print_message("%s (0x%x): %llu fault points\n", s->name, flags, (unsigned long long)n - 1);
	/* The scenario really has that many fallible steps. */
	assert_true(n - 1 >= s->min_points);
}

static void test_each(void **state)
{
	run_loop(*state, UIOMMU_FAULT_ALL);
}

static void test_persist(void **state)
{
	run_loop(*state, UIOMMU_FAULT_ALL | UIOMMU_FAULT_PERSIST);
}

/* ---- coverage ---- */

/* "../src/mem/../core/ext.h" -> "src/core/ext.h": a call site's name, wherever it was built. */
static void point_name(const char *file, char *out, size_t size)
{
	const char *part[64];
	size_t len[64], n = 0, o = 0;
	const char *p = file;

	while (*p && n < ARRAY_SIZE(part)) {
		const char *e = strchr(p, '/');
		size_t l = e ? (size_t)(e - p) : strlen(p);

		if (l == 2 && !strncmp(p, "..", 2)) {
			if (n && strncmp(part[n - 1], "..", 2))
				n--;
			else
				part[n] = p, len[n++] = l;
		} else if (l && !(l == 1 && *p == '.')) {
			part[n] = p, len[n++] = l;
		}
		p += l + (e != NULL);
	}
	/* From the last "src" component on. */
	size_t first = 0;

	for (size_t i = 0; i < n; i++)
		if (len[i] == 3 && !strncmp(part[i], "src", 3))
			first = i;
	out[0] = '\0';
	for (size_t i = first; i < n && o + len[i] + 2 < size; i++)
		o += (size_t)snprintf(out + o, size - o, "%s%.*s", i > first ? "/" : "", (int)len[i],
				      part[i]);
}

static const char *class_name(unsigned int c)
{
	switch (c) {
	case UIOMMU_FAULT_HEAP:
		return "heap";
	case UIOMMU_FAULT_FRAME:
		return "frame";
	case UIOMMU_FAULT_PIN:
		return "pin";
	case UIOMMU_FAULT_MAP:
		return "map";
	case UIOMMU_FAULT_HCALL:
		return "hcall";
	default:
		return "?";
	}
}

struct point_row {
	char name[256];
	unsigned int line, fault_class;
	bool failed;
};

static int row_cmp(const void *a, const void *b)
{
	const struct point_row *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : (x->line > y->line) - (x->line < y->line);
}

/* The rows so far, growing; a call site expanded in several objects is one point. */
struct coverage {
	struct point_row *row;
	size_t n, cap;
};

static void coverage_add(struct coverage *c, const char *file, unsigned int line,
			 unsigned int fault_class, bool failed)
{
	struct point_row r = { .line = line, .fault_class = fault_class, .failed = failed };

	point_name(file, r.name, sizeof(r.name));
	if (strncmp(r.name, "src/", 4))
		return; /* a test's own use of the internals is not the library's */
	for (size_t j = 0; j < c->n; j++) {
		if (c->row[j].line == r.line && !strcmp(c->row[j].name, r.name)) {
			c->row[j].failed |= r.failed;
			return;
		}
	}
	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 256;
		c->row = realloc(c->row, c->cap * sizeof(*c->row));
		assert_non_null(c->row);
	}
	c->row[c->n++] = r;
}

/*
 * The unit tests named on the command line, each run with
 * UIOMMU_FAULT_POINTS_DIR set (tests/fault/points_log.c): what their own
 * fail-at-N loops failed counts too.
 */
static void coverage_from_tests(struct coverage *c)
{
	char dir[] = "/tmp/uiommu-fault-points-XXXXXX";
	struct dirent *e;
	DIR *d;

	if (!test_argc)
		return;
	assert_non_null(mkdtemp(dir));
	for (int i = 0; i < test_argc; i++) {
		int status = 0;
		pid_t pid = fork();

		assert_true(pid >= 0);
		if (pid == 0) {
			int null = open("/dev/null", O_WRONLY);

			setenv("UIOMMU_FAULT_POINTS_DIR", dir, 1);
			dup2(null, 1);
			dup2(null, 2);
			execl(test_argv[i], test_argv[i], (char *)NULL);
			_exit(127);
		}
		assert_int_equal(waitpid(pid, &status, 0), pid);
		if (!WIFEXITED(status) || (WEXITSTATUS(status) && WEXITSTATUS(status) != TEST_SKIP_EXIT))
			print_message("%s failed (its own test says why); its points still count\n",
				      test_argv[i]);
	}
	d = opendir(dir);
	assert_non_null(d);
	while ((e = readdir(d))) {
		char path[4096], file[4096];
		unsigned int line, fault_class;
		int failed;
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		f = fopen(path, "r");
		assert_non_null(f);
		while (fscanf(f, "%d %u %u %4095s", &failed, &line, &fault_class, file) == 4)
			coverage_add(c, file, line, fault_class, failed);
		fclose(f);
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

static void test_coverage(void **state)
{
	struct coverage c = { 0 };
	struct fault_point *fp;
	size_t n = fault_points(&fp), failed = 0;

	(void)state;
	assert_true(n > 0);
	for (size_t i = 0; i < n; i++)
		coverage_add(&c, fp[i].file, fp[i].line, fp[i].fault_class,
			     atomic_load(&fp[i].failed));
	coverage_from_tests(&c);
	qsort(c.row, c.n, sizeof(*c.row), row_cmp);
	for (size_t i = 0; i < c.n; i++) {
		failed += c.row[i].failed;
		if (!c.row[i].failed)
			print_message("never failed: %s:%u (%s)\n", c.row[i].name, c.row[i].line,
				      class_name(c.row[i].fault_class));
	}
	print_message("fault points: %zu failed / %zu present\n", failed, c.n);
	free(c.row);
	assert_int_equal(failed, c.n);
}

/* The scenarios, from every fault_*.c linked in. */
extern const struct fault_scenario __start_uiommu_fault_scenarios[];
extern const struct fault_scenario __stop_uiommu_fault_scenarios[];

int main(int argc, char **argv)
{
	const struct fault_scenario *s = __start_uiommu_fault_scenarios;
	size_t n = (size_t)(__stop_uiommu_fault_scenarios - s), k = 0;
	struct CMUnitTest *tests = calloc(2 * n + 1, sizeof(*tests));
	char (*names)[128] = calloc(2 * n, sizeof(*names));
	int ret;

	test_argc = argc - 1;
	test_argv = argv + 1;
	test_require_memfd();
	if (!tests || !names)
		return 1;
	for (size_t i = 0; i < n; i++) {
		snprintf(names[k], sizeof(names[k]), "%s: each", s[i].name);
		tests[k] = (struct CMUnitTest){ names[k], test_each, NULL, NULL, (void *)&s[i] };
		k++;
		snprintf(names[k], sizeof(names[k]), "%s: persist", s[i].name);
		tests[k] = (struct CMUnitTest){ names[k], test_persist, NULL, NULL, (void *)&s[i] };
		k++;
	}
	tests[k++] = (struct CMUnitTest){ "coverage", test_coverage, NULL, NULL, NULL };
	ret = _cmocka_run_group_tests("fault", tests, k, NULL, NULL);
	free(names);
	free(tests);
	return ret;
}
