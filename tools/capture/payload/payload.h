/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The QEMU-oracle payload: a bare-metal pseries guest (big-endian ppc64,
 * real mode, no firmware) that QEMU boots with -bios. It reads its machine
 * from the flattened device tree QEMU hands it in r3, issues seeded TCE
 * hypercalls and DDW RTAS calls, most of them malformed, prints one record
 * per call on the console, and powers off. tools/capture/capture_pseries_trace.py
 * builds it, patches its configuration block, boots it and checks every
 * record against QEMU's trace. doc/traces.md describes the records.
 *
 * This header is the platform layer (hv.c): hypercalls, console, RTAS,
 * device-tree walk, formatting. oracle.c is the test itself.
 */
#ifndef UCAP_PAYLOAD_H
#define UCAP_PAYLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The configuration block at guest address 0 (the image's first bytes).
 * The recorder finds it by its magic and writes seed and calls.
 */
struct payload_config {
	char magic[8];	    /* PAYLOAD_MAGIC, not NUL-terminated */
	uint64_t seed;	    /* seed of every random choice */
	uint64_t calls;	    /* calls of the random phase */
	uint64_t reserved[5];
};
#define PAYLOAD_MAGIC "UCAPCFG1"

/* PAPR hypercalls (LoPAPR; Linux asm/hvcall.h). */
#define H_SUCCESS		0
#define H_PARAMETER		(-4)
#define H_GET_TCE		0x1c
#define H_PUT_TCE		0x20
#define H_PUT_TERM_CHAR		0x58
#define H_STUFF_TCE		0x138
#define H_PUT_TCE_INDIRECT	0x13c
/* QEMU's private hcall that runs an RTAS call (hw/ppc/spapr_hcall.c). */
#define KVMPPC_H_RTAS		0xf000

#define RTAS_MAX_ARGS 8

/*
 * hcall() - Issue hypercall @opcode with @args[0..3] in r4..r7.
 * Return: r3 (the status); @args[0..3] get r4..r7 back.
 */
long hcall(uint64_t opcode, uint64_t args[4]);

/* The console: H_PUT_TERM_CHAR to the vty found in the device tree. */
void con_set_termno(uint64_t termno);
void con_puts(const char *s);
void con_putc(char c);
void con_hex(uint64_t v);	/* lower-case hex, no 0x */
void con_dec(int64_t v);
void con_flush(void);

/*
 * rtas_call() - An RTAS call through KVMPPC_H_RTAS.
 * @rets: @nret cells; rets[0] is the status.
 * Return: the status, or -9999 if the hcall itself failed.
 */
int rtas_call(uint32_t token, unsigned int nargs, const uint32_t *args, unsigned int nret,
	      uint32_t *rets);

/* The "power-off" RTAS token, from /rtas; 0 if unknown. */
extern uint32_t rtas_power_off_token;

/* Print "@@UCAP|FAIL|<why> <v>|@@" and power off. */
__attribute__((noreturn)) void fail(const char *why, uint64_t v);
__attribute__((noreturn)) void power_off(void);

/*
 * fdt_walk() - Call @fn for every property of the flattened device tree
 * at @fdt, with the node's full path ("/" for the root). Properties come
 * before the node's children. Return: 0, or -1 if @fdt is not a DTB.
 */
typedef void fdt_prop_fn(void *opaque, const char *path, const char *name, const void *data,
			 uint32_t len);
int fdt_walk(const void *fdt, fdt_prop_fn *fn, void *opaque);

/* Big-endian cells (the CPU is big-endian: plain loads, kept for clarity). */
static inline uint32_t be32_at(const void *p, unsigned int cell)
{
	const uint8_t *b = (const uint8_t *)p + 4 * cell;

	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
bool str_starts(const char *s, const char *prefix);
bool str_ends(const char *s, const char *suffix);
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);

/* The test (oracle.c), called by start.S: @fdt from r3. */
void payload_main(uint64_t fdt);
/* An unexpected interrupt (start.S): report and power off. */
__attribute__((noreturn)) void payload_exception(uint64_t vector, uint64_t srr0, uint64_t srr1,
						 uint64_t dar);

#endif /* UCAP_PAYLOAD_H */
