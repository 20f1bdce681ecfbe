/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Entry of the QEMU-oracle payload. QEMU's pseries machine loads the -bios
 * image at guest address 0 and starts the first vCPU at 0x100 (the system
 * reset vector) in real mode, big-endian, with the device tree's address in
 * r3, and with MSR[SF] clear: 32-bit mode, where compares see only the low
 * 32 bits of a register. The first thing done is to set MSR[SF]. The
 * interrupt vectors 0x200-0x1f00 all report the interrupt and power off:
 * the payload takes none on purpose.
 */
	.section .vectors, "ax"
	.globl	_vectors
_vectors:
	b	_start

	/* 0x200 ... 0x1f00: li r3,vector; b interrupt */
	.rept	0x1e
	.balign	0x100
	li	3, (. - _vectors) + 0x100
	b	interrupt
	.endr

	.text
interrupt:
	mfsrr0	4
	mfsrr1	5
	mfdar	6
	lis	1, exc_stack_top@ha
	addi	1, 1, exc_stack_top@l
	lis	12, payload_exception@ha
	addi	12, 12, payload_exception@l
	b	call_c

_start:
	mr	31, 3			/* the device tree */
	mfmsr	11			/* 64-bit mode: MSR[SF] (bit 0, IBM numbering) */
	li	12, 1
	rldicr	12, 12, 63, 0
	or	11, 11, 12
	mtmsrd	11
	isync
	/* clear .bss: 8 bytes at a time, it is 4 KiB aligned and sized */
	lis	7, __bss_start@ha
	addi	7, 7, __bss_start@l
	lis	8, __bss_end@ha
	addi	8, 8, __bss_end@l
	li	0, 0
1:	cmpld	7, 8
	bge	2f
	std	0, 0(7)
	addi	7, 7, 8
	b	1b
2:	lis	1, stack_top@ha
	addi	1, 1, stack_top@l
	mr	3, 31
	lis	12, payload_main@ha
	addi	12, 12, payload_main@l

/* Call the ELFv2 function at r12 with a fresh frame and the TOC in r2. */
call_c:
	li	0, 0
	stdu	0, -112(1)
	lis	2, .TOC.@ha
	addi	2, 2, .TOC.@l
	mtctr	12
	bctrl
3:	b	3b
