// SPDX-License-Identifier: BSD-3-Clause
/*
 * The payload's platform layer: hypercalls (sc 1), the hvc console
 * (H_PUT_TERM_CHAR), RTAS through QEMU's KVMPPC_H_RTAS, a device-tree
 * walker (the DTB format of the Devicetree Specification, section 5) and
 * the few C library functions the compiler may call.
 */
#include "payload.h"

uint32_t rtas_power_off_token;

long hcall(uint64_t opcode, uint64_t args[4])
{
	register uint64_t r3 __asm__("r3") = opcode;
	register uint64_t r4 __asm__("r4") = args[0];
	register uint64_t r5 __asm__("r5") = args[1];
	register uint64_t r6 __asm__("r6") = args[2];
	register uint64_t r7 __asm__("r7") = args[3];

	/* PAPR: the hypervisor may change r0, r3-r12, ctr, xer and cr0,1,5-7. */
	__asm__ volatile("sc 1"
			 : "+r"(r3), "+r"(r4), "+r"(r5), "+r"(r6), "+r"(r7)
			 :
			 : "r0", "r8", "r9", "r10", "r11", "r12", "ctr", "xer", "cr0", "cr1",
			   "cr5", "cr6", "cr7", "memory");
	args[0] = r4;
	args[1] = r5;
	args[2] = r6;
	args[3] = r7;
	return (long)r3;
}

/* ---- console ---- */

static uint64_t con_termno;
static char con_buf[16];
static unsigned int con_len;

void con_set_termno(uint64_t termno)
{
	con_termno = termno;
}

void con_flush(void)
{
	uint64_t a[4] = { con_termno, con_len, 0, 0 };

	if (!con_len)
		return;
	/* Up to 16 bytes in r6:r7, first byte most significant. */
	for (unsigned int i = 0; i < con_len; i++)
		a[2 + i / 8] |= (uint64_t)(uint8_t)con_buf[i] << (56 - 8 * (i % 8));
	hcall(H_PUT_TERM_CHAR, a);
	con_len = 0;
}

void con_putc(char c)
{
	con_buf[con_len++] = c;
	if (con_len == sizeof(con_buf) || c == '\n')
		con_flush();
}

void con_puts(const char *s)
{
	while (*s)
		con_putc(*s++);
}

void con_hex(uint64_t v)
{
	char d[16];
	int n = 0;

	do {
		d[n++] = "0123456789abcdef"[v & 15];
		v >>= 4;
	} while (v);
	while (n)
		con_putc(d[--n]);
}

void con_dec(int64_t v)
{
	char d[20];
	uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
	int n = 0;

	if (v < 0)
		con_putc('-');
	do {
		d[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	while (n)
		con_putc(d[--n]);
}

/* ---- RTAS ---- */

/* The argument block QEMU's h_rtas() reads: big-endian cells. */
static struct {
	uint32_t token, nargs, nret;
	uint32_t cells[2 * RTAS_MAX_ARGS];
} rtas_block __attribute__((aligned(16)));

int rtas_call(uint32_t token, unsigned int nargs, const uint32_t *args, unsigned int nret,
	      uint32_t *rets)
{
	uint64_t a[4] = { (uint64_t)(uintptr_t)&rtas_block, 0, 0, 0 };

	if (nargs > RTAS_MAX_ARGS || nret > RTAS_MAX_ARGS || !nret)
		fail("rtas_call: too many cells", nargs);
	memset(&rtas_block, 0, sizeof(rtas_block));
	rtas_block.token = token;
	rtas_block.nargs = nargs;
	rtas_block.nret = nret;
	for (unsigned int i = 0; i < nargs; i++)
		rtas_block.cells[i] = args[i];
	/* A status QEMU never writes: it shows a call that did not run. */
	rtas_block.cells[nargs] = 0xdeadbeef;
	if (hcall(KVMPPC_H_RTAS, a) != H_SUCCESS)
		return -9999;
	for (unsigned int i = 0; i < nret; i++)
		rets[i] = rtas_block.cells[nargs + i];
	return (int32_t)rets[0];
}

__attribute__((noreturn)) void power_off(void)
{
	uint32_t args[2] = { 0, 0 }, ret[1];

	con_flush();
	if (rtas_power_off_token)
		rtas_call(rtas_power_off_token, 2, args, 1, ret);
	for (;;) /* QEMU stops this vCPU; without the token, the recorder's timeout does */
		;
}

__attribute__((noreturn)) void fail(const char *why, uint64_t v)
{
	con_puts("\n@@UCAP|FAIL|");
	con_puts(why);
	con_puts(" 0x");
	con_hex(v);
	con_puts("|@@\n");
	power_off();
}

__attribute__((noreturn)) void payload_exception(uint64_t vector, uint64_t srr0, uint64_t srr1,
						 uint64_t dar)
{
	con_puts("\n@@UCAP|FAIL|interrupt 0x");
	con_hex(vector);
	con_puts(" at 0x");
	con_hex(srr0);
	con_puts(" srr1 0x");
	con_hex(srr1);
	con_puts(" dar 0x");
	con_hex(dar);
	con_puts("|@@\n");
	power_off();
}

/* ---- the device tree ---- */

#define FDT_MAGIC	0xd00dfeed
#define FDT_BEGIN_NODE	1
#define FDT_END_NODE	2
#define FDT_PROP	3
#define FDT_NOP		4
#define FDT_END		9
#define FDT_PATH_MAX	256
#define FDT_DEPTH_MAX	16

int fdt_walk(const void *fdt, fdt_prop_fn *fn, void *opaque)
{
	const uint8_t *base = fdt;
	uint32_t off_struct = be32_at(fdt, 2), off_strings = be32_at(fdt, 3);
	uint32_t size_struct = be32_at(fdt, 9);
	const uint8_t *p = base + off_struct, *end = p + size_struct;
	unsigned int depth = 0, plen[FDT_DEPTH_MAX];
	char path[FDT_PATH_MAX];
	size_t len = 0;

	if (be32_at(fdt, 0) != FDT_MAGIC || be32_at(fdt, 5) < 16)
		return -1;
	path[0] = 0;
	while (p + 4 <= end) {
		uint32_t tok = be32_at(p, 0);

		p += 4;
		if (tok == FDT_BEGIN_NODE) {
			const char *name = (const char *)p;
			size_t n = strlen(name);

			if (depth == FDT_DEPTH_MAX)
				return -1;
			plen[depth++] = (unsigned int)len;
			if (depth > 1) { /* the root's name is empty; its path is "/" */
				if (len + 1 + n + 1 > sizeof(path))
					return -1;
				path[len++] = '/';
				memcpy(path + len, name, n);
				len += n;
				path[len] = 0;
			}
			p += (n + 1 + 3) & ~(size_t)3;
		} else if (tok == FDT_END_NODE) {
			if (!depth)
				return -1;
			len = plen[--depth];
			path[len] = 0;
		} else if (tok == FDT_PROP) {
			uint32_t plen_ = be32_at(p, 0), nameoff = be32_at(p, 1);

			p += 8;
			fn(opaque, len ? path : "/", (const char *)base + off_strings + nameoff, p,
			   plen_);
			p += (plen_ + 3) & ~(uint32_t)3;
		} else if (tok == FDT_END) {
			return 0;
		} else if (tok != FDT_NOP) {
			return -1;
		}
	}
	return -1;
}

/* ---- what the compiler may call ---- */

size_t strlen(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

int strcmp(const char *a, const char *b)
{
	while (*a && *a == *b) {
		a++;
		b++;
	}
	return (unsigned char)*a - (unsigned char)*b;
}

bool str_starts(const char *s, const char *prefix)
{
	while (*prefix)
		if (*s++ != *prefix++)
			return false;
	return true;
}

bool str_ends(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && !strcmp(s + n - m, suffix);
}

void *memset(void *d, int c, size_t n)
{
	unsigned char *p = d;

	while (n--)
		*p++ = (unsigned char)c;
	return d;
}

void *memcpy(void *d, const void *s, size_t n)
{
	unsigned char *p = d;
	const unsigned char *q = s;

	while (n--)
		*p++ = *q++;
	return d;
}
